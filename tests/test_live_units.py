"""Live updates, function by function, fast (no WebSocket server): the $connect/$disconnect functions with
real API Gateway WebSocket events, tickets in the real database, and the push after a batch through a real
boto3 client to a loopback stand-in of the API Gateway management API (`/@connections/{id}`).

tests/test_live.py runs the whole loop over real sockets (slow); this module is what runs against mutants.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from sqlalchemy import Engine, create_engine, event, text

from progress_admin.local.events import websocket_event
from progress_admin.local.live import LOCAL_AWS_ENVIRONMENT
from progress_common import db as common_db
from progress_common import live_connections, live_management, live_push, live_tickets
from progress_common.errors import ConfigurationError
from progress_common.live_connections import MAX_CONNECTIONS_PER_USER, bind_connection, forget_connections
from progress_common.live_management import close_connections, reset_push_state
from progress_common.live_push import PushReport, push_after_batch, push_progress
from progress_common.live_tickets import TICKET_TTL_SECONDS, issue_ticket
from progress_common.observability import logger as service_logger
from progress_common.observability import metrics
from progress_common.settings import LiveSettings, get_live_settings, get_settings, set_live_settings
from tests.events import FakeLambdaContext, attempt_body, sqs_event, sqs_record

# --- a stand-in of the API Gateway management API on loopback ------------------------------------------


class ManagementStandIn:
    """`POST|DELETE /{stage}/@connections/{id}` as API Gateway answers them; `answers` picks, per connection
    id, another answer than success: "gone" (410 GoneException), "forbidden" (403), "error" (500) or a
    number of seconds to wait before answering 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.answers: dict[str, Any] = {}
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                connection_id = unquote(self.path.partition("/@connections/")[2])
                signed = (self.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 ")
                with stand_in.lock:
                    stand_in.requests.append((self.command, connection_id, body))
                    answer = stand_in.answers.get(connection_id)
                if isinstance(answer, int | float):
                    time.sleep(answer)
                    answer = None
                status, error_type = {
                    "gone": (410, "GoneException"),
                    "forbidden": (403, "ForbiddenException"),
                    "error": (500, "InternalServerErrorException"),
                }.get(answer, (200 if self.command == "POST" else 204, None))
                if not signed:
                    status, error_type = 403, "ForbiddenException"
                payload = json.dumps({"message": error_type}).encode() if error_type else b""
                self.send_response(status)
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # boto3 keeps its connections open: do not wait for them
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/live"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def calls(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [cid for m, cid, _ in self.requests if method is None or m == method]

    def bodies(self) -> dict[str, bytes]:
        with self.lock:
            return {cid: body for m, cid, body in self.requests if m == "POST"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def _management() -> Iterator[ManagementStandIn]:
    stand_in = ManagementStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture
def management(
    _management: ManagementStandIn, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ManagementStandIn]:
    """The stand-in, emptied, with the live settings pointing at it and credentials to sign with."""
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with _management.lock:
        _management.requests.clear()
        _management.answers.clear()
    with live_settings(live_management_endpoint=_management.endpoint):
        yield _management


@pytest.fixture(autouse=True)
def _fresh_push_state() -> Iterator[None]:
    reset_push_state()
    metrics.clear_metrics()
    yield
    reset_push_state()
    metrics.clear_metrics()


@contextmanager
def live_settings(**changes: Any) -> Iterator[None]:
    previous = get_live_settings()
    set_live_settings(LiveSettings(**{**previous.model_dump(), **changes}))
    try:
        yield
    finally:
        set_live_settings(previous)


@pytest.fixture
def info_logs(captured_logs: Callable[[], str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The service's log records of this test, INFO and above, as dicts."""
    level = service_logger.log_level
    service_logger.setLevel("INFO")

    def records() -> list[dict[str, Any]]:
        return [json.loads(line) for line in captured_logs().splitlines() if line.startswith("{")]

    yield records
    service_logger.setLevel(level)


def logged(records: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("message") == message]


def emitted(capsys: pytest.CaptureFixture[str], *, flush: bool = False) -> dict[str, list[float]]:
    """The metrics written as EMF lines (by a handler, or flushed here), name -> values."""
    if flush:
        metrics.flush_metrics()
    values: dict[str, list[float]] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith('{"_aws"'):
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                if definition["Name"].startswith(("Live", "DatabaseUnavailable")):
                    assert definition["Unit"] == "Count", definition  # what alarms and dashboards sum
                value = document[definition["Name"]]
                values.setdefault(definition["Name"], []).extend(
                    value if isinstance(value, list) else [value]
                )
    return values


def connections(db: Engine, user: int) -> list[str]:
    with db.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT connection_id FROM live_connections WHERE user_id = :u"
                    " ORDER BY connected_at, connection_id"
                ),
                {"u": user},
            ).scalars()
        )


def add_connections(db: Engine, user: int, ids: list[str]) -> None:
    """Open connections of a user, the first the oldest (a second apart)."""
    with db.connect() as conn:
        for age, connection_id in enumerate(reversed(ids), start=1):
            conn.execute(
                text(
                    "INSERT INTO live_connections (connection_id, user_id, connected_at)"
                    " VALUES (:c, :u, now() - make_interval(secs => :age))"
                ),
                {"c": connection_id, "u": user, "age": age},
            )


class FakeClock:
    """live.py's view of time.monotonic, movable by tests (the real one plus an offset)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    for module in (live_management, live_push):  # the pause is kept by one, read by the other
        monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


# --- POST /progress/live-ticket: the ticket ----------------------------------------------------------------


def test_a_ticket_is_256_random_bits_stored_as_its_hash_and_valid_sixty_seconds(db, new_user_id) -> None:
    user = new_user_id()
    before = dt.datetime.now(dt.UTC)
    issued = issue_ticket(user)
    after = dt.datetime.now(dt.UTC)
    assert len(base64.urlsafe_b64decode(issued.ticket + "=")) == 32
    assert len(issued.ticket) <= live_tickets.MAX_TICKET_LENGTH
    assert issued.url == f"{get_live_settings().live_websocket_url}?ticket={issued.ticket}"
    assert parse_qs(urlsplit(issued.url).query) == {"ticket": [issued.ticket]}
    ttl = dt.timedelta(seconds=TICKET_TTL_SECONDS)
    assert (
        before + ttl - dt.timedelta(seconds=1) <= issued.expires_at <= after + ttl + dt.timedelta(seconds=1)
    )
    with db.connect() as conn:
        stored = conn.execute(text("SELECT ticket_hash, user_id, expires_at FROM live_tickets")).one()
    assert bytes(stored.ticket_hash) == hashlib.sha256(issued.ticket.encode()).digest()
    assert stored.user_id == user and stored.expires_at == issued.expires_at
    assert issue_ticket(user).ticket != issued.ticket


def test_a_ticket_url_escapes_nothing_it_need_not_and_without_a_websocket_url_no_ticket(
    db, new_user_id
) -> None:
    with live_settings(live_websocket_url="wss://example.test/live"):
        issued = issue_ticket(new_user_id())
        assert issued.url.startswith("wss://example.test/live?ticket=")
    with (
        live_settings(live_websocket_url=None),
        pytest.raises(ConfigurationError, match=r"^LIVE_WEBSOCKET_URL is not set$"),
    ):
        issue_ticket(new_user_id())
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM live_tickets")).scalar_one() == 1


def test_issuing_a_ticket_cleans_up_a_bounded_number_of_expired_tickets_and_stale_connections(
    db, new_user_id
) -> None:
    user = new_user_id()
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO live_tickets (ticket_hash, user_id, expires_at)"
                " SELECT sha256(n::text::bytea), :u, now() - interval '1 second'"
                " FROM generate_series(1, :n) n"
            ),
            {"u": user, "n": live_tickets.CLEANUP_BATCH + 3},
        )
        conn.execute(
            text(
                "INSERT INTO live_connections (connection_id, user_id, connected_at)"
                " SELECT 'stale-' || n, :u, now() - make_interval(secs => :age)"
                " FROM generate_series(1, :n) n"
            ),
            {
                "u": user,
                "n": live_tickets.CLEANUP_BATCH + 2,
                "age": live_tickets.CONNECTION_MAX_AGE_SECONDS + 5,
            },
        )
    add_connections(db, user, ["recent"])
    with db.connect() as conn:  # within the 2 hours: kept
        conn.execute(
            text(
                "UPDATE live_connections SET connected_at = now() - make_interval(secs => :age)"
                " WHERE connection_id = 'recent'"
            ),
            {"age": live_tickets.CONNECTION_MAX_AGE_SECONDS - 60},
        )
    issue_ticket(user)
    with db.connect() as conn:
        expired = conn.execute(
            text("SELECT count(*) FROM live_tickets WHERE expires_at < now()")
        ).scalar_one()
        stale = conn.execute(
            text("SELECT count(*) FROM live_connections WHERE connection_id LIKE 'stale-%'")
        ).scalar_one()
        recent = conn.execute(
            text("SELECT count(*) FROM live_connections WHERE connection_id = 'recent'")
        ).scalar_one()
    assert (expired, stale, recent) == (3, 2, 1)


def test_the_ticket_functions_use_the_engine_they_are_given(db, new_user_id) -> None:
    """An engine passed in is the one used (the consumer's, serve's), not the shared one."""
    other = common_db.make_engine(get_settings(), pool_size=1)
    statements: list[str] = []
    event.listen(other, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        user = new_user_id()
        ticket = issue_ticket(user, engine=other).ticket
        assert any("progress_live_issue_ticket_v1" in s for s in statements)
        assert bind_connection(ticket, f"engine-{user}", engine=other) == (user, [])
        assert any("progress_live_connect_v1" in s for s in statements)
        assert forget_connections([f"engine-{user}"], engine=other) == 1
        assert any("progress_live_disconnect_v1" in s for s in statements)
    finally:
        other.dispose()


# --- the WebSocket $connect and $disconnect functions ----------------------------------------------------


def connect_event(connection_id: str, ticket: str | None = None, **query: str) -> dict[str, Any]:
    if ticket is not None:
        query["ticket"] = ticket
    return websocket_event(
        "$connect",
        connection_id,
        domain="abc1234567.execute-api.eu-west-1.amazonaws.com",
        query=query or None,
    )


def disconnect_event(connection_id: str) -> dict[str, Any]:
    return websocket_event(
        "$disconnect",
        connection_id,
        domain="abc1234567.execute-api.eu-west-1.amazonaws.com",
        disconnect_status=1001,
    )


def refusal(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": {"code": code, "message": message}}),
    }


INVALID_TICKET = refusal(401, "invalid_ticket", "the ticket is unknown, expired or already used")
TICKET_REQUIRED = refusal(401, "ticket_required", "open the URL from POST /progress/live-ticket")
NOT_A_CONNECT = refusal(400, "bad_request", "not an API Gateway WebSocket $connect event")
NOT_A_DISCONNECT = refusal(400, "bad_request", "not an API Gateway WebSocket $disconnect event")


@pytest.fixture
def on_connect(load_function) -> Callable[[dict[str, Any]], dict[str, Any]]:
    handler = load_function("live_connect").lambda_handler
    return lambda event: handler(event, FakeLambdaContext())


@pytest.fixture
def on_disconnect(load_function) -> Callable[[dict[str, Any]], dict[str, Any]]:
    handler = load_function("live_disconnect").lambda_handler
    return lambda event: handler(event, FakeLambdaContext())


def test_connect_with_a_ticket_binds_the_connection_once(
    db, new_user_id, on_connect, info_logs, capsys
) -> None:
    user = new_user_id()
    ticket = issue_ticket(user).ticket
    assert on_connect(connect_event("conn-A=", ticket)) == {"statusCode": 200}
    assert connections(db, user) == ["conn-A="]
    (opened,) = logged(info_logs(), "connection opened")
    assert (opened["connection_id"], opened["evicted"], opened["user_id"]) == ("conn-A=", 0, user)
    assert emitted(capsys).get("LiveConnections") == [1]
    # used once: the same ticket opens nothing more, whatever the connection
    assert on_connect(connect_event("conn-B=", ticket)) == INVALID_TICKET
    assert connections(db, user) == ["conn-A="]
    (refused,) = logged(info_logs(), "refused an unknown, expired or used ticket")
    assert refused["connection_id"] == "conn-B=" and "user_id" not in refused
    assert emitted(capsys).get("LiveConnectRefused") == [1]


def test_connect_refuses_an_expired_or_unknown_ticket(db, new_user_id, on_connect) -> None:
    user = new_user_id()
    ticket = issue_ticket(user).ticket
    with db.connect() as conn:
        conn.execute(text("UPDATE live_tickets SET expires_at = now() - interval '1 millisecond'"))
    assert on_connect(connect_event("late=", ticket)) == INVALID_TICKET
    assert on_connect(connect_event("unknown=", "u" * live_tickets.MAX_TICKET_LENGTH)) == INVALID_TICKET
    assert connections(db, user) == []
    fresh = issue_ticket(user).ticket  # expired tickets stay refused, a fresh one works
    assert on_connect(connect_event("fresh=", fresh)) == {"statusCode": 200}
    assert connections(db, user) == ["fresh="]


def test_connect_without_a_usable_ticket_is_refused_before_the_database(
    db, new_user_id, on_connect, count_sql, info_logs, capsys
) -> None:
    events = [
        connect_event("c1="),
        connect_event("c2=", other="x"),
        connect_event("c3=", ""),
        connect_event("c4=", "t" * (live_tickets.MAX_TICKET_LENGTH + 1)),
        {**connect_event("c5="), "queryStringParameters": ["ticket", "abc"]},
        {**connect_event("c6="), "queryStringParameters": {"ticket": 12345}},
    ]
    for event_ in events:
        assert on_connect(event_) == TICKET_REQUIRED
    assert count_sql.count == 0
    refused = logged(info_logs(), "refused a connection without a ticket")
    assert [r["connection_id"] for r in refused] == ["c1=", "c2=", "c3=", "c4=", "c5=", "c6="]
    assert sum(emitted(capsys).get("LiveConnectRefused", [])) == len(events)


def test_connect_and_disconnect_refuse_events_without_a_connection_id(
    db, new_user_id, on_connect, on_disconnect, captured_logs
) -> None:
    ticket = issue_ticket(new_user_id()).ticket
    good = connect_event("x", ticket)
    broken = [
        {k: v for k, v in good.items() if k != "requestContext"},
        {**good, "requestContext": "not a mapping"},
        {**good, "requestContext": {k: v for k, v in good["requestContext"].items() if k != "connectionId"}},
        {**good, "requestContext": {**good["requestContext"], "connectionId": 42}},
        {**good, "requestContext": {**good["requestContext"], "connectionId": ""}},
        {**good, "requestContext": {**good["requestContext"], "connectionId": "c" * 129}},
    ]
    for event_ in broken:
        assert on_connect(event_) == NOT_A_CONNECT
        assert on_disconnect(event_) == NOT_A_DISCONNECT
    assert live_connections.handle_connect(["not", "an", "event"]) == NOT_A_CONNECT  # type: ignore[arg-type]
    assert live_connections.handle_disconnect("not an event") == NOT_A_DISCONNECT  # type: ignore[arg-type]
    warnings = [json.loads(line) for line in captured_logs().splitlines() if line.startswith("{")]
    assert [w["message"] for w in warnings if "connection id" in w["message"]] == [
        "rejected a $connect event without a connection id",
        "rejected a $disconnect event without a connection id",
    ] * len(broken) + [
        "rejected a $connect event without a connection id",
        "rejected a $disconnect event without a connection id",
    ]
    assert {w["level"] for w in warnings if "connection id" in w["message"]} == {"WARNING"}
    # the ticket was not spent by any of them; the longest connection id API Gateway could send is fine
    longest = "c" * 128
    assert on_connect({**good, "requestContext": {**good["requestContext"], "connectionId": longest}}) == {
        "statusCode": 200
    }
    # and so is the shortest, with the shortest ticket (unknown: refused as such, not as missing)
    assert on_connect(connect_event("y", issue_ticket(new_user_id()).ticket)) == {"statusCode": 200}
    assert on_connect(connect_event("z", "t")) == INVALID_TICKET
    assert on_disconnect(disconnect_event("y")) == {"statusCode": 200}


def test_disconnect_forgets_the_connection(db, new_user_id, on_disconnect, info_logs) -> None:
    user = new_user_id()
    add_connections(db, user, ["stay=", "leave="])
    assert on_disconnect(disconnect_event("leave=")) == {"statusCode": 200}
    assert connections(db, user) == ["stay="]
    assert on_disconnect(disconnect_event("never-known=")) == {"statusCode": 200}  # best effort, idempotent
    assert [r["connection_id"] for r in logged(info_logs(), "connection closed")] == [
        "leave=",
        "never-known=",
    ]
    assert forget_connections(["stay=", "other="]) == 1
    assert forget_connections(["stay="]) == 0


@contextmanager
def shared_engine(engine: Engine) -> Iterator[None]:
    """The functions' shared engine replaced for a while (the test database's engine restored after)."""
    previous = common_db.get_engine()
    common_db._engine = engine
    try:
        yield
    finally:
        common_db._engine = previous
        engine.dispose()


def test_connect_answers_503_when_the_database_is_unreachable(
    db, new_user_id, on_connect, captured_logs, capsys
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused at once
    ticket = issue_ticket(new_user_id()).ticket
    with shared_engine(create_engine(f"postgresql+pg8000://root@127.0.0.1:{port}/test")):
        answer = on_connect(connect_event("c=", ticket))
    assert answer == refusal(503, "database_unavailable", "retry later with a new ticket")
    (warning,) = [json.loads(line) for line in captured_logs().splitlines() if "database unavailable" in line]
    assert warning["message"] == "database unavailable on $connect" and warning["level"] == "WARNING"
    assert warning["error_type"] in ("InterfaceError", "OperationalError")
    assert emitted(capsys).get("DatabaseUnavailable") == [1]
    assert on_connect(connect_event("c=", ticket)) == {"statusCode": 200}  # the ticket is still good


def test_connect_lets_a_database_error_that_is_not_unavailability_through(
    db, new_user_id, on_connect
) -> None:
    broken = common_db.make_engine(get_settings(), pool_size=1)

    @event.listens_for(broken, "connect")
    def hide_the_functions(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET search_path TO pg_catalog")
        cursor.close()

    ticket = issue_ticket(new_user_id()).ticket
    with shared_engine(broken), pytest.raises(Exception, match="progress_live_connect_v1") as raised:
        on_connect(connect_event("c=", ticket))
    assert not common_db.is_transient(raised.value)


def test_a_sixth_connection_evicts_the_oldest_and_closes_it_at_the_gateway(
    db, new_user_id, on_connect, management, info_logs, capsys
) -> None:
    user = new_user_id()
    old = [f"old-{n}=" for n in range(MAX_CONNECTIONS_PER_USER)]
    add_connections(db, user, old)
    assert on_connect(connect_event("new=", issue_ticket(user).ticket)) == {"statusCode": 200}
    assert connections(db, user) == [*old[1:], "new="]
    assert management.calls() == [old[0]] and management.calls("DELETE") == [old[0]]
    (opened,) = logged(info_logs(), "connection opened")
    assert opened["evicted"] == 1
    assert emitted(capsys).get("LiveConnectionsEvicted") == [1]


def test_evicted_connections_count_as_closed_when_sent_or_already_gone(
    db, new_user_id, on_connect, management, info_logs, capsys
) -> None:
    user = new_user_id()
    old = ["o1=", "o2=", "o3=", "o4=", "o5=", "o6=", "o7="]
    add_connections(db, user, old)
    management.answers.update({"o1=": "gone", "o2=": "error"})
    assert on_connect(connect_event("new=", issue_ticket(user).ticket)) == {"statusCode": 200}
    assert connections(db, user) == ["o4=", "o5=", "o6=", "o7=", "new="]
    assert sorted(management.calls("DELETE")) == ["o1=", "o2=", "o3="]
    assert logged(info_logs(), "connection opened")[0]["evicted"] == 3
    assert emitted(capsys).get("LiveConnectionsEvicted") == [2]  # o1 gone already, o3 closed; o2 failed


def test_without_a_management_endpoint_eviction_only_forgets(
    db, new_user_id, on_connect, management, capsys
) -> None:
    user = new_user_id()
    add_connections(db, user, [f"old-{n}=" for n in range(MAX_CONNECTIONS_PER_USER)])
    with live_settings(live_management_endpoint=None):
        assert on_connect(connect_event("new=", issue_ticket(user).ticket)) == {"statusCode": 200}
    assert len(connections(db, user)) == MAX_CONNECTIONS_PER_USER
    assert management.calls() == []
    assert "LiveConnectionsEvicted" not in emitted(capsys)


def test_after_a_reset_each_page_is_told_why_then_closed_and_counted(management, capsys) -> None:
    from progress_common.live_management import RESET_MESSAGE, close_after_reset

    close_after_reset(["a=", "b=", "gone="])
    management_requests = list(management.requests)
    # every page hears the reason before any is closed: one round of POSTs, then one of DELETEs
    assert [m for m, _, _ in management_requests] == ["POST"] * 3 + ["DELETE"] * 3
    assert management.bodies() == {cid: RESET_MESSAGE for cid in ("a=", "b=", "gone=")}
    assert json.loads(RESET_MESSAGE) == {"type": "reset", "reason": "progress_reset"}
    assert sorted(management.calls("DELETE")) == ["a=", "b=", "gone="]
    values = emitted(capsys, flush=True)
    assert values.get("LiveConnectionsClosedByReset") == [3]
    assert "LiveConnectionsEvicted" not in values


def test_a_reset_with_nothing_open_or_no_endpoint_calls_nobody(management, capsys) -> None:
    from progress_common.live_management import close_after_reset

    close_after_reset([])
    with live_settings(live_management_endpoint=None):
        close_after_reset(["a="])
    assert management.calls() == []
    metrics.add_metric(name="Marker", unit="Count", value=1)  # so that there is something to flush
    assert "LiveConnectionsClosedByReset" not in emitted(capsys, flush=True)


def test_telling_and_closing_share_one_budget(management) -> None:
    from progress_common.live_management import close_connections

    # the stand-in answers after 2 s; a budget of 0.3 s must not wait for it (a wide margin: shared machines)
    management.answers.update({"slow=": 2.0})
    started = time.monotonic()
    close_connections(["slow="], budget_seconds=0.3, farewell=b"{}")
    # the farewell took the whole budget, and the call kept to it: whatever is still on the wire finishes (or
    # times out) on its own thread, after the caller has moved on (the local gateway, for one, answers the
    # farewell only once the reset's handler has returned)
    assert time.monotonic() - started < 1.5


# --- which users a batch pushes to --------------------------------------------------------------------------


def test_the_batch_processor_names_the_learners_whose_messages_it_recorded(db, new_user_id) -> None:
    """Written and duplicate messages name their learner for the push; rejected or failed ones do not, and
    nothing reads the bodies a second time: the users come from the processor that wrote them."""
    from aws_lambda_powertools.utilities.batch import process_partial_response

    from progress_common.ingest import new_processor

    written, again, taken, owner = (new_user_id() for _ in range(4))
    first = attempt_body(user_id=again)
    session = new_user_id()
    processor = new_processor()
    setup = sqs_event(sqs_record(first), sqs_record(attempt_body(user_id=owner, session_id=session)))
    process_partial_response(setup, processor.record_attempt, processor, FakeLambdaContext())
    assert processor.recorded_users == {again, owner}
    event_ = sqs_event(
        sqs_record(attempt_body(user_id=f"user_{written}")),
        sqs_record(first),  # a duplicate: recorded before, still the learner's
        sqs_record(attempt_body(user_id=taken, session_id=session)),  # another learner's session
        sqs_record("not json"),
        sqs_record(attempt_body(user_id="nobody")),
    )
    response = process_partial_response(event_, processor.record_attempt, processor, FakeLambdaContext())
    assert len(response["batchItemFailures"]) == 3
    assert processor.recorded_users == {written, again}  # this batch's only


# --- the push after a batch -----------------------------------------------------------------------------


def expected_message(user: int) -> dict[str, Any]:
    """What GET /progress answers the user, without the page of attempts."""
    from progress_common.queries import get_progress

    progress = get_progress(user).model_dump(mode="json")
    del progress["recent_attempts"], progress["next_cursor"]
    return {"type": "progress", "progress": progress}


def test_the_consumer_pushes_each_user_their_own_fresh_progress(
    load_function, db, new_user_id, management, info_logs, capsys
) -> None:
    alice, bob, carol = new_user_id(), new_user_id(), new_user_id()
    add_connections(db, alice, ["alice-1=", "alice-2="])
    add_connections(db, bob, ["bob-1="])
    event_ = sqs_event(
        sqs_record(attempt_body(user_id=alice, is_correct=True)),
        sqs_record(attempt_body(user_id=alice, is_correct=False)),
        sqs_record(attempt_body(user_id=f"user_{bob}")),
        sqs_record(attempt_body(user_id=carol)),  # nobody connected: nothing to send
    )
    started = time.monotonic()
    assert load_function("record_attempts").lambda_handler(event_, FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    elapsed = time.monotonic() - started
    bodies = management.bodies()
    assert sorted(bodies) == ["alice-1=", "alice-2=", "bob-1="]
    assert management.calls("DELETE") == []
    for connection_id, user in (("alice-1=", alice), ("alice-2=", alice), ("bob-1=", bob)):
        assert json.loads(bodies[connection_id]) == expected_message(user)
        assert b" " not in bodies[connection_id]  # compact: the smallest frames
    assert json.loads(bodies["alice-1="])["progress"]["total_attempts"] == 2
    assert "recent_attempts" not in json.loads(bodies["bob-1="])["progress"]
    values = emitted(capsys)
    assert [values.get(name) for name in ("LivePushesSent", "LivePushesGone", "LivePushesFailed")] == [
        [3],
        [0],
        [0],
    ]
    assert values.get("LivePushesSkipped") == [0]
    (pushed,) = logged(info_logs(), "live push")
    assert {k: pushed[k] for k in ("sent", "gone", "failed", "skipped", "users")} == {
        "sent": 3,
        "gone": 0,
        "failed": 0,
        "skipped": 0,
        "users": 2,
    }
    assert 0 < pushed["seconds"] <= elapsed


def test_a_batch_of_users_nobody_watches_pushes_nothing_and_reports_nothing(
    db, new_user_id, management, info_logs, capsys
) -> None:
    user = new_user_id()
    report = push_after_batch({user})
    assert report.as_dict() == {**PushReport().as_dict(), "seconds": report.as_dict()["seconds"]}
    assert management.calls() == []
    assert logged(info_logs(), "live push") == []
    metrics.add_metric(name="Marker", unit="Count", value=1)  # so that there is something to flush
    assert set(emitted(capsys, flush=True)) == {"Marker"}


def test_gone_connections_are_forgotten_and_refusals_count_as_failed(
    db, new_user_id, management, info_logs, capsys
) -> None:
    user = new_user_id()
    add_connections(db, user, ["ok=", "gone=", "forbidden=", "error="])
    management.answers.update({"gone=": "gone", "forbidden=": "forbidden", "error=": "error"})
    report = push_after_batch({user})
    assert (report.sent, report.gone, report.failed, report.skipped, report.users) == (1, 1, 2, 0, 1)
    assert report.outcomes == {"ok=": "sent", "gone=": "gone", "forbidden=": "failed", "error=": "failed"}
    assert connections(db, user) == ["ok=", "forbidden=", "error="]
    assert sorted(management.calls()) == ["error=", "forbidden=", "gone=", "ok="]  # no retries
    values = emitted(capsys, flush=True)
    assert [values.get(n) for n in ("LivePushesSent", "LivePushesGone", "LivePushesFailed")] == [
        [1],
        [1],
        [2],
    ]
    assert logged(info_logs(), "live push")[0]["gone"] == 1
    # answers from the endpoint, even refusals, are not a reason to pause: the next push calls again
    management.requests.clear()
    assert push_progress([user]).sent == 1 and len(management.calls()) == 3


def test_only_a_users_newest_connections_are_pushed_to(db, new_user_id, management) -> None:
    user, other = new_user_id(), new_user_id()
    ids = [f"c{n}=" for n in range(MAX_CONNECTIONS_PER_USER + 2)]
    add_connections(db, user, ids)
    add_connections(db, other, ["other="])
    report = push_progress(iter([user, user]))
    assert sorted(management.calls("POST")) == sorted(ids[2:])
    assert (report.sent, report.users) == (MAX_CONNECTIONS_PER_USER, 1)


def test_no_endpoint_or_no_users_no_statement(db, new_user_id, count_sql, management) -> None:
    with live_settings(live_management_endpoint=None):
        assert push_progress([new_user_id()]) == PushReport()
    assert push_progress([]) == PushReport()
    assert count_sql.count == 0 and management.calls() == []


def test_a_push_that_fails_reports_it_and_never_raises(db, new_user_id, management, captured_logs) -> None:
    user = new_user_id()
    add_connections(db, user, ["c="])
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    unreachable_db = create_engine(f"postgresql+pg8000://root@127.0.0.1:{port}/test")
    try:
        report = push_progress([user], engine=unreachable_db)
    finally:
        unreachable_db.dispose()
    assert (report.failed, report.sent, report.users) == (1, 0, 0) and report.seconds > 0
    with live_settings(live_management_endpoint="http://[not-an-address/live"):
        report = push_progress([user])
    assert (report.failed, report.sent, report.users) == (1, 0, 1)
    warnings = [json.loads(line) for line in captured_logs().splitlines() if "live push failed" in line]
    assert {w["message"] for w in warnings} == {"live push failed"}
    assert [w["error_type"] for w in warnings] == ["InterfaceError", "ValueError"] or [
        w["error_type"] for w in warnings
    ] == ["OperationalError", "ValueError"]
    assert management.calls() == []
    # the consumer's own step cannot fail the batch either
    assert push_after_batch(None) == PushReport(failed=1)  # type: ignore[arg-type]
    last = json.loads(captured_logs().splitlines()[-1])
    assert (last["message"], last["error_type"]) == ("live push failed", "TypeError")


def test_a_silent_endpoint_costs_the_budget_then_pauses_pushing_for_thirty_seconds(
    db, new_user_id, management, silent_endpoint, clock
) -> None:
    user, second, third = new_user_id(), new_user_id(), new_user_id()
    add_connections(db, user, ["a=", "b="])
    add_connections(db, second, [f"s{n}=" for n in range(MAX_CONNECTIONS_PER_USER)])
    add_connections(db, third, ["t1=", "t2=", "t3="])
    live_management._management_client(silent_endpoint)  # built once per container, not charged to the budget
    with live_settings(live_management_endpoint=silent_endpoint):
        started = time.monotonic()
        report = push_progress([user, second, third], budget_seconds=0.2)
        assert time.monotonic() - started < 0.45  # the budget, not the 0.5 s read timeout
    # calls on the wire without an answer, and calls still queued: skipped (not known to have failed)
    assert (report.sent, report.failed, report.skipped, report.users) == (0, 0, 10, 3)
    assert sorted(report.outcomes.values()) == ["skipped"] * 2 + ["timeout"] * live_management.PUSH_WORKERS
    assert connections(db, user) == ["a=", "b="]  # kept
    # paused: even with a reachable endpoint, no call for 30 s, every connection skipped
    clock.offset = live_management.UNREACHABLE_PAUSE_SECONDS - 0.5
    report = push_progress([user])
    assert (report.sent, report.skipped, report.users) == (0, 2, 1) and management.calls() == []
    user_2 = new_user_id()
    add_connections(db, user_2, ["evicted=", *[f"x{n}=" for n in range(MAX_CONNECTIONS_PER_USER)]])
    close_connections(["evicted="])
    assert management.calls() == []
    clock.offset = live_management.UNREACHABLE_PAUSE_SECONDS + 0.5
    assert push_progress([user]).sent == 2
    close_connections(["evicted="])
    assert management.calls("DELETE") == ["evicted="]


def test_an_endpoint_that_refuses_connections_pauses_pushing(
    db, new_user_id, management, monkeypatch
) -> None:
    user = new_user_id()
    add_connections(db, user, ["a="])
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with live_settings(live_management_endpoint=f"http://127.0.0.1:{port}/live"):
        report = push_progress([user])
    assert (report.sent, report.failed, report.skipped) == (0, 1, 0)
    assert report.outcomes == {"a=": "unreachable"}
    assert push_progress([user]).skipped == 1 and management.calls() == []
    reset_push_state()
    assert push_progress([user]).sent == 1


def test_an_answer_after_the_budget_is_skipped_without_pausing(db, new_user_id, management) -> None:
    user = new_user_id()
    add_connections(db, user, ["slow=", "quick="])
    management.answers["slow="] = 0.4
    report = push_progress([user], budget_seconds=0.2)
    assert report.outcomes == {"slow=": "timeout", "quick=": "sent"}
    assert (report.sent, report.skipped, report.failed) == (1, 1, 0)
    management.answers.clear()
    assert push_progress([user]).sent == 2  # not paused: the endpoint answered


def test_a_call_without_an_answer_within_the_read_timeout_has_failed(db, new_user_id, management) -> None:
    user = new_user_id()
    add_connections(db, user, ["slow=", "quick="])
    management.answers["slow="] = live_management.MANAGEMENT_TIMEOUT_SECONDS + 0.25
    report = push_progress([user], budget_seconds=live_management.MANAGEMENT_TIMEOUT_SECONDS + 0.5)
    assert report.outcomes == {"slow=": "unreachable", "quick=": "sent"}
    assert (report.sent, report.failed, report.skipped) == (1, 1, 0)


def test_with_no_budget_left_nothing_is_called_and_nothing_paused(db, new_user_id, management) -> None:
    user, other = new_user_id(), new_user_id()
    add_connections(db, user, ["a=", "b="])
    add_connections(db, other, ["c="])
    report = push_progress([user, other], budget_seconds=0)
    assert (report.sent, report.skipped, report.users, report.outcomes) == (0, 3, 2, {})
    report = push_progress([user, other], budget_seconds=-1)
    assert (report.sent, report.skipped, report.users) == (0, 3, 2)
    assert management.calls() == []
    assert push_progress([user, other]).sent == 3


@pytest.mark.parametrize(
    ("remaining_ms", "called", "outcome"),
    [
        (None, True, "timeout"),  # the configured budget (0.25 s) bounds the push
        (1250, True, "timeout"),  # a quarter second before the last second: the same bound
        (1000, False, None),  # the last second of the invocation is not the push's
        (400, False, None),
    ],
)
def test_the_push_stays_out_of_the_last_second_of_the_invocation(
    db, new_user_id, management, remaining_ms, called, outcome
) -> None:
    user = new_user_id()
    add_connections(db, user, ["slow="])
    management.answers["slow="] = 0.45  # within the read timeout, beyond the budget
    with live_settings(live_push_budget_seconds=0.25):
        report = push_after_batch({user}, None if remaining_ms is None else lambda: remaining_ms)
    assert report.outcomes == ({"slow=": outcome} if outcome else {}) and report.skipped == 1
    assert management.calls() == (["slow="] if called else [])


def test_a_budget_longer_than_the_answer_gets_it(db, new_user_id, management) -> None:
    user = new_user_id()
    add_connections(db, user, ["slow="])
    management.answers["slow="] = 0.3
    with live_settings(live_push_budget_seconds=0.45):
        assert push_after_batch({user}, lambda: 30_000).sent == 1
        assert push_after_batch({user}, lambda: 1_450).sent == 1
    with live_settings(live_push_budget_seconds=0.1):
        assert push_progress([user], budget_seconds=0.45).sent == 1  # an explicit budget wins
        assert push_after_batch({user}, lambda: 30_000).skipped == 1


# --- one call's outcome, and calls in parallel within a deadline --------------------------------------------


class FakeManagementClient:
    """The two calls of an apigatewaymanagementapi client; `behaviour(connection_id)` runs in each and may
    raise what botocore raises."""

    def __init__(self, behaviour: Callable[[str], None] = lambda connection_id: None) -> None:
        self.behaviour = behaviour
        self.calls: list[tuple[str, str, bytes | None]] = []
        self.lock = threading.Lock()

    def _call(self, method: str, connection_id: str, data: bytes | None) -> None:
        with self.lock:
            self.calls.append((method, connection_id, data))
        self.behaviour(connection_id)

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:
        self._call("post", ConnectionId, Data)

    def delete_connection(self, *, ConnectionId: str) -> None:
        self._call("delete", ConnectionId, None)


def raising(exc: BaseException) -> Callable[[str], None]:
    def behaviour(connection_id: str) -> None:
        raise exc

    return behaviour


def client_error(response: dict[str, Any]) -> ClientError:
    return ClientError(response, "PostToConnection")  # type: ignore[arg-type]


def test_a_call_posts_the_message_or_closes_the_connection() -> None:
    client = FakeManagementClient()
    assert live_management._post(client, "c1=", b'{"type":"progress"}') == "sent"
    assert live_management._post(client, "c2=", None) == "sent"
    assert client.calls == [("post", "c1=", b'{"type":"progress"}'), ("delete", "c2=", None)]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (
            client_error({"Error": {"Code": "GoneException"}, "ResponseMetadata": {"HTTPStatusCode": 410}}),
            "gone",
        ),
        (
            client_error({"Error": {"Code": "GoneException"}, "ResponseMetadata": {"HTTPStatusCode": 400}}),
            "gone",
        ),
        (client_error({"Error": {"Code": "GoneException"}}), "gone"),
        (client_error({"Error": {"Code": "410"}, "ResponseMetadata": {"HTTPStatusCode": 410}}), "gone"),
        (client_error({"ResponseMetadata": {"HTTPStatusCode": 410}}), "gone"),
        (
            client_error(
                {"Error": {"Code": "ForbiddenException"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
            ),
            "failed",
        ),
        (
            client_error(
                {"Error": {"Code": "LimitExceededException"}, "ResponseMetadata": {"HTTPStatusCode": 429}}
            ),
            "failed",
        ),
        (client_error({"Error": {"Code": "ForbiddenException"}}), "failed"),
        (client_error({"ResponseMetadata": {"HTTPStatusCode": 500}}), "failed"),
        (client_error({}), "failed"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9/live"), "unreachable"),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9/live"), "unreachable"),
        (ConnectionResetError(104, "reset"), "unreachable"),
    ],
)
def test_a_calls_outcome_in_one_word(error: BaseException, outcome: str) -> None:
    assert live_management._post(FakeManagementClient(raising(error)), "c=", b"{}") == outcome
    assert live_management._post(FakeManagementClient(raising(error)), "c=", None) == outcome


def test_calls_run_in_parallel_eight_at_a_time() -> None:
    together = threading.Barrier(live_management.PUSH_WORKERS, timeout=1.0)

    def meet(connection_id: str) -> None:
        try:
            together.wait()
        except threading.BrokenBarrierError:
            raise EndpointConnectionError(endpoint_url="fewer calls at once than expected") from None

    jobs = [(f"c{n}=", b"{}") for n in range(live_management.PUSH_WORKERS)]
    assert live_management._post_all(FakeManagementClient(meet), jobs, time.monotonic() + 2.0) == {
        cid: "sent" for cid, _ in jobs
    }

    active, most = 0, 0
    lock = threading.Lock()

    def count(connection_id: str) -> None:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.02)
        with lock:
            active -= 1

    jobs = [(f"c{n}=", b"{}") for n in range(live_management.PUSH_WORKERS * 2 + 1)]
    assert set(
        live_management._post_all(FakeManagementClient(count), jobs, time.monotonic() + 2.0).values()
    ) == {"sent"}
    assert 1 <= most <= live_management.PUSH_WORKERS
    assert live_management._post_all(FakeManagementClient(), [("only=", None)], time.monotonic() + 1.0) == {
        "only=": "sent"
    }


def test_at_the_deadline_calls_on_the_wire_time_out_and_queued_ones_never_start() -> None:
    release = threading.Event()
    client = FakeManagementClient(lambda connection_id: release.wait(2.0) and None)
    jobs = [(f"c{n}=", b"{}") for n in range(live_management.PUSH_WORKERS + 2)]
    started = time.monotonic()
    try:
        outcomes = live_management._post_all(client, jobs, started + 0.15)
        returned = time.monotonic() - started
    finally:
        release.set()
    assert 0.1 <= returned < 0.6  # the deadline, not the calls
    assert outcomes == {
        **{f"c{n}=": "timeout" for n in range(live_management.PUSH_WORKERS)},
        **{
            f"c{n}=": "skipped" for n in range(live_management.PUSH_WORKERS, live_management.PUSH_WORKERS + 2)
        },
    }
    time.sleep(0.1)  # the hung calls are answered now; the queued ones were cancelled, never made
    assert sorted(cid for _, cid, _ in client.calls) == sorted(
        f"c{n}=" for n in range(live_management.PUSH_WORKERS)
    )


def test_closing_evicted_connections_with_a_broken_endpoint_logs_and_moves_on(
    db, new_user_id, on_connect, management, captured_logs, capsys
) -> None:
    user = new_user_id()
    add_connections(db, user, [f"old-{n}=" for n in range(MAX_CONNECTIONS_PER_USER)])
    with live_settings(live_management_endpoint="http://[not-an-address/live"):
        assert on_connect(connect_event("new=", issue_ticket(user).ticket)) == {"statusCode": 200}
    (warning,) = [json.loads(line) for line in captured_logs().splitlines() if "could not close" in line]
    assert warning["message"] == "could not close evicted connections"
    assert warning["error_type"] == "ValueError" and warning["level"] == "WARNING"
    assert "LiveConnectionsEvicted" not in emitted(capsys)
    close_connections([])  # nothing to close: no call
    assert management.calls() == []


@pytest.mark.parametrize("answer", ["gone", "forbidden"])
def test_an_endpoint_that_answers_some_calls_is_not_paused(db, new_user_id, management, answer) -> None:
    user = new_user_id()
    add_connections(db, user, ["slow=", "answered="])
    management.answers.update({"slow=": 0.4, "answered=": answer})
    report = push_progress([user], budget_seconds=0.2)
    assert report.outcomes == {"slow=": "timeout", "answered=": "gone" if answer == "gone" else "failed"}
    management.answers.clear()
    management.requests.clear()
    assert push_progress([user]).sent == len(connections(db, user))
    assert "slow=" in management.calls()


def test_building_the_client_on_a_cold_start_is_not_charged_to_the_budget(
    db, new_user_id, management, monkeypatch
) -> None:
    import boto3

    build = boto3.session.Session.client

    builds: list[str] = []

    def slow_build(self: Any, *args: Any, **kwargs: Any) -> Any:
        builds.append(kwargs["endpoint_url"])
        time.sleep(0.3)  # loading the service model on a cold, throttled container
        return build(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", slow_build)
    user = new_user_id()
    add_connections(db, user, ["a="])
    report = push_progress([user], budget_seconds=0.2)
    assert report.outcomes == {"a=": "sent"} and report.seconds > 0.3
    assert push_progress([user], budget_seconds=0.2).sent == 1
    assert builds == [management.endpoint]  # once per endpoint per container


def test_the_push_uses_the_engine_it_is_given(db, new_user_id, management) -> None:
    other = common_db.make_engine(get_settings(), pool_size=1)
    statements: list[str] = []
    event.listen(other, "before_cursor_execute", lambda *args: statements.append(args[2]))
    user = new_user_id()
    add_connections(db, user, ["a=", "gone="])
    management.answers["gone="] = "gone"
    try:
        report = push_progress([user], engine=other)
    finally:
        other.dispose()
    assert (report.sent, report.gone) == (1, 1)
    assert connections(db, user) == ["a="]
    assert any("progress_live_connections_v1" in s for s in statements)
    assert any("progress_live_disconnect_v1" in s for s in statements)
    assert len(statements) >= 3  # and the progress read between them


def test_when_the_reads_take_the_budget_nothing_is_called_and_nothing_paused(
    db, new_user_id, management, clock
) -> None:
    """A slow database: the first user's progress read uses up the budget; no call is started late."""
    first, second = sorted((new_user_id(), new_user_id()))  # read in the order of their ids
    add_connections(db, first, ["f1=", "f2="])
    add_connections(db, second, ["s1=", "s2=", "s3="])
    slow = common_db.make_engine(get_settings(), pool_size=1)
    reads: list[str] = []

    def read_takes_the_budget(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "progress_live_connections_v1" not in statement and not reads:
            reads.append(statement)
            clock.offset += 0.5

    event.listen(slow, "before_cursor_execute", read_takes_the_budget)
    try:
        report = push_progress([second, first], budget_seconds=0.5, engine=slow)
    finally:
        slow.dispose()
    assert report.outcomes == {"f1=": "skipped", "f2=": "skipped"}
    assert (report.sent, report.failed, report.skipped, report.users) == (0, 0, 5, 2)
    time.sleep(0.05)
    assert management.calls() == []
    assert push_progress([first, second]).sent == 5  # not paused


def test_an_endpoint_that_does_not_accept_the_connection_fails_within_the_connect_timeout(
    db, new_user_id, management
) -> None:
    """A listener whose accept queue is full: the TCP handshake never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    try:
        for filler in fillers:
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        user = new_user_id()
        add_connections(db, user, ["a="])
        with live_settings(live_management_endpoint=f"http://127.0.0.1:{port}/live"):
            report = push_progress([user], budget_seconds=live_management.MANAGEMENT_TIMEOUT_SECONDS + 0.4)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert report.outcomes == {"a=": "unreachable"} and report.failed == 1


def test_a_database_lost_after_the_calls_still_reports_what_the_calls_did(
    db, new_user_id, management
) -> None:
    user = new_user_id()
    add_connections(db, user, ["ok=", "gone=", "forbidden="])
    management.answers.update({"gone=": "gone", "forbidden=": "forbidden"})
    failing = common_db.make_engine(get_settings(), pool_size=1)

    def lost_before_forgetting(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "progress_live_disconnect_v1" in statement:
            raise ConnectionResetError(104, "connection reset by peer")

    event.listen(failing, "before_cursor_execute", lost_before_forgetting)
    try:
        report = push_progress([user], engine=failing)
    finally:
        failing.dispose()
    # the forbidden call, and the push's own failure to forget the gone connection
    assert (report.sent, report.gone, report.failed, report.skipped) == (1, 1, 2, 0)
    assert connections(db, user) == ["ok=", "gone=", "forbidden="]  # forgotten on a later push


def test_the_push_log_gives_its_duration_in_milliseconds(db, new_user_id, management, info_logs) -> None:
    user = new_user_id()
    add_connections(db, user, ["a="])
    reports = [push_after_batch({user}) for _ in range(4)]
    assert [r["seconds"] for r in logged(info_logs(), "live push")] == [round(r.seconds, 3) for r in reports]
    assert all(r.sent == 1 for r in reports)
