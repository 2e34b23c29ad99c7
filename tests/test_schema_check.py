"""Every container checks, on each new database connection, that the schema has the revision its code
needs: a database that is behind is a 503 `schema_outdated` (logged, counted), never a 500; the
consumer reports the batch failed; archival stops. Against a real database migrated to an old revision."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from progress_admin.database import alembic_config, migrate
from progress_admin.scratch import ScratchDatabase, scratch_database
from progress_common import db as common_db
from progress_common import schema
from progress_common.errors import SchemaOutdatedError
from progress_common.settings import get_settings, load_settings
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


@pytest.fixture
def old_database(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScratchDatabase]:
    """The functions' shared engine pointed at a database migrated to 0002 only."""
    with scratch_database("progress_outdated") as database:
        monkeypatch.setenv("DATABASE_URL", database.url)
        get_settings.cache_clear()
        migrate(load_settings(), "0002")
        common_db._engine = None  # the next request builds the container's engine, as in Lambda
        try:
            yield database
        finally:
            common_db.dispose_engine()
            common_db._engine = engine
            monkeypatch.undo()
            get_settings.cache_clear()


def test_outdated_schema_is_a_503_logged_and_counted_then_recovers(
    old_database, load_function, captured_logs, capsys, monkeypatch
) -> None:
    handler = load_function("get_progress").lambda_handler
    checks: list[int] = []
    real_check = schema.check_schema_revision
    monkeypatch.setattr(schema, "check_schema_revision", lambda c: (checks.append(1), real_check(c))[1])

    status, headers, body = call(handler, http_event("GET", "/progress", claims={"sub": "7"}))
    assert status == 503 and headers["retry-after"]
    assert body["error"]["code"] == "schema_outdated"
    assert "0002" not in json.dumps(body)  # the caller learns no internals
    logs = captured_logs()
    assert (
        "database schema is outdated" in logs and "0002" in logs and schema.REQUIRED_SCHEMA_REVISION in logs
    )
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
