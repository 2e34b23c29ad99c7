"""Round trips to the database, counted at the wire by the loopback proxy of bench/wire.py (counts, not
times): one per GET and per reset on a warm container, and a connection that died while idle costs one
retry on a new connection, never a 5xx."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy import exc as sa_exc

from bench.wire import RoundTripProxy
from progress_common import db as common_db
from progress_common.db_url import url_from_database_url
from progress_common.settings import load_settings
from tests.conftest import insert_attempts_sql
from tests.events import call, http_event

ROUTES = {
    ("GET", "/progress"): "get_progress",
    ("GET", "/progress/statistics"): "get_statistics",
    ("GET", "/progress/streak/explain"): "get_statistics",
    ("POST", "/progress/reset"): "reset_progress",
    ("GET", "/progress/settings"): "settings",
    ("PUT", "/progress/settings"): "settings",
    ("POST", "/progress/freezes"): "grant_freezes",
    ("POST", "/progress/streak/repair"): "repair_streak",
}


@pytest.fixture
def proxy(test_database, db: Engine) -> Iterator[RoundTripProxy]:
    """A counting proxy in front of the test database; the functions' engine goes through it for the test,
    built as in Lambda: one connection, the schema revision checked on each new connection."""
    url = url_from_database_url(test_database.url)
    with RoundTripProxy.for_url(url) as wire:
        settings = load_settings({"DATABASE_URL": wire.url(url).render_as_string(hide_password=False)})
        common_db.set_engine(common_db.make_engine(settings, pool_size=1, check_schema=True))
        try:
            yield wire
        finally:
            common_db.set_engine(db)


@pytest.fixture
def api(load_function) -> Callable[..., tuple[int, dict[str, str], Any]]:
    def invoke(
        method: str, path: str, user: int, query: dict[str, str] | None = None, body: str | None = None
    ):
        handler = load_function(ROUTES[(method, path)]).lambda_handler
        # the grant scope too: the learners' routes ignore it, the backend's grant needs it
        claims = {"sub": str(user), "scope": "progress/grant"}
        return call(handler, http_event(method, path, claims=claims, query=query, body=body))

    return invoke


def seed(db: Engine, user: int, count: int = 30) -> None:
    now = dt.datetime.now(dt.UTC)
    insert_attempts_sql(
        db,
        [
            {
                "user_id": user,
                "exercise_id": i % 4,
                "is_correct": i % 3 > 0,
                "created_at": now - dt.timedelta(hours=5 * i),
            }
            for i in range(count)
        ],
    )


def backend_pid(engine: Engine) -> int:
    """The server process behind the engine's single pooled connection."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def terminate(db: Engine, pid: int) -> None:
    with db.connect() as conn:
        # waits (up to 5 s) until the backend has exited
        assert conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar_one()


def test_each_get_and_reset_is_one_round_trip_on_a_warm_container(proxy, api, db, new_user_id) -> None:
    user = new_user_id()
    seed(db, user)
    status, _, first_page = api("GET", "/progress", user, {"limit": "5"})  # cold: connects
    assert status == 200 and first_page["next_cursor"]
    requests: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", "/progress", None),
        ("GET", "/progress", {"limit": "5", "cursor": first_page["next_cursor"]}),
        ("GET", "/progress/statistics", None),
        ("GET", "/progress/statistics", {"days": "366"}),
        ("GET", "/progress/streak/explain", None),
        ("GET", "/progress/streak/explain", {"from": "2025-01-01", "to": "2026-01-01"}),
        ("POST", "/progress/reset", None),
        ("POST", "/progress/reset", None),  # the second one finds nothing
    ]
    seen = []
    for method, path, query in requests:
        with proxy.measure() as trips:
            status, _, body = api(method, path, user, query)
        assert status == 200, body
        seen.append((method, path, trips.round_trips, trips.connections))
    assert seen == [(method, path, 1, 0) for method, path, _ in requests]
    assert body["deleted"] == {
        "attempts": 0,
        "archived_attempts": 0,
        "sessions": 0,
        "exports": 0,
        "live_connections": 0,
    }


