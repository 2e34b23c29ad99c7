"""`progress-admin serve` over real HTTP on loopback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from progress_admin.local.gateway import make_token, unverified_claims
from progress_admin.local.serve import create_server
from tests.conftest import insert_attempts_sql
from tests.events import http_request

ROOT = Path(__file__).resolve().parent.parent


def test_every_route_over_http(live_server, db, new_user_id) -> None:
    import datetime as dt

    user = new_user_id()
    token = make_token({"sub": f"user_{user}"})
    insert_attempts_sql(
        db,
        [
            {
                "user_id": user,
                "exercise_id": 5,
                "is_correct": True,
                "created_at": dt.datetime.now(dt.UTC),
                "user_answer": "hé ✓",
            }
        ],
    )
    status, headers, body = http_request(f"{live_server}/progress?limit=5", token=token)
    assert status == 200 and headers["content-type"] == "application/json"
    progress = json.loads(body)
    assert progress["user_id"] == user and progress["recent_attempts"][0]["user_answer"] == "hé ✓"
    assert headers["apigw-requestid"]
    status, _, body = http_request(f"{live_server}/progress/statistics?days=2", token=token)
    assert status == 200 and len(json.loads(body)["daily"]) == 2
    status, _, body = http_request(f"{live_server}/progress/statistics?days=0", token=token)
    assert status == 422 and json.loads(body)["error"]["code"] == "validation_error"
    status, _, body = http_request(
        f"{live_server}/progress/reset",
        "POST",
        token=token,
        body=b'{"anything": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert status == 200 and json.loads(body)["deleted"]["attempts"] == 1


def test_gateway_behaviour_without_token_or_route(live_server) -> None:
    status, _, body = http_request(f"{live_server}/progress")
    assert status == 401 and json.loads(body) == {"message": "Unauthorized"}
    status, _, body = http_request(f"{live_server}/progress", token="not-a-jwt")
    assert status == 401
    status, _, _ = http_request(f"{live_server}/elsewhere", token=make_token({"sub": "7"}))
    assert status == 404
    # a readable token whose claim is not a user id reaches the function, which answers 401 itself
    status, _, body = http_request(
        f"{live_server}/progress", token=make_token({"sub": "robert'); DROP TABLE"})
    )
    assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"


def test_serve_leaves_the_body_limit_to_the_function(live_server, db) -> None:
    from progress_common.http import MAX_BODY_BYTES

    token = make_token({"sub": "user_5"})
    status, _, body = http_request(
        f"{live_server}/progress/reset", "POST", token=token, body=b"x" * (MAX_BODY_BYTES + 1)
    )
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    assert (
        http_request(f"{live_server}/progress/reset", "POST", token=token, body=b"x" * MAX_BODY_BYTES)[0]
        == 200
    )


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", "\u0661"])
def test_a_content_length_that_is_no_length_is_a_400_not_a_dropped_connection(live_server, length) -> None:
    host, port = live_server.removeprefix("http://").split(":")
    request = (
        f"POST /progress/reset HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
        f"Authorization: Bearer {make_token({'sub': 'user_5'})}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request.encode())
        reply = b""
        while chunk := sock.recv(4096):  # the server closes the connection after its answer
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    _assert_refused(head, 400)
    assert json.loads(body) == {"message": "Bad Request"}


def test_openapi_and_swagger_ui_are_served_from_local_assets(live_server) -> None:
    status, _, body = http_request(f"{live_server}/openapi.json")
    assert status == 200 and "/progress/statistics" in json.loads(body)["paths"]
    status, _, page = http_request(f"{live_server}/docs")
    assert status == 200 and b"/docs/swagger-ui-bundle.min.js" in page and b"https://" not in page
    status, headers, asset = http_request(f"{live_server}/docs/swagger-ui-bundle.min.js")
    assert status == 200 and len(asset) > 100_000 and headers["content-type"] == "application/javascript"


def test_refuses_to_listen_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        create_server(ROOT, "0.0.0.0", 0, log=print)


def test_unverified_claims_reads_only_well_formed_bearer_tokens() -> None:
    assert unverified_claims(f"Bearer {make_token({'sub': 'user_7'})}") == {"sub": "user_7"}
    assert unverified_claims(f"bearer {make_token({'sub': 7})}") == {"sub": 7}
    for bad in (None, "", "Basic abc", "Bearer a.b", "Bearer a.!!!.c", "Bearer a.bnVsbA.c"):
        assert unverified_claims(bad) is None


@pytest.mark.parametrize("database", ["DATABASE_URL", "embedded"])
def test_the_readme_command_serves_the_api(test_database, db, new_user_id, tmp_path, database) -> None:
    """`progress-admin serve` as a process: (starts the embedded PostgreSQL when DATABASE_URL is unset,)
    migrates, announces itself, answers over HTTP."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PROGRESS_LOCAL_DIR": str(tmp_path / "local")}
    if database == "DATABASE_URL":
        env["DATABASE_URL"] = test_database.url
    else:
        env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "progress_admin.cli", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner = []
        url = None
        assert proc.stderr is not None
        for line in proc.stderr:
            banner.append(line)
            match = re.search(r"Listening on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1)
            if line.startswith("=====") and url:
                break
        assert url, "".join(banner)
        assert any("NO JWT verification" in line for line in banner)
        if database == "embedded":
            assert any("using the embedded PostgreSQL" in line for line in banner)
        status, _, body = http_request(f"{url}/progress", token=make_token({"sub": str(new_user_id())}))
        assert status == 200 and json.loads(body)["total_attempts"] == 0
    finally:
        proc.terminate()
        proc.wait(10)


# aiohttp answers a request it could not parse as HTTP/1.0 (it has no version of the request to answer
# in; RFC 9112 2.3 allows 1.0) and closes: 1.0 closes without a Connection header (RFC 9112 9.3); after a
# request it parsed, it says HTTP/1.1 with Connection: close. Either way _raw_exchange reads to the close.
def _assert_refused(head: bytes, status: int) -> None:
    version, code = head.split(b" ", 2)[:2]
    assert code == b"%d" % status, head
    assert version == b"HTTP/1.0" or b"\r\nConnection: close" in head, head


def _raw_exchange(base: str, request: bytes, bodiless: int = 0) -> list[tuple[bytes, bytes]]:
    """Send raw bytes on one connection; the (head, body) of every answer until the server closes it
    (after a refusal, or after a request that says `Connection: close`). The first `bodiless` answers are
    to HEAD requests: their Content-Length is the GET's, with no body sent."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    answers = []
    while reply:
        head, _, rest = reply.partition(b"\r\n\r\n")
        length = 0 if len(answers) < bodiless else _content_length(head)
        answers.append((head, rest[:length]))
        reply = rest[length:]
    return answers


def _content_length(head: bytes) -> int:
    """The body's length; none for a 204, which has no Content-Length (RFC 9110 8.6)."""
    found = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return int(found.group(1)) if found else 0


def _chunked(payload: bytes, size: int = 7, extension: bytes = b"") -> bytes:
    parts = [payload[i : i + size] for i in range(0, len(payload), size)]
    return b"".join(b"%x%s\r\n%s\r\n" % (len(part), extension, part) for part in parts) + b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("extension", "trailers"),
    [
        (b"", b""),
        # RFC 9112 sets no bound on chunk extensions or trailer fields: long ones are still one line each
        (b";e=" + b"x" * 2000, b"X-Pad: " + b"a" * (8192 - 7) + b"\r\nX-Other: b\r\n"),
    ],
)
def test_a_chunked_body_is_read_whole_and_the_connection_stays_usable(
    live_server, db, new_user_id, extension, trailers
) -> None:
    from tests.events import attempt_body

    user = new_user_id()
    messages = f"[{attempt_body(user_id=user)}]".encode()
    token = make_token({"sub": f"user_{user}"})
    host = live_server.removeprefix("http://")
    body = _chunked(messages, extension=extension).removesuffix(b"\r\n") + trailers + b"\r\n"
    request = (
        b"POST /local/attempts HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n%s"
        b"GET /progress HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n"
        % (host.encode(), body, host.encode(), token.encode())
    )
    (batch_head, batch), (progress_head, progress) = _raw_exchange(live_server, request)
    assert batch_head.startswith(b"HTTP/1.1 200 ") and json.loads(batch) == {"batchItemFailures": []}
    assert progress_head.startswith(b"HTTP/1.1 200 ") and json.loads(progress)["total_attempts"] == 1


