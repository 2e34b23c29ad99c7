"""Every container checks, on each new database connection, that the schema has the revision its code
needs: a database that is behind is a 503 `schema_outdated` (logged, counted), never a 500; the
consumer reports the batch failed; archival stops. Against a real database migrated to an old revision."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from progress_admin.scratch import ScratchDatabase, scratch_database
from progress_common import db as common_db
from progress_common import schema
from progress_common.errors import SchemaOutdatedError
from progress_common.settings import get_settings, load_settings
from progress_schema.database import alembic_config, migrate
from tests.events import FakeLambdaContext, call, http_event, sqs_event, sqs_record


def test_required_revision_is_alembics_head() -> None:
    # Whoever adds a migration bumps REQUIRED_SCHEMA_REVISION (and the template's SchemaRevision).
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == schema.REQUIRED_SCHEMA_REVISION


@pytest.mark.parametrize(
    ("current", "required", "behind"),
    [
        (None, "0003", True),
        ("0002", "0003", True),
        ("0003", "0003", False),
        ("0004", "0003", False),
        ("0010", "0009", False),
        ("0009", "0010", True),
        ("abc", "0003", True),
    ],
)
def test_is_behind(current: str | None, required: str, behind: bool) -> None:
    assert schema.is_behind(current, required) is behind


@contextmanager
def functions_on_database_at(
    revision: str | None, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ScratchDatabase]:
    """The functions' shared engine pointed at a new database migrated to `revision` (None: never)."""
    with scratch_database("progress_outdated") as database:
        monkeypatch.setenv("DATABASE_URL", database.url)
        get_settings.cache_clear()
        if revision is not None:
            migrate(load_settings(), revision)
        common_db._engine = None  # the next request builds the container's engine, as in Lambda
        try:
            yield database
        finally:
            common_db.dispose_engine()
            common_db._engine = engine
            monkeypatch.undo()
            get_settings.cache_clear()


@pytest.fixture
def old_database(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScratchDatabase]:
    """The functions' shared engine pointed at a database migrated to 0002 only."""
    with functions_on_database_at("0002", engine, monkeypatch) as database:
        yield database


def test_outdated_schema_is_a_503_logged_and_counted_then_recovers(
    old_database, load_function, captured_logs, caplog, capsys, monkeypatch
) -> None:
    handler = load_function("get_progress").lambda_handler
    checks: list[int] = []
    real_check = schema.check_schema_revision
    monkeypatch.setattr(schema, "check_schema_revision", lambda c: (checks.append(1), real_check(c))[1])

    with caplog.at_level(logging.WARNING, logger=schema.__name__):
        status, headers, body = call(handler, http_event("GET", "/progress", claims={"sub": "7"}))
    assert status == 503 and headers["retry-after"]
    assert body["error"]["code"] == "schema_outdated"
    assert "0002" not in json.dumps(body)  # the caller learns no internals
    # the operator reads both revisions: in the handler's error log and in the check's own warning
    required = schema.REQUIRED_SCHEMA_REVISION
    records = [json.loads(line) for line in captured_logs().splitlines()]
    assert [r["detail"] for r in records if r["message"] == "database schema is outdated"] == [
        f"the database schema is at revision 0002, this code needs {required}"
    ]
    assert [r.getMessage() for r in caplog.records if r.name == schema.__name__] == [
        f"database schema is at 0002, this code needs {required}"
    ]
    emitted = capsys.readouterr().out
    assert '"SchemaOutdated"' in emitted and '"DatabaseUnavailable"' in emitted

    # The stack's migration runs; the same container's next request connects afresh and is served.
    migrate(load_settings())
    for _ in range(3):
        status, _, body = call(handler, http_event("GET", "/progress", claims={"sub": "7"}))
        assert status == 200, body
    # Checked on each new connection (the failed one and the one that then served three requests),
    # never per request.
    assert len(checks) == 2


def test_outdated_schema_fails_every_message_of_a_batch(old_database, load_function, capsys) -> None:
    bodies = [
        json.dumps(
            {
                "attempt_uid": str(uuid.uuid4()),
                "user_id": 7,
                "exercise_id": 1,
                "is_correct": True,
                "user_answer": "a",
            }
        )
        for _ in range(3)
    ]
    records = [sqs_record(b) for b in bodies]
    response = load_function("record_attempts").lambda_handler(sqs_event(*records), FakeLambdaContext())
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {r["messageId"] for r in records}
    assert '"BatchesFailed"' in capsys.readouterr().out  # the metric the template's alarm watches