def test_each_streak_request_is_one_round_trip_on_a_warm_container(proxy, api, db, new_user_id) -> None:
    """Settings, grants and repair write their values into the statement (the grant's key and the settings
    hex-encoded, sqltext.JsonDocument): one simple Query each, answered or refused (409) alike."""
    user = new_user_id()
    now = dt.datetime.now(dt.UTC)
    insert_attempts_sql(
        db,
        [
            {
                "user_id": user,
                "exercise_id": 1,
                "is_correct": True,
                "created_at": now - dt.timedelta(days=days),
            }
            for days in (5, 4)
        ],
    )
    assert api("GET", "/progress", user)[0] == 200  # cold: connects
    grant = json.dumps({"user_id": user, "key": "Grant 'key' with quotes; -- é", "count": 1})
    requests: list[tuple[str, str, str | None, int]] = [
        ("GET", "/progress/settings", None, 200),
        ("PUT", "/progress/settings", '{"rest_weekdays": ["sat", "sun"], "daily_goal": null}', 200),
        ("PUT", "/progress/settings", '{"daily_goal": {"unit": "correct", "target": 12}}', 200),
        ("POST", "/progress/freezes", grant, 200),
        ("POST", "/progress/freezes", grant, 200),  # the repeat
        ("POST", "/progress/streak/repair", None, 409),  # the gap's attempts are not done
    ]
    seen = []
    for method, path, body, expected in requests:
        with proxy.measure() as trips:
            status, _, answer = api(method, path, user, body=body)
        assert status == expected, answer
        seen.append((method, path, trips.round_trips, trips.connections))
    assert seen == [(method, path, 1, 0) for method, path, _, _ in requests]
    with db.connect() as conn:
        assert conn.execute(
            text("SELECT grant_key FROM freeze_grants WHERE user_id = :u"), {"u": user}
        ).scalar_one() == ("Grant 'key' with quotes; -- é")


@pytest.mark.parametrize("death", ["backend terminated", "connection reset", "reset when next used"])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/progress"), ("GET", "/progress/statistics"), ("POST", "/progress/reset")]
)
def test_a_connection_that_died_while_idle_costs_one_retry_and_no_5xx(
    proxy, api, db, new_user_id, caplog, death, method, path
) -> None:
    user = new_user_id()
    seed(db, user, count=12)
    assert api("GET", "/progress", user)[0] == 200  # warm: the one pooled connection has served
    pid = backend_pid(common_db.get_engine())
    if death == "backend terminated":
        terminate(
            db, pid
        )  # as a server restart, failover or idle timeout would, while the container is frozen
    elif death == "connection reset":
        assert proxy.drop_connections() == 1  # as a network that forgot the connection would
    else:
        assert proxy.reset_on_next_send() == 1  # seen only once the request has gone out
    caplog.set_level(logging.WARNING, logger="progress_common.db")
    with proxy.measure() as trips:
        status, _, body = api(method, path, user)
    assert status == 200, body
    assert trips.connections == 1  # exactly one new connection: one retry
    assert "died while idle" in caplog.text
    # the expected case says so once, as a warning: no ERROR with a traceback from the pool beside it
    assert [(r.name, r.levelname) for r in caplog.records if r.levelno >= logging.WARNING] == [
        ("progress_common.db", "WARNING")
    ]
    if path == "/progress/reset":
        # the dead connection never reached a backend: the retried reset is the only one that ran
        assert body["deleted"] == {
            "attempts": 12,
            "archived_attempts": 0,
            "sessions": 0,
            "exports": 0,
            "live_connections": 0,
        }
    else:
        assert body["total_attempts"] == 12
    with proxy.measure() as trips:
        assert api(method, path, user)[0] == 200
    assert (trips.round_trips, trips.connections) == (1, 0)
    assert backend_pid(common_db.get_engine()) != pid


def test_a_failure_to_close_a_connection_that_is_not_a_dead_peer_stays_an_error(proxy, caplog) -> None:
    engine = common_db.get_engine()  # made by make_engine, as in Lambda
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        conn.connection.dbapi_connection.close()  # a bug: closed behind the pool's back
        conn.invalidate()  # the pool closes it again: pg8000 says "connection is closed"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [(r.name.split(".")[:2], r.getMessage().split(" <")[0]) for r in errors] == [
        (["sqlalchemy", "pool"], "Exception terminating connection")
    ]
    assert errors[0].exc_info and "connection is closed" in str(errors[0].exc_info[1])


KILL_OWN_BACKEND = "SELECT pg_terminate_backend(pg_backend_pid())"


def test_a_statement_failing_on_a_new_connection_is_not_retried(proxy) -> None:
    engine = common_db.get_engine()
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with proxy.measure() as trips, pytest.raises(sa_exc.DBAPIError) as failure:
        common_db.run_idempotent(KILL_OWN_BACKEND, engine=engine)
    assert failure.value.connection_invalidated
    assert statements.count(KILL_OWN_BACKEND) == 1 and trips.connections == 1


def test_a_pooled_connection_is_retried_once_and_never_more(proxy) -> None:
    engine = common_db.get_engine()
    assert common_db.run_idempotent("SELECT 1", engine=engine)[0][0] == 1
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with proxy.measure() as trips, pytest.raises(sa_exc.DBAPIError):
        common_db.run_idempotent(KILL_OWN_BACKEND, engine=engine)
    # the first run killed the idle-pooled connection: one retry on a new one, which fails too and is raised
    assert statements.count(KILL_OWN_BACKEND) == 2 and trips.connections == 1
    assert common_db.run_idempotent("SELECT 2", engine=engine)[0][0] == 2