@pytest.mark.parametrize(
    ("chunks", "status", "message"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", 400, "Bad Request"),  # not a hex size
        (b"5\r\nabc\r\n0\r\n\r\n", 400, "Bad Request"),  # shorter than announced
        # lines beyond aiohttp's bounds (a size line with its extensions: 8 190 bytes, as the request
        # line; a trailer field: 10 240, as a header line), and too many trailer fields
        (b"3;e=%s\r\nabc\r\n0\r\n\r\n" % (b"x" * 70_000), 400, "Bad Request"),
        (b"3\r\nabc\r\n0\r\nX-Pad: %s\r\n\r\n" % (b"a" * 70_000), 400, "Bad Request"),
        (b"3\r\nabc\r\n0\r\n%s\r\n" % (b"X-T: y\r\n" * 101), 400, "Bad Request"),
    ],
)
def test_a_broken_or_oversized_chunked_body_is_a_json_error(live_server, chunks, status, message) -> None:
    host = live_server.removeprefix("http://")
    request = b"POST /local/attempts HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n%s" % (
        host.encode(),
        chunks,
    )
    [(head, body)] = _raw_exchange(live_server, request)
    _assert_refused(head, status)
    assert json.loads(body) == {"message": message}


@pytest.mark.parametrize("cut", [b"3", b"%x\r\n%s", b"%x\r\n%s\r\n0\r\nX-Trailer: y"])
def test_a_body_cut_short_by_the_end_of_the_input_reaches_no_function(
    live_server, db, new_user_id, cut
) -> None:
    """The client closes its side before the body is whole: no function runs on what came. aiohttp closes
    the connection without an answer (RFC 9112 8: a server MAY answer an incomplete request)."""
    from tests.events import attempt_body

    user = new_user_id()
    messages = f"[{attempt_body(user_id=user)}]".encode()
    host, port = live_server.removeprefix("http://").split(":")
    body = cut % (len(messages), messages) if b"%" in cut else cut
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /local/attempts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%s" % body
        )
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert not reply.startswith(b"HTTP/1.1 200")
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM attempts WHERE user_id = :u"), {"u": user}).scalar() == 0
        )