def test_outdated_schema_stops_archival(old_database, load_function) -> None:
    with pytest.raises(SchemaOutdatedError):
        load_function("archive_attempts").lambda_handler({}, FakeLambdaContext(timeout_seconds=60))


def test_a_database_ahead_of_the_code_is_served(db, load_function, monkeypatch) -> None:
    # A newer release migrated the database while this container still runs the previous code.
    monkeypatch.setattr(schema, "REQUIRED_SCHEMA_REVISION", "0002")
    common_db.get_engine().dispose()  # force a new connection, hence a new check
    status, _, _ = call(
        load_function("get_progress").lambda_handler, http_event("GET", "/progress", claims={"sub": "7"})
    )
    assert status == 200


def test_a_batch_with_one_bad_message_is_not_counted_as_failed(db, load_function, capsys) -> None:
    from tests.events import attempt_body

    records = [sqs_record(attempt_body()), sqs_record("{not json")]
    response = load_function("record_attempts").lambda_handler(sqs_event(*records), FakeLambdaContext())
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [records[1]["messageId"]]
    assert '"BatchesFailed"' not in capsys.readouterr().out


@pytest.fixture
def bare_connection(test_database: ScratchDatabase) -> Iterator[Any]:
    """A pg8000 connection to the (migrated) test database, as the pool's connect event receives it."""
    engine = common_db.make_engine(load_settings({"DATABASE_URL": test_database.url}), pool_size=1)
    pooled = engine.raw_connection()
    try:
        yield pooled.driver_connection
    finally:
        pooled.invalidate()
        engine.dispose()


def test_the_revision_to_check_can_be_given(bare_connection) -> None:
    schema.check_schema_revision(bare_connection)  # the code's own revision: the test database has it
    schema.check_schema_revision(bare_connection, "0002")
    with pytest.raises(SchemaOutdatedError, match=f"at revision {schema.REQUIRED_SCHEMA_REVISION}, .* 9999"):
        schema.check_schema_revision(bare_connection, "9999")


@pytest.mark.parametrize("autocommit", [False, True])
def test_the_check_leaves_no_transaction_open_and_the_connection_in_its_mode(
    engine, bare_connection, autocommit
) -> None:
    cursor = bare_connection.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    (pid,) = cursor.fetchone()
    bare_connection.autocommit = autocommit
    schema.check_schema_revision(bare_connection)
    # not "idle in transaction": the check ran without a BEGIN (no extra round trip, nothing held open)
    with engine.connect() as conn:
        state = conn.execute(text("SELECT state FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).scalar()
    assert state == "idle"
    # and the connection is back in its own mode: two statements share a transaction unless autocommit
    txids = []
    for _ in range(2):
        cursor.execute("SELECT txid_current()")
        txids.append(cursor.fetchone()[0])
    assert (txids[0] == txids[1]) is not autocommit
    cursor.close()


def test_an_error_other_than_a_missing_table_reaches_the_caller_unchanged(bare_connection) -> None:
    import pg8000.dbapi

    # e.g. the connection failed: the pool's connect event fails with the driver's own error, which the
    # handlers map to a 503 (transient), not a schema finding or an error of the check's own
    bare_connection.close()
    with pytest.raises(pg8000.dbapi.InterfaceError):
        schema.check_schema_revision(bare_connection)


def test_a_database_never_migrated_is_outdated_too(bare_connection, caplog) -> None:
    # No alembic_version table at all (here: not on the search path) reads as "no revision", not an error.
    cursor = bare_connection.cursor()
    cursor.execute("SET search_path TO pg_catalog")
    cursor.close()
    required = schema.REQUIRED_SCHEMA_REVISION
    with caplog.at_level(logging.WARNING, logger=schema.__name__), pytest.raises(SchemaOutdatedError) as info:
        schema.check_schema_revision(bare_connection)
    assert str(info.value) == f"the database schema is at revision none, this code needs {required}"
    assert [r.getMessage() for r in caplog.records if r.name == schema.__name__] == [
        f"database schema is at nothing, this code needs {required}"
    ]