def test_statements_with_values_in_their_text_are_simple_queries_at_the_wire(proxy) -> None:
    """What the service relies on: pg8000 sends a statement without parameters as one simple Query (one
    round trip), one with parameters as Parse/Describe/Bind-Execute (three)."""
    engine = common_db.get_engine()
    common_db.run_idempotent("SELECT 1", engine=engine)
    with proxy.measure() as simple:
        common_db.run_idempotent("SELECT CAST(42 AS bigint)", engine=engine)
    with proxy.measure() as bound, engine.connect() as conn:
        conn.execute(text("SELECT CAST(:v AS bigint)"), {"v": 42}).scalar_one()
    assert (simple.round_trips, bound.round_trips) == (1, 3)


def attempts_of_consumer_users(db: Engine, user_base: int) -> int:
    """Attempts stored for the learners bench.consumer.attempt_bodies spreads a batch over."""
    from bench.consumer import USERS_PER_CONSUMER

    with db.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM attempts"
                    " WHERE user_id >= CAST(:u AS bigint) AND user_id < CAST(:end AS bigint)"
                ),
                {"u": user_base, "end": user_base + USERS_PER_CONSUMER},
            ).scalar_one()
        )


def test_a_valid_sqs_batch_is_one_statement_at_the_wire(proxy, load_function, db, new_user_id) -> None:
    """Whatever its size, a batch whose messages are all valid is one statement: with a bound parameter
    (the batch as JSON, user text included), so pg8000's three round trips (Parse, Describe, Bind/Execute)."""
    from bench.consumer import attempt_bodies
    from progress_admin.local.events import sqs_batch_event
    from tests.events import FakeLambdaContext

    handler = load_function("record_attempts").lambda_handler
    engine = common_db.get_engine()
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    user = new_user_id()
    assert (
        handler(sqs_batch_event(attempt_bodies(2, user)), FakeLambdaContext())["batchItemFailures"] == []
    )  # warm
    for size in (10, 100):
        statements.clear()
        with proxy.measure() as trips:
            result = handler(sqs_batch_event(attempt_bodies(size, user)), FakeLambdaContext())
        assert result["batchItemFailures"] == []
        assert (len(statements), trips.round_trips, trips.connections) == (1, 3, 0), size
    assert attempts_of_consumer_users(db, user) == 112


@pytest.mark.parametrize("death", ["backend terminated", "reset when next used"])
def test_an_sqs_batch_after_a_connection_died_while_idle_costs_one_retry_and_no_failure(
    proxy, load_function, db, new_user_id, caplog, death
) -> None:
    """A batch is idempotent by attempt_uid, so it is retried once like the reads: a thawed container whose
    pooled connection died does not fail a whole batch back to SQS."""
    from bench.consumer import attempt_bodies
    from progress_admin.local.events import sqs_batch_event
    from tests.events import FakeLambdaContext

    handler = load_function("record_attempts").lambda_handler
    user = new_user_id()
    assert (
        handler(sqs_batch_event(attempt_bodies(2, user)), FakeLambdaContext())["batchItemFailures"] == []
    )  # warm
    pid = backend_pid(common_db.get_engine())
    if death == "backend terminated":
        terminate(db, pid)
    else:
        assert proxy.reset_on_next_send() == 1
    caplog.set_level(logging.WARNING, logger="progress_common.db")
    with proxy.measure() as trips:
        result = handler(sqs_batch_event(attempt_bodies(10, user)), FakeLambdaContext())
    assert result["batchItemFailures"] == []
    assert trips.connections == 1  # exactly one new connection: one retry
    assert "died while idle" in caplog.text
    assert attempts_of_consumer_users(db, user) == 12


def test_the_proxy_counts_ready_for_query_messages_however_the_stream_is_cut() -> None:
    from bench.wire import _Link

    def message(kind: bytes, body: bytes) -> bytes:
        return kind + (len(body) + 4).to_bytes(4, "big") + body

    # a simple query's reply with a 'Z' inside a row's text, then a parameterized statement's three replies
    stream = (
        message(b"T", b"\x00\x01x\x00" + bytes(18))
        + message(b"D", b"\x00\x01\x00\x00\x00\x01Z")
        + message(b"C", b"SELECT 1\x00")
        + message(b"Z", b"I")
        + message(b"1", b"")
        + message(b"Z", b"I")
        + message(b"t", b"\x00\x00")
        + message(b"n", b"")
        + message(b"Z", b"I")
        + message(b"2", b"")
        + message(b"C", b"SELECT 0\x00")
        + message(b"Z", b"I")
    )
    for cut in range(len(stream) + 1):
        for second_cut in (cut, min(len(stream), cut + 3)):
            link = _Link(None, None, None)  # type: ignore[arg-type]
            pieces = (stream[:cut], stream[cut:second_cut], stream[second_cut:])
            assert sum(link._replies_in(piece) for piece in pieces) == 4, (cut, second_cut)
    link = _Link(None, None, None)  # type: ignore[arg-type]
    link._first_client_bytes = False
    link._encryption_answer_due = True  # the client asked for TLS; the server declined with 'N'
    assert link._replies_in(b"N" + message(b"R", bytes(4)) + message(b"Z", b"I")) == 1


