"""Faults, hostile input and load (bounded in size and time, loopback only)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from progress_admin.local.gateway import make_token
from progress_common import db as common_db
from progress_common.models import AttemptMessage
from progress_common.settings import get_settings, load_settings
from progress_common.writes import save_user_attempt_to_db
from progress_schema.database import migrate, start_embedded_postgres
from tests.events import (
    FakeLambdaContext,
    attempt_body,
    call,
    http_event,
    http_request,
    sqs_event,
    sqs_record,
)
from tests.helpers import assert_aggregates_match_rows

ROOT = Path(__file__).resolve().parent.parent


def _pg_ctl(server, *args: str) -> None:
    import pgserver

    pgserver.pg_ctl(list(args), pgdata=server.pgdata, user=server.system_user, timeout=30)


@pytest.fixture
def stoppable_database(tmp_path, engine):
    """A PostgreSQL of our own (embedded) that the test may stop and start; the shared engine points at it."""
    import pgserver

    url = start_embedded_postgres(tmp_path / "pgdata", cleanup_mode="delete")
    settings = load_settings({"DATABASE_URL": url})
    migrate(settings)
    own = common_db.make_engine(settings)
    previous = common_db.get_engine()
    common_db._engine = own
    server = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="delete")
    try:
        yield server, own
    finally:
        common_db._engine = previous
        own.dispose()
        if server.get_pid() is None:
            server.ensure_postgres_running()


def test_database_stops_mid_run_then_comes_back(stoppable_database, load_function) -> None:
    server, own = stoppable_database
    progress = load_function("get_progress").lambda_handler
    reset = load_function("reset_progress").lambda_handler
    consumer = load_function("record_attempts").lambda_handler
    claims = {"sub": "user_42"}
    assert consumer(
        sqs_event(*(sqs_record(attempt_body(user_id=42)) for _ in range(3))), FakeLambdaContext()
    ) == {"batchItemFailures": []}
    assert call(progress, http_event("GET", "/progress", claims=claims))[2]["total_attempts"] == 3

    _pg_ctl(server, "-w", "-m", "fast", "stop")
    try:
        for handler, method, path in ((progress, "GET", "/progress"), (reset, "POST", "/progress/reset")):
            status, headers, body = call(handler, http_event(method, path, claims=claims))
            assert status == 503, body
            assert headers["retry-after"] == str(get_settings().retry_after_seconds)
            assert body["error"]["code"] == "database_unavailable"
        batch = sqs_event(*(sqs_record(attempt_body(user_id=42), message_id=f"m{i}") for i in range(2)))
        result = consumer(batch, FakeLambdaContext())
        assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m0", "m1"]
    finally:
        server.ensure_postgres_running()

    # the same process, the same engine: the next request succeeds, and nothing was half-written
    status, _, body = call(progress, http_event("GET", "/progress", claims=claims))
    assert status == 200 and body["total_attempts"] == 3
    assert_aggregates_match_rows(own, 42)
    assert consumer(batch, FakeLambdaContext()) == {"batchItemFailures": []}
    assert call(progress, http_event("GET", "/progress", claims=claims))[2]["total_attempts"] == 5


def _get(url: str, token: str | None) -> tuple[int, bytes]:
    status, _, body = http_request(url, token=token)
    return status, body


def test_hostile_query_values_are_rejected_cleanly(live_server, db) -> None:
    token = make_token({"sub": "user_77"})
    hostile = [
        "1; DROP TABLE attempts",
        "' OR '1'='1",
        "\u0000",
        "%00",
        "日本語",
        "\u202e",
        "9" * 400,
        "-1",
        "1e309",
        "NaN",
        "[]",
        "{}",
        "0x10",
        "\r\nX-Injected: 1",
    ]
    for value in hostile:
        for path, name in (("/progress", "limit"), ("/progress", "cursor"), ("/progress/statistics", "days")):
            status, body = _get(f"{live_server}{path}?{urllib.parse.urlencode({name: value})}", token)
            assert status in (400, 422), (path, name, value, status, body[:200])
            assert set(json.loads(body)["error"]) >= {"code", "message"}
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attempts")).scalar_one() == 0


def test_schemathesis_finds_no_server_error_and_no_schema_break(live_server, db) -> None:
    """Property-based requests generated from the committed OpenAPI document, over real HTTP."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_path(str(ROOT / "docs/openapi.json"))
    token = make_token({"sub": "user_4242"})
    save_user_attempt_to_db(AttemptMessage.model_validate_json(attempt_body(user_id=4242)))
    failures: list[str] = []
    calls = 0
    for operation in schema.get_all_operations():
        op = operation.ok()

        @given(case=op.as_strategy())
        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=live_server, headers={"Authorization": f"Bearer {token}"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path} {case.query}: {response.status_code}")
            # every response matches the document: status listed, body in the documented shape
            case.validate_response(
                response,
                checks=[
                    schemathesis.checks.not_a_server_error,
                    schemathesis.checks.status_code_conformance,
                    schemathesis.checks.content_type_conformance,
                    schemathesis.checks.response_schema_conformance,
                ],
            )

        run()
    assert not failures
    assert calls >= 60


def test_many_users_reading_and_writing_at_once_keep_totals_right(live_server, db) -> None:
    users = [9_100 + i for i in range(8)]
    writers_per_user, writes_each = 2, 40
    engines = [common_db.make_engine(get_settings()) for _ in range(len(users) * writers_per_user)]
    errors: list[BaseException] = []
    stop = threading.Event()
    # each reader's own sequence: requests of one reader are ordered, two readers' are not
    readers_count = 2
    seen: dict[tuple[int, int], list[int]] = {(r, u): [] for r in range(readers_count) for u in users}

    def write(index: int) -> None:
        user = users[index % len(users)]
        try:
            for n in range(writes_each):
                save_user_attempt_to_db(
                    AttemptMessage(
                        attempt_uid=uuid.uuid4(),
                        user_id=user,
                        exercise_id=n % 7,
                        is_correct=n % 2 == 0,
                        user_answer="x",
                        created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=n * 5),
                        session_id=user * 100 + index,
                    ),
                    engine=engines[index],
                )
        except BaseException as exc:
            errors.append(exc)

    def read(reader: int) -> None:
        try:
            while not stop.is_set():
                for user in users:
                    status, body = _get(
                        f"{live_server}/progress/statistics?days=7", make_token({"sub": str(user)})
                    )
                    assert status == 200, body
                    data = json.loads(body)
                    assert data["correct_attempts"] <= data["total_attempts"]
                    assert sum(e["attempts"] for e in data["by_exercise"]) == data["total_attempts"]
                    seen[reader, user].append(data["total_attempts"])
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read, args=(r,)) for r in range(readers_count)]
    writers = [threading.Thread(target=write, args=(i,)) for i in range(len(engines))]
    started = time.monotonic()
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(60)
    stop.set()
    for t in readers:
        t.join(30)
    for e in engines:
        e.dispose()
    assert not errors, errors[:3]
    assert time.monotonic() - started < 60
    for (reader, user), totals in seen.items():
        assert totals, (reader, user)
        assert totals == sorted(totals), f"reader {reader} saw the total of {user} go backwards"
    for user in users:
        assert_aggregates_match_rows(db, user)
        status, body = _get(f"{live_server}/progress", make_token({"sub": str(user)}))
        assert status == 200 and json.loads(body)["total_attempts"] == writers_per_user * writes_each
