"""Live updates over real sockets on loopback: ticket -> WebSocket -> attempt -> message.

`live_server` is `progress-admin serve` in a thread: its WebSocket endpoint calls the real $connect and
$disconnect functions, the attempts consumer pushes through boto3 to its `/@connections/{id}` stand-in,
and `/local/attempts` runs the consumer on one SQS batch.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from progress_admin.local.gateway import make_token
from progress_admin.local.template import load_template, sqs_consumer
from progress_common.live_connections import MAX_CONNECTIONS_PER_USER
from progress_common.live_management import _management_client, reset_push_state
from progress_common.live_push import push_after_batch, push_progress
from progress_common.live_tickets import TICKET_TTL_SECONDS
from progress_common.settings import LiveSettings, get_live_settings, set_live_settings
from tests.conftest import ROOT
from tests.events import FakeLambdaContext, attempt_body, http_request, sqs_event, sqs_record


def _ticket(base: str, user: int) -> dict:
    status, _, body = http_request(
        f"{base}/progress/live-ticket", "POST", token=make_token({"sub": f"user_{user}"})
    )
    assert status == 200, body
    return json.loads(body)


@contextmanager
def _open(base: str, user: int) -> Iterator[ClientConnection]:
    with connect(_ticket(base, user)["url"], open_timeout=5) as ws:
        yield ws


def _attempts(base: str, *bodies: str) -> dict:
    status, _, body = http_request(f"{base}/local/attempts", "POST", body=f"[{','.join(bodies)}]".encode())
    assert status == 200, body
    return json.loads(body)


def _refused(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=5).close()
    return refused.value.response.status_code


def _rows(db, user: int) -> list[str]:
    with db.connect() as conn:
        return list(
            conn.execute(
                text("SELECT connection_id FROM live_connections WHERE user_id = :u ORDER BY connected_at"),
                {"u": user},
            ).scalars()
        )


def _quiet(ws: ClientConnection, seconds: float) -> bool:
    """True when nothing arrives within `seconds`."""
    try:
        ws.recv(timeout=seconds)
    except TimeoutError:
        return True
    return False


@pytest.fixture(autouse=True)
def _fresh_push_state() -> Iterator[None]:
    reset_push_state()
    yield
    reset_push_state()


@pytest.fixture
def generous_budget(live_server) -> Iterator[None]:
    """Pushes over the loop get 5 s, so a busy test machine does not turn a slow push into a skipped one;
    the tests still expect each message within a second."""
    with _live_settings(live_push_budget_seconds=5.0):
        yield


def test_ticket_connect_attempt_message_within_a_second(
    live_server, db, new_user_id, generous_budget
) -> None:
    user = new_user_id()
    before = dt.datetime.now(dt.UTC)
    ticket = _ticket(live_server, user)
    expires_at = dt.datetime.fromisoformat(ticket["expires_at"])
    assert (
        dt.timedelta(seconds=TICKET_TTL_SECONDS - 5)
        < expires_at - before
        <= dt.timedelta(seconds=TICKET_TTL_SECONDS + 5)
    )
    assert parse_qs(urlsplit(ticket["url"]).query) == {"ticket": [ticket["ticket"]]}
    assert ticket["url"].startswith("ws://127.0.0.1:")
    with db.connect() as conn:  # only a hash of the ticket is stored
        stored = conn.execute(text("SELECT ticket_hash FROM live_tickets WHERE user_id = :u"), {"u": user})
        assert [bytes(h) for h in stored.scalars()] != [ticket["ticket"].encode()]

    with connect(ticket["url"], open_timeout=5) as ws:
        assert len(_rows(db, user)) == 1
        assert _attempts(live_server, attempt_body(user_id=f"user_{user}", is_correct=False)) == {
            "batchItemFailures": []
        }
        # pushed within the batch's invocation, before its result: here within a second of that result
        message = json.loads(ws.recv(timeout=1.0))
    assert message["type"] == "progress"
    status, _, body = http_request(f"{live_server}/progress", token=make_token({"sub": str(user)}))
    expected = json.loads(body)
    assert status == 200 and expected["total_attempts"] == 1
    del expected["recent_attempts"], expected["next_cursor"]
    assert message["progress"] == expected
    assert message["progress"]["correct_attempts"] == 0 and message["progress"]["accuracy"] == 0.0


def test_reused_unknown_missing_and_expired_tickets_are_refused(live_server, db, new_user_id) -> None:
    user = new_user_id()
    ticket = _ticket(live_server, user)
    with connect(ticket["url"], open_timeout=5):
        assert _refused(ticket["url"]) == 401  # used once already
    base_url = ticket["url"].split("?")[0]
    assert _refused(base_url) == 401
    assert _refused(f"{base_url}?ticket=not-a-ticket-we-issued") == 401
    assert _refused(f"{base_url}?ticket={'x' * 500}") == 401

    expired = _ticket(live_server, user)
    with db.connect() as conn:  # the clock moves on: the ticket's 60 s are over
        conn.execute(
            text("UPDATE live_tickets SET expires_at = now() - interval '1 second' WHERE user_id = :u"),
            {"u": user},
        )
    assert _refused(expired["url"]) == 401
    assert _rows(db, user) == []


def test_another_users_attempt_is_not_delivered(live_server, db, new_user_id, generous_budget) -> None:
    alice, bob = new_user_id(), new_user_id()
    with _open(live_server, alice) as alice_ws, _open(live_server, bob) as bob_ws:
        _attempts(live_server, attempt_body(user_id=bob))
        bob_message = json.loads(bob_ws.recv(timeout=1.0))
        assert bob_message["progress"]["user_id"] == bob
        assert _quiet(alice_ws, 0.5)
        # one batch for both users: each connection gets its own user's figures only
        _attempts(
            live_server, attempt_body(user_id=alice), attempt_body(user_id=bob), attempt_body(user_id=bob)
        )
        assert json.loads(alice_ws.recv(timeout=1.0))["progress"]["total_attempts"] == 1
        bob_progress = json.loads(bob_ws.recv(timeout=1.0))["progress"]
        assert bob_progress["user_id"] == bob and bob_progress["total_attempts"] == 3
        assert _quiet(alice_ws, 0.3) and _quiet(bob_ws, 0.3)  # one message per batch


def test_a_gone_connection_is_deleted_and_the_others_still_served(
    live_server, db, new_user_id, generous_budget
) -> None:
    user = new_user_id()
    with db.connect() as conn:  # a connection whose $disconnect never came
        conn.execute(
            text("INSERT INTO live_connections (connection_id, user_id) VALUES ('gone-connection=', :u)"),
            {"u": user},
        )
    with _open(live_server, user) as ws:
        assert len(_rows(db, user)) == 2
        _attempts(live_server, attempt_body(user_id=user))
        assert json.loads(ws.recv(timeout=1.0))["progress"]["total_attempts"] == 1
        assert "gone-connection=" not in _rows(db, user) and len(_rows(db, user)) == 1


def test_disconnect_deletes_the_connection(live_server, db, new_user_id) -> None:
    user = new_user_id()
    with _open(live_server, user):
        assert len(_rows(db, user)) == 1
    deadline = time.monotonic() + 3
    while _rows(db, user) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _rows(db, user) == []


def test_at_most_five_connections_per_user_the_oldest_goes(
    live_server, db, new_user_id, generous_budget
) -> None:
    user = new_user_id()
    with ExitStack() as stack:
        sockets = [stack.enter_context(_open(live_server, user)) for _ in range(6)]
        rows = _rows(db, user)
        assert len(rows) == MAX_CONNECTIONS_PER_USER
        _attempts(live_server, attempt_body(user_id=user))
        for ws in sockets[1:]:
            assert json.loads(ws.recv(timeout=1.0))["progress"]["total_attempts"] == 1
        # evicted: closed at the gateway (the $connect function asked the management API), no longer pushed to
        with pytest.raises(ConnectionClosed):
            sockets[0].recv(timeout=1.0)
        assert sockets[0].close_code == 1000


def test_local_attempts_answers_the_batch_response(live_server, db, new_user_id) -> None:
    user = new_user_id()
    answer = _attempts(live_server, attempt_body(user_id=user), json.dumps({"user_id": user}))
    assert [f["itemIdentifier"][:9] for f in answer["batchItemFailures"]] == ["local-01-"]
    # as many messages as the template's event source mapping delivers in one batch, and no more
    batch_size = sqs_consumer(load_template(ROOT / "template.yaml")).batch_size
    assert len(_attempts(live_server, *["{}"] * batch_size)["batchItemFailures"]) == batch_size
    too_many = json.dumps([{}] * (batch_size + 1)).encode()
    for bad in (b"{}", b"[]", b"not json", too_many, b"[" * 100_000):
        status, _, body = http_request(f"{live_server}/local/attempts", "POST", body=bad)
        assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"


def test_management_stand_in_takes_signed_requests_only(live_server) -> None:
    status, headers, _ = http_request(f"{live_server}/@connections/abc", "POST", body=b"hi")
    assert status == 403 and headers["x-amzn-errortype"] == "ForbiddenException"


@contextmanager
def _live_settings(**changes) -> Iterator[None]:
    previous = get_live_settings()
    set_live_settings(LiveSettings(**{**previous.model_dump(), **changes}))
    try:
        yield
    finally:
        set_live_settings(previous)


def _metric(capsys, name: str) -> list[float]:
    """The values of one metric in the EMF lines the handler printed."""
    values: list[float] = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith('{"_aws"') and name in (document := json.loads(line)):
            values.extend(document[name])
    return values


def test_a_silent_management_endpoint_does_not_hold_the_batch_beyond_its_budget(
    load_function, db, new_user_id, silent_endpoint, capsys, monkeypatch
) -> None:
    # 10 users x 5 connections: unbounded, 50 calls that each wait out their 0.5 s read timeout would take
    # about 7 rounds of the 8 workers, over 3 s
    users = [new_user_id() for _ in range(10)]
    with db.connect() as conn:
        for user in users:
            for n in range(MAX_CONNECTIONS_PER_USER):
                conn.execute(
                    text("INSERT INTO live_connections (connection_id, user_id) VALUES (:c, :u)"),
                    {"c": f"c{n}-{user}", "u": user},
                )
    module = load_function("record_attempts")
    handler = module.lambda_handler
    push_seconds: list[float] = []

    def timed_push(*args, **kwargs):
        started = time.monotonic()
        try:
            return push_after_batch(*args, **kwargs)
        finally:
            push_seconds.append(time.monotonic() - started)

    monkeypatch.setattr(module, "push_after_batch", timed_push)
    event = sqs_event(*(sqs_record(attempt_body(user_id=user)) for user in users))
    budget = 0.5
    _management_client(silent_endpoint)  # built once per container; not what this test is about
    with _live_settings(live_management_endpoint=silent_endpoint, live_push_budget_seconds=budget):
        result = handler(event, FakeLambdaContext())
        assert result == {"batchItemFailures": []}
        # what the push added to the batch: its budget, and slack for a busy test machine
        assert push_seconds[-1] < budget + 1.0, push_seconds
        assert _metric(capsys, "LivePushesSkipped") == [10 * MAX_CONNECTIONS_PER_USER]
    # the endpoint is paused as unreachable: the next batch does not wait out even a long budget
    with _live_settings(live_management_endpoint=silent_endpoint, live_push_budget_seconds=3.0):
        assert handler(sqs_event(sqs_record(attempt_body(user_id=users[0]))), FakeLambdaContext()) == {
            "batchItemFailures": []
        }
        assert push_seconds[-1] < 2.0, push_seconds
        assert _metric(capsys, "LivePushesSkipped") == [MAX_CONNECTIONS_PER_USER]
    with db.connect() as conn:  # committed before the push; connections kept (not known to be gone)
        assert (
            conn.execute(
                text("SELECT count(*) FROM attempts WHERE user_id = ANY(:u)"), {"u": users}
            ).scalar_one()
            == 11
        )
        assert (
            conn.execute(
                text("SELECT count(*) FROM live_connections WHERE user_id = ANY(:u)"), {"u": users}
            ).scalar_one()
            == 10 * MAX_CONNECTIONS_PER_USER
        )


def test_push_through_the_aws_management_api_with_moto(load_function, db, new_user_id) -> None:
    """The consumer's request as AWS receives it: the stage path, the connection id, the body."""
    from moto import mock_aws
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    alice, bob = new_user_id(), new_user_id()
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO live_connections (connection_id, user_id) "
                "VALUES ('aliceConnection1', :a), ('bobConnection1', :b)"
            ),
            {"a": alice, "b": bob},
        )
    endpoint = "https://abc1234567.execute-api.eu-west-1.amazonaws.com/live"
    # a generous budget: the first boto3 client of the process is built inside it
    with mock_aws(), _live_settings(live_management_endpoint=endpoint, live_push_budget_seconds=10.0):
        result = load_function("record_attempts").lambda_handler(
            sqs_event(sqs_record(attempt_body(user_id=alice, is_correct=True))), FakeLambdaContext()
        )
        assert result == {"batchItemFailures": []}
        backend = apigatewaymanagementapi_backends["123456789012"]["eu-west-1"]
        message = json.loads(backend.connections["aliceConnection1"].data)
        assert "bobConnection1" not in backend.connections
    assert message["type"] == "progress"
    assert message["progress"]["user_id"] == alice and message["progress"]["total_attempts"] == 1
    assert "recent_attempts" not in message["progress"]


