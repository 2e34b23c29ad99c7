"""Every transient database failure is a 503 with Retry-After, fast; the consumer fails the batch's
messages; archival stops cleanly. Real PostgreSQL behind loopback listeners and proxies."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from progress_admin.local.template import http_routes, load_template
from progress_common import db as common_db
from progress_common.archive import archive_old_attempts
from progress_common.db_url import url_from_database_url
from progress_common.errors import DatabaseUnavailableError
from progress_common.settings import get_settings, load_settings
from tests.conftest import TABLES, insert_attempts_sql
from tests.events import (
    ERASE_SCOPE_CLAIM,
    FakeLambdaContext,
    attempt_body,
    call,
    http_event,
    sample_body,
    sample_path,
    sqs_event,
    sqs_record,
)
from tests.faults import CuttingProxy, silent_server

pytestmark = pytest.mark.slow

TIMEOUT_SECONDS = 1.0
FAULTS = ["refused", "silent", "reset_mid_statement", "too_many_connections", "statement_timeout"]


def _engine_for(url: str, **overrides: str) -> Engine:
    settings = load_settings(
        {"DATABASE_URL": url, "DB_CONNECT_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS), **overrides}
    )
    return common_db.make_engine(settings)


@pytest.fixture
def faulty(request, db, test_database) -> Iterator[Callable[[], None]]:
    """The shared engine replaced by one that meets the fault named by the parameter."""
    fault: str = request.param
    cleanup = []
    if fault == "refused":
        with silent_server() as port:
            pass  # the port is closed again: nothing listens there now
        engine = _engine_for(f"postgresql://root@127.0.0.1:{port}/test")
    elif fault == "silent":
        server = silent_server()
        port = server.__enter__()
        cleanup.append(lambda: server.__exit__(None, None, None))
        engine = _engine_for(f"postgresql://root@127.0.0.1:{port}/test")
    elif fault == "reset_mid_statement":
        proxy = CuttingProxy(test_database.url)
        proxy.cut_marker = b"progress_"
        cleanup.append(proxy.close)
        engine = _engine_for(proxy.url_for(test_database.url))
    elif fault == "too_many_connections":
        role = f"progress_full_{secrets.token_hex(4)}"
        with db.connect() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0"))

        def drop_role() -> None:
            with db.connect() as conn:
                conn.execute(text(f"DROP ROLE {role}"))

        cleanup.append(drop_role)
        url = url_from_database_url(test_database.url).set(username=role, password=None)
        engine = _engine_for(url.render_as_string(hide_password=False))
    else:  # statement_timeout: every table locked by another transaction, a short statement timeout
        locker = common_db.make_engine(get_settings(), autocommit=False)
        blocker = locker.connect()
        blocker.execute(text(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE"))

        def release() -> None:
            blocker.rollback()
            blocker.close()
            locker.dispose()

        cleanup.append(release)
        engine = _engine_for(test_database.url, DB_STATEMENT_TIMEOUT_MS="200")
    previous = common_db._engine
    common_db._engine = engine

    def end() -> None:
        """Back to the healthy database (idempotent)."""
        common_db._engine = previous
        engine.dispose()
        while cleanup:
            cleanup.pop()()

    try:
        yield end
    finally:
        end()


# every HttpApi route of template.yaml (the live ticket's too), as (function folder, method, path)
ROUTES = [
    (r.code_dir.name, r.method, r.path)
    for r in http_routes(load_template(Path(__file__).resolve().parent.parent / "template.yaml"))
]


@pytest.mark.parametrize("faulty", FAULTS, indirect=True)
def test_every_transient_failure_is_a_fast_503_with_retry_after(faulty, load_function, aws) -> None:
    for function, method, path in ROUTES:
        started = time.monotonic()
        event = http_event(
            method,
            sample_path(path),
            claims={"sub": "user_5", **ERASE_SCOPE_CLAIM},
            body=sample_body(method, path),
        )
        status, headers, body = call(load_function(function).lambda_handler, event)
        elapsed = time.monotonic() - started
        assert status == 503, (function, body)
        assert headers["retry-after"] == str(get_settings().retry_after_seconds)
        assert body["error"]["code"] == "database_unavailable"
        assert elapsed < 2 * TIMEOUT_SECONDS + 1, (function, elapsed)


@pytest.mark.parametrize("faulty", FAULTS, indirect=True)
def test_the_consumer_fails_every_valid_message_of_the_batch_and_fast(faulty, load_function, db) -> None:
    handler = load_function("record_attempts").lambda_handler
    records = [sqs_record(attempt_body(user_id=9_300 + i), message_id=f"m{i}") for i in range(5)]
    records.append(sqs_record("{not json", message_id="poison"))
    started = time.monotonic()
    result = handler(sqs_event(*records), FakeLambdaContext())
    elapsed = time.monotonic() - started
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(
        [f"m{i}" for i in range(5)] + ["poison"]
    )
    # one timeout for the whole batch, not one per message
    assert elapsed < 2 * TIMEOUT_SECONDS + 1, elapsed
    faulty()
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attempts")).scalar_one() == 0


@pytest.mark.parametrize("faulty", FAULTS, indirect=True)
def test_archival_stops_with_a_typed_error(faulty, load_function, captured_logs) -> None:
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError):
        archive_old_attempts(retention_days=365, batch_size=10)
    assert time.monotonic() - started < 2 * TIMEOUT_SECONDS + 1
    # the scheduled function says so and fails the invocation, so the asynchronous retries carry on
    with pytest.raises(DatabaseUnavailableError):
        load_function("archive_attempts").lambda_handler({}, FakeLambdaContext())
    assert "archival run interrupted: database unavailable" in captured_logs()


def test_archival_cut_mid_run_reports_what_it_moved_and_loses_nothing(db, test_database, new_user_id) -> None:
    user = new_user_id()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    insert_attempts_sql(
        db,
        [
            {
                "user_id": user,
                "exercise_id": 1,
                "is_correct": True,
                "created_at": old + dt.timedelta(minutes=i),
            }
            for i in range(50)
        ],
    )
    proxy = CuttingProxy(test_database.url)
    proxy.cut_marker, proxy.spare = b"SELECT progress_archive", 2
    engine = _engine_for(proxy.url_for(test_database.url))
    try:
        with pytest.raises(DatabaseUnavailableError) as raised:
            archive_old_attempts(retention_days=365, batch_size=10, engine=engine)
    finally:
        engine.dispose()
        proxy.close()
    assert proxy.cuts == 1
    assert (raised.value.moved, raised.value.batches) == (20, 2)  # type: ignore[attr-defined]
    assert str(raised.value) == "the database became unavailable after 2 batches (20 attempts moved)"
    with db.connect() as conn:
        live, archived = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM attempts WHERE user_id = :u),"
                " (SELECT count(*) FROM attempts_archive WHERE user_id = :u)"
            ),
            {"u": user},
        ).one()
    assert (live, archived) == (30, 20)
    assert archive_old_attempts(retention_days=365, batch_size=10, engine=db).moved == 30


def test_a_silent_database_is_a_503_within_five_seconds_with_the_default_settings(db, load_function) -> None:
    """DESIGN "In AWS": a silent dependency is a 503 within 5 s, with the settings the functions deploy with."""
    with silent_server() as port:
        settings = load_settings({"DATABASE_URL": f"postgresql://root@127.0.0.1:{port}/test"})
        previous, common_db._engine = common_db._engine, common_db.make_engine(settings)
        try:
            started = time.monotonic()
            status, headers, body = call(
                load_function("get_progress").lambda_handler,
                http_event("GET", "/progress", claims={"sub": "user_5"}),
            )
            elapsed = time.monotonic() - started
        finally:
            common_db._engine.dispose()
            common_db._engine = previous
    assert (status, body["error"]["code"]) == (503, "database_unavailable")
    assert "retry-after" in headers
    assert elapsed < 5, elapsed