def test_http_servers_own_refusals_are_json_not_html(live_server) -> None:
    host = live_server.removeprefix("http://").encode()
    too_large = b"GET /progress HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n" % (host, b"a" * 70_000)
    [(head, body)] = _raw_exchange(live_server, too_large)
    _assert_refused(head, 431)
    assert b"application/json" in head and json.loads(body) == {"message": "Request Header Fields Too Large"}
    # a coding other than chunked last: no telling where the body ends (RFC 9112 6.3: 400, then close)
    gzip = b"POST /local/attempts HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: gzip\r\n\r\n" % host
    [(head, body)] = _raw_exchange(live_server, gzip)
    _assert_refused(head, 400)
    assert json.loads(body) == {"message": "Bad Request"}


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "framed", "status"),
    [
        (b"GET / HTTP/1.1", b"Content-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED), 200),
        (b"GET /dashboard/app.js HTTP/1.1", b"Content-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED), 200),
        (b"GET /openapi.json HTTP/1.1", b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(SMUGGLED), 200),
        (b"GET /docs HTTP/1.1", b"Content-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED), 200),
        (
            b"OPTIONS /progress HTTP/1.1",
            b"Origin: http://localhost:5173\r\nAccess-Control-Request-Method: GET\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED),
            204,
        ),
    ],
)
def test_a_body_sent_to_what_serve_answers_itself_is_read_not_taken_for_a_request(
    live_server, head, framed, status
) -> None:
    """The dashboard, the docs and preflights answer without a function, but a body they were sent is
    still the body: on a keep-alive connection it must not be parsed as the next request."""
    host = live_server.removeprefix("http://").encode()
    follow_up = b"GET /openapi.json HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host
    answers = _raw_exchange(live_server, b"%s\r\nHost: %s\r\n%s%s" % (head, host, framed, follow_up))
    assert [answer_head.split(b" ", 2)[1] for answer_head, _ in answers] == [b"%d" % status, b"200"]
    assert json.loads(answers[1][1])["openapi"]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_upload_over_10_mb_reads_its_413_rather_than_a_reset(live_server, framing) -> None:
    """serve refuses the body unread; it lingers on the connection so that a client still sending gets
    to read the answer instead of a reset (aiohttp lingers: LINGER_SECONDS in progress_admin/local/server.py)."""
    host, port = live_server.removeprefix("http://").split(":")
    size = 10 * 1024 * 1024 + 1
    framed = (
        b"Content-Length: %d\r\n\r\n" % size
        if framing == "content-length"
        else b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % size
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /local/attempts HTTP/1.1\r\nHost: %s\r\n%s" % (host.encode(), framed))
        sock.sendall(b"a" * size)  # before the fix: BrokenPipeError / ConnectionResetError here
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and b"\r\nConnection: close" in head
    assert json.loads(body) == {"message": "Request Entity Too Large"}


def test_an_answer_to_a_head_request_has_no_body(live_server) -> None:
    """HEAD is answered as GET would be, without the body (RFC 9110 9.3.2): the API has no HEAD route
    (404, as API Gateway says for a method without a route), the dashboard has its page; the next request
    on the connection is read as a request."""
    host = live_server.removeprefix("http://").encode()
    answers = _raw_exchange(
        live_server,
        b"HEAD /progress HTTP/1.1\r\nHost: %s\r\n\r\nHEAD / HTTP/1.1\r\nHost: %s\r\n\r\n"
        b"GET /openapi.json HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (host, host, host),
        bodiless=2,
    )
    assert [head.split(b" ", 2)[1] for head, _ in answers] == [b"404", b"200", b"200"]
    assert (
        answers[1][0].lower().count(b"content-type: text/html") == 1 and json.loads(answers[2][1])["openapi"]
    )


FIELD = b"X-Big: %s\r\n"


@pytest.mark.parametrize(
    ("request_line", "headers", "status"),
    [
        (
            b"GET /openapi.json",
            b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(63)),
            200,
        ),  # 63 KB
        # aiohttp has no bound on the head as a whole: 70 KB in 1 KB lines is taken
        (b"GET /openapi.json", b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(70)), 200),
        (b"GET /openapi.json", FIELD % (b"a" * (10240 - 7)), 200),  # a header line of 10 240 bytes
        (b"GET /openapi.json", FIELD % (b"a" * (10240 - 6)), 431),  # one byte more
        (b"GET /openapi.json", FIELD % (b"a" * 70_000), 431),
        (b"GET /openapi.json", b"".join(b"X-H%d: a\r\n" % i for i in range(97)), 200),  # 99 fields in all
        (b"GET /openapi.json", b"".join(b"X-H%d: a\r\n" % i for i in range(98)), 431),  # 100 fields in all
        (b"GET /docs?%s" % (b"a" * (8190 - 19)), b"", 200),  # a request line of 8 190 bytes
        (b"GET /docs?%s" % (b"a" * (8190 - 18)), b"", 414),  # one byte more
    ],
)
def test_header_limits_are_the_documented_ones(live_server, request_line, headers, status) -> None:
    host = live_server.removeprefix("http://").encode()
    answers = _raw_exchange(
        live_server, b"%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n" % (request_line, host, headers)
    )
    assert answers[0][0].split(b" ", 2)[1] == b"%d" % status and len(answers) == 1
    if status == 431:
        assert json.loads(answers[0][1]) == {"message": "Request Header Fields Too Large"}
    if status == 414:
        assert json.loads(answers[0][1]) == {"message": "Request-URI Too Long"}


@pytest.fixture
def cors_live_server(engine) -> Iterator[str]:
    server = create_server(
        ROOT, "127.0.0.1", 0, log=lambda line: None, parameter_overrides={"CorsAllowedOrigins": ORIGIN}
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


ORIGIN = "http://localhost:5173"


@pytest.mark.parametrize(
    "refused",
    [
        b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % (b"a" * 70_000),  # 431
        b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % (b"a" * 70_000),  # 414
    ],
)
def test_a_refusal_on_a_kept_alive_connection_takes_no_cors_from_the_request_before(
    cors_live_server, refused
) -> None:
    host, port = cors_live_server.removeprefix("http://").split(":")
    first = b"GET /openapi.json HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\n\r\n" % (host.encode(), ORIGIN.encode())
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(first)  # answered before the refused request is sent, on the same connection
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < _content_length(reply):
            reply += sock.recv(65536)
        ok_head = reply.partition(b"\r\n\r\n")[0]
        sock.sendall(refused)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        refused_head = reply.partition(b"\r\n\r\n")[0]
    assert (
        ok_head.startswith(b"HTTP/1.1 200 ") and b"Access-Control-Allow-Origin: " + ORIGIN.encode() in ok_head
    )
    assert refused_head.split(b" ", 2)[1] in (b"414", b"431")
    assert b"Access-Control-Allow-Origin" not in refused_head


def test_a_body_framed_twice_is_refused_and_the_connection_closes(live_server) -> None:
    """Both Transfer-Encoding and Content-Length: how a request is smuggled past a proxy that reads the
    other one; aiohttp treats it as the error RFC 9112 6.3 says it ought to be (400) and closes, so the
    request behind it is never read."""
    host = live_server.removeprefix("http://").encode()
    request = (
        b"GET /openapi.json HTTP/1.1\r\nHost: %s\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%s%s" % (host, _chunked(b"abc"), SMUGGLED)
    )
    [(head, body)] = _raw_exchange(live_server, request)
    _assert_refused(head, 400)
    assert json.loads(body) == {"message": "Bad Request"}


@pytest.mark.parametrize("second", [b"%d" % len(SMUGGLED), b"0"])
def test_content_length_fields_more_than_one_are_a_400(live_server, second) -> None:
    """Content-Length fields that disagree leave no telling which frames the body; aiohttp refuses a
    repeated one even when it agrees (RFC 9110 8.6 lets a recipient reject it)."""
    host = live_server.removeprefix("http://").encode()
    request = (
        b"GET /openapi.json HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nContent-Length: %s\r\n\r\n%s"
        % (
            host,
            second,
            SMUGGLED,
        )
    )
    [(head, body)] = _raw_exchange(live_server, request)
    _assert_refused(head, 400)
    assert json.loads(body) == {"message": "Bad Request"}


def test_a_chunked_body_found_broken_after_its_headers_were_taken_is_a_400(live_server) -> None:
    """The body arrives after the request was handed to serve (a second packet) and is broken: the read
    fails and serve answers, rather than waiting for ever (why serve runs aiohttp's pure-Python parser:
    progress_admin/local/web.py)."""
    from progress_admin.local.web import C_PARSER

    assert not C_PARSER
    host, port = live_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /local/attempts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        time.sleep(0.3)  # the head is parsed and the request handed over, its body not yet there
        sock.sendall(b"zz\r\nabc\r\n0\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    _assert_refused(head, 400)
    assert json.loads(body) == {"message": "Bad Request"}


def test_a_shutdown_before_the_serving_thread_starts_stops_it_before_it_serves(engine) -> None:
    """A test's teardown (or a signal) may call shutdown() before serve_forever() has started in its thread:
    the thread then serves nothing and ends, and server_close() never closes a socket under a running loop."""
    server = create_server(ROOT, "127.0.0.1", 0, log=lambda line: None)
    try:
        started = time.monotonic()
        server.shutdown()  # nothing serves yet: returns at once
        assert time.monotonic() - started < 1
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        thread.join(5)
        assert not thread.is_alive()  # it did not serve on (without the request it would, until shutdown)
    finally:
        server.server_close()
