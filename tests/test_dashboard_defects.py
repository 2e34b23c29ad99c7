"""The dashboard's token goes only to the API it was given for, a second `#token=` link in a tab takes
over, a reset in one window reaches the others, and the largest id the API returns is shown exactly: in
real headless Chromium against `serve`, with a second loopback server playing "the other host" that
records every request it gets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from progress_admin.local.gateway import make_token
from progress_admin.local.serve import create_server, own_origins
from progress_admin.local.static import dashboard_csp, origin_of
from tests.browser import _api, _open, _shown


class OtherHost:
    """A server on another loopback port that answers anything (CORS wide open, a JSON body) and
    records each request: path and Authorization header."""

    def __init__(self) -> None:
        requests: list[tuple[str, str | None]] = []
        self.requests = requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                requests.append((self.path, self.headers.get("Authorization")))
                body = b'{"total_attempts": 999999}'
                self.send_response(200)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "authorization, content-type")
                self.send_header("Access-Control-Allow-Methods", "GET, POST")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_OPTIONS = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other_host() -> Iterator[OtherHost]:
    host = OtherHost()
    yield host
    host.close()


def _settle(page: Any) -> None:
    page.wait_for_timeout(1500)  # long enough for the page's start-up requests to have gone out


@pytest.mark.slow
def test_a_link_never_sends_the_tabs_token_to_another_host(browser, site, demo_learner, other_host) -> None:
    token = demo_learner["token"]
    page = _open(browser, site, token)
    _shown(page)
    # the tab holds the token; links that name another API arrive in it
    for link in (
        f"{site['page']}/?api={other_host.url}",
        f"{site['page']}/#api={other_host.url}",
        f"{site['page']}/?api={other_host.url}#api={other_host.url}",
    ):
        page.goto(link)
        _settle(page)
        _shown(page)  # the learner's own figures, from the API the token was given for
        assert "api=" not in page.url.split("#", 1)[-1] or "#" not in page.url
    expected = _api(site, token, "/progress")["total_attempts"]
    assert int(page.inner_text("#total-attempts").replace(",", "")) == expected
    # a token that arrives with another API replaces the tab's pair; the CSP allows that host nothing
    foreign = make_token({"sub": "user_1"})
    page.goto(f"{site['page']}/#token={foreign}&api={other_host.url}")
    _settle(page)
    assert other_host.requests == []  # not the tab's token, not the new one, nothing at all
    assert token not in page.url and foreign not in page.url


def test_the_dashboard_may_talk_to_its_own_and_the_configured_origins_only() -> None:
    csp = dashboard_csp([*own_origins("127.0.0.1", 3000, 3001), origin_of("https://api.example.com/")])
    (connect,) = [d for d in csp.split("; ") if d.startswith("connect-src ")]
    assert connect.split()[1:] == [
        "'self'",
        "http://127.0.0.1:3000",
        "http://localhost:3000",
        "ws://127.0.0.1:3001",
        "ws://localhost:3001",
        "https://api.example.com",
    ]
    for wildcard in ("http:", "https:", "ws:", "wss:", "*"):
        assert wildcard not in connect.split()
    for bad in ("ftp://x", "https://user@x", "https://x/path", "https://x?q", "x.example.com"):
        with pytest.raises(ValueError):
            origin_of(bad)


def test_serve_sends_that_policy_with_the_page(engine) -> None:
    server = create_server(
        __import__("tests.conftest", fromlist=["ROOT"]).ROOT,
        "127.0.0.1",
        0,
        log=lambda line: None,
        dashboard_api_origins=["https://abc.execute-api.eu-west-1.amazonaws.com"],
    )
    try:
        port = server.server_address[1]
        assert f"http://localhost:{port}" in server.dashboard_csp
        assert "https://abc.execute-api.eu-west-1.amazonaws.com" in server.dashboard_csp
        assert " http: " not in server.dashboard_csp and "wss:" not in server.dashboard_csp
    finally:
        server.server_close()


@pytest.mark.slow
def test_a_second_token_link_in_the_same_tab_takes_over_and_leaves_the_address_bar(
    browser, site, demo_learner, new_user_id, db
) -> None:
    page = _open(browser, site, demo_learner["token"])
    _shown(page)
    other = new_user_id()  # a learner with no history
    other_token = make_token({"sub": str(other)})
    page.evaluate(f"location.hash = '#token={other_token}&api={site['api']}'")
    page.wait_for_function(
        "() => document.getElementById('total-attempts').textContent === '0'", timeout=10_000
    )
    assert other_token not in page.url and "token=" not in page.url
    assert page.evaluate("sessionStorage.getItem('progress.token')") == other_token
    assert page.errors == []


@pytest.mark.slow
def test_a_reset_in_one_window_reaches_the_other(browser, site, demo_learner) -> None:
    token = demo_learner["token"]
    status, _, _ = __import__("tests.events", fromlist=["http_request"]).http_request(
        f"{site['api']}/progress/live-ticket", "POST", token=token
    )
    if status == 404:
        pytest.fail("the template has no WebSocket API: live updates are part of the build")
    watching, resetting = _open(browser, site, token), _open(browser, site, token)
    for page in (watching, resetting):
        _shown(page)
        page.wait_for_selector('#live-status[data-state="on"]', timeout=10_000)
    assert int(watching.inner_text("#total-attempts").replace(",", "")) > 0
    resetting.click("#reset-open")
    resetting.click("#reset-confirm")
    resetting.wait_for_function(
        "() => document.getElementById('total-attempts').textContent === '0'", timeout=10_000
    )
    # the other window hears of it without a reload: says so, shows zeros, and follows live again
    watching.wait_for_function(
        "() => document.getElementById('total-attempts').textContent === '0'", timeout=10_000
    )
    assert "reset in another window" in watching.inner_text("#notice")
    assert "another window" not in resetting.inner_text("#notice")
    watching.wait_for_selector('#live-status[data-state="on"]', timeout=15_000)
    assert json.loads(json.dumps(watching.errors)) == [] and resetting.errors == []


@pytest.mark.slow
def test_the_largest_id_a_message_may_carry_is_shown_exactly_and_one_more_is_refused(
    browser, site, new_user_id
) -> None:
    from progress_common.models import JSON_SAFE_INT_MAX
    from tests.events import attempt_body, http_request

    user = new_user_id()
    largest = JSON_SAFE_INT_MAX  # 9007199254740991: JSON.parse in the browser keeps it exactly
    bodies = [
        attempt_body(user_id=user, exercise_id=largest),
        attempt_body(user_id=user, exercise_id=largest + 2),
    ]
    status, _, body = http_request(
        f"{site['api']}/local/attempts", "POST", body=f"[{','.join(bodies)}]".encode()
    )
    assert status == 200
    assert len(json.loads(body)["batchItemFailures"]) == 1  # the second: refused, never stored
    page = _open(browser, site, make_token({"sub": str(user)}))
    _shown(page)
    table = page.inner_text("#exercises")
    assert str(largest) in table and str(largest + 2) not in table and "9007199254740992" not in table
    assert page.errors == []
