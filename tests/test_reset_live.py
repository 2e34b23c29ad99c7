"""A reset ends the learner's live updates, over real sockets on loopback (`progress-admin serve`'s
WebSocket endpoint and management API stand-in, the real reset function): its open connections are told
why and closed after the commit, a ticket issued before it opens nothing after it, and another learner's
connection stays open."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from progress_admin.local.gateway import make_token
from progress_common.live_management import RESET_MESSAGE, reset_push_state
from tests.events import attempt_body, http_request


@pytest.fixture(autouse=True)
def _fresh_push_state() -> Iterator[None]:
    reset_push_state()
    yield
    reset_push_state()


def _ticket(base: str, user: int) -> dict:
    status, _, body = http_request(
        f"{base}/progress/live-ticket", "POST", token=make_token({"sub": str(user)})
    )
    assert status == 200, body
    return json.loads(body)


def _reset(base: str, user: int) -> dict:
    status, _, body = http_request(f"{base}/progress/reset", "POST", token=make_token({"sub": str(user)}))
    assert status == 200, body
    return json.loads(body)


def _live_rows(db, user: int) -> tuple[int, int]:
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT (SELECT count(*) FROM live_tickets WHERE user_id = :u),"
                " (SELECT count(*) FROM live_connections WHERE user_id = :u)"
            ),
            {"u": user},
        ).one()


def test_a_reset_tells_the_open_pages_closes_them_and_spends_earlier_tickets(
    live_server, db, new_user_id
) -> None:
    user, other = new_user_id(), new_user_id()
    status, _, _ = http_request(
        f"{live_server}/local/attempts", "POST", body=f"[{attempt_body(user_id=user)}]".encode()
    )
    assert status == 200
    unused = _ticket(live_server, user)  # issued before the reset, never used
    with (
        connect(_ticket(live_server, user)["url"], open_timeout=5) as first,
        connect(_ticket(live_server, user)["url"], open_timeout=5) as second,
        connect(_ticket(live_server, other)["url"], open_timeout=5) as bystander,
    ):
        assert _live_rows(db, user) == (1, 2)
        answer = _reset(live_server, user)
        assert answer["deleted"]["attempts"] == 1 and answer["deleted"]["live_connections"] == 2
        # each of the learner's pages hears why, then its connection ends
        for ws in (first, second):
            assert (
                json.loads(ws.recv(timeout=2.0))
                == json.loads(RESET_MESSAGE)
                == {
                    "type": "reset",
                    "reason": "progress_reset",
                }
            )
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=2.0)
        # another learner's page is untouched
        with pytest.raises(TimeoutError):
            bystander.recv(timeout=0.5)
        assert _live_rows(db, other) == (0, 1)
    assert _live_rows(db, user) == (0, 0)
    # the ticket issued before the reset opens nothing after it
    with pytest.raises(InvalidStatus) as refused:
        connect(unused["url"], open_timeout=5).close()
    assert refused.value.response.status_code == 401
    # a new ticket works: the learner can follow their fresh start live
    with connect(_ticket(live_server, user)["url"], open_timeout=5):
        assert _live_rows(db, user) == (0, 1)


def test_a_reset_with_nothing_open_still_takes_one_round_trip_and_reports_zero(
    live_server, db, new_user_id
) -> None:
    user = new_user_id()
    assert _reset(live_server, user)["deleted"]["live_connections"] == 0
    assert _live_rows(db, user) == (0, 0)