def test_a_new_connection_costs_its_startup_one_schema_check_and_the_statement(
    proxy, api, db, new_user_id
) -> None:
    # A container's connection is new (first request, or the old one died): the startup exchange, the
    # schema check (one simple query, no BEGIN around it), then the request's statement; and what the
    # statement wrote is committed, not left in a transaction the check opened.
    user = new_user_id()
    assert api("GET", "/progress", user)[0] == 200  # the engine's first connection also learns the server
    common_db.get_engine().dispose()
    seed(db, user, count=3)
    with proxy.measure() as trips:
        status, _, body = api("POST", "/progress/reset", user)
    assert status == 200 and body["deleted"]["attempts"] == 3
    assert (trips.connections, trips.round_trips) == (1, 3)
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM attempts WHERE user_id = :u"), {"u": user}).scalar() == 0
        )


def test_the_live_functions_retry_once_on_a_connection_that_died_while_idle(
    proxy, load_function, db, new_user_id
) -> None:
    """POST /progress/live-ticket, $connect and $disconnect follow the GETs' rule: a pooled connection that
    died while the container was frozen costs one new connection, never a 503 or a refused WebSocket."""

    from progress_admin.local.events import websocket_event
    from progress_common.settings import LiveSettings, get_live_settings, set_live_settings
    from tests.events import FakeLambdaContext

    user = new_user_id()
    previous = get_live_settings()
    set_live_settings(LiveSettings(live_websocket_url="wss://example.invalid/live"))
    try:
        ticket_handler = load_function("live_ticket").lambda_handler
        ticket_event = http_event("POST", "/progress/live-ticket", claims={"sub": str(user)})
        assert call(ticket_handler, ticket_event)[0] == 200  # warm: the pooled connection has served
        outcomes = []
        for step in ("ticket", "connect", "disconnect"):
            terminate(db, backend_pid(common_db.get_engine()))
            with proxy.measure() as trips:
                if step == "ticket":
                    status, _, body = call(ticket_handler, ticket_event)
                    ticket = body["ticket"]
                elif step == "connect":
                    event_ = websocket_event("$connect", "conn-1", domain="x", query={"ticket": ticket})
                    status = load_function("live_connect").lambda_handler(event_, FakeLambdaContext())[
                        "statusCode"
                    ]
                else:
                    event_ = websocket_event("$disconnect", "conn-1", domain="x", disconnect_status=1001)
                    status = load_function("live_disconnect").lambda_handler(event_, FakeLambdaContext())[
                        "statusCode"
                    ]
            outcomes.append((step, status, trips.connections))
        assert outcomes == [("ticket", 200, 1), ("connect", 200, 1), ("disconnect", 200, 1)]
        with db.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM live_connections WHERE user_id = :u"), {"u": user}
                ).scalar_one()
                == 0
            )
    finally:
        set_live_settings(previous)


def test_export_requests_are_one_round_trip_each_on_a_warm_container(
    proxy, aws, load_function, db, new_user_id
):
    """POST /progress/export: one statement (and the queue's message); GET /progress/export/{id}: one, also
    when it signs the download link."""
    user = new_user_id()
    seed(db, user, count=3)
    claims = {"sub": str(user)}
    request = load_function("request_export").lambda_handler
    status = load_function("get_export").lambda_handler
    call(
        load_function("get_progress").lambda_handler, http_event("GET", "/progress", claims=claims)
    )  # connects
    with proxy.measure() as trips:
        code, _, started = call(request, http_event("POST", "/progress/export", claims=claims))
    assert code == 202 and (trips.round_trips, trips.connections) == (1, 0)
    path = f"/progress/export/{started['export_id']}"
    with db.connect() as conn:  # the worker's part, done beside the proxy
        conn.execute(
            text(
                "UPDATE exports SET status = 'ready', object_key = :key, finished_at = now() WHERE user_id = :u"
            ),
            {"key": f"users/{user}/{started['export_id']}/{started['export_id']}.jsonl.gz", "u": user},
        )
    with proxy.measure() as trips:
        code, _, ready = call(status, http_event("GET", path, claims=claims))
    assert code == 200 and ready["download_url"] and (trips.round_trips, trips.connections) == (1, 0)