def test_no_endpoint_no_push_and_no_statement(count_sql, new_user_id) -> None:
    with _live_settings(live_management_endpoint=None):
        report = push_progress([new_user_id()])
    assert report.users == 0 and count_sql.count == 0


def test_a_ticket_is_consumed_once_even_by_simultaneous_connects(db, new_user_id) -> None:
    import threading

    from progress_common.live_connections import bind_connection
    from progress_common.live_tickets import issue_ticket

    user = new_user_id()
    ticket = issue_ticket(user).ticket
    barrier = threading.Barrier(4)
    results: list[int | None] = []

    def connect_once(n: int) -> None:
        barrier.wait()
        results.append(bind_connection(ticket, f"racer-{n}-{user}")[0])

    threads = [threading.Thread(target=connect_once, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [user, None, None, None]
    assert len(_rows(db, user)) == 1


def test_the_consumer_imports_boto3_only_when_it_pushes(test_database, db, new_user_id) -> None:
    """Cold-start rule: with the endpoint configured but nobody connected, boto3 stays unimported.
    (Powertools imports the bare `botocore` package for its user agent; botocore's session is the cost.)"""
    import os
    import subprocess
    import sys

    user = new_user_id()
    script = f"""
import json, sys
sys.path.insert(0, {str(ROOT / "functions" / "record_attempts")!r})
import app
from tests.events import FakeLambdaContext, attempt_body, sqs_event, sqs_record
event = sqs_event(sqs_record(attempt_body(user_id={user})))
assert app.lambda_handler(event, FakeLambdaContext()) == {{"batchItemFailures": []}}
print(json.dumps(sorted(m for m in ("boto3", "botocore.session") if m in sys.modules)))
"""
    env = {
        **os.environ,
        "DATABASE_URL": test_database.url,
        "LIVE_MANAGEMENT_ENDPOINT": "https://abc1234567.execute-api.eu-west-1.amazonaws.com/live",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_DISABLED": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_with_nobody_connected_the_push_costs_one_statement_without_parameters(
    count_sql, new_user_id, silent_endpoint
) -> None:
    """The consumer's price for live updates when nobody is watching: one simple Query (one round trip)."""
    with _live_settings(live_management_endpoint=silent_endpoint):
        report = push_progress([new_user_id(), new_user_id()])
    assert report.users == 0 and report.sent == report.skipped == 0
    (statement,) = count_sql.statements
    assert "progress_live_connections_v1(ARRAY[" in statement and "%s" not in statement


def test_running_out_of_budget_before_any_call_does_not_pause_pushing(live_server, db, new_user_id) -> None:
    user = new_user_id()
    with _open(live_server, user) as ws:
        with _live_settings(live_push_budget_seconds=0.001):  # spent by the reads, before any call
            _attempts(live_server, attempt_body(user_id=user))
            assert _quiet(ws, 0.3)
        with _live_settings(live_push_budget_seconds=5.0):  # the endpoint was not found wanting: no pause
            _attempts(live_server, attempt_body(user_id=user))
            assert json.loads(ws.recv(timeout=1.0))["progress"]["total_attempts"] == 2
