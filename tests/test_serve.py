"""`progress-admin serve` over real HTTP on loopback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from progress_admin.serve import create_server, make_token, unverified_claims
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
    assert head.startswith(b"HTTP/1.1 400 ") and json.loads(body) == {"message": "Bad Request"}


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


def _raw_exchange(base: str, request: bytes) -> list[tuple[bytes, bytes]]:
    """Send raw bytes on one connection; the (head, body) of every answer until the server closes it."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # no more requests: the server closes after answering what it got
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    answers = []
    while reply:
        head, _, rest = reply.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
        answers.append((head, rest[:length]))
        reply = rest[length:]
    return answers


def _chunked(payload: bytes, size: int = 7) -> bytes:
    parts = [payload[i : i + size] for i in range(0, len(payload), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def test_a_chunked_body_is_read_whole_and_the_connection_stays_usable(live_server, db, new_user_id) -> None:
    from tests.events import attempt_body

    user = new_user_id()
    messages = f"[{attempt_body(user_id=user)}]".encode()
    token = make_token({"sub": f"user_{user}"})
    host = live_server.removeprefix("http://")
    request = (
        b"POST /local/attempts HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n%s"
        b"GET /progress HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n"
        % (host.encode(), _chunked(messages), host.encode(), token.encode())
    )
    (batch_head, batch), (progress_head, progress) = _raw_exchange(live_server, request)
    assert batch_head.startswith(b"HTTP/1.1 200 ") and json.loads(batch) == {"batchItemFailures": []}
    assert progress_head.startswith(b"HTTP/1.1 200 ") and json.loads(progress)["total_attempts"] == 1


@pytest.mark.parametrize(
    ("chunks", "status", "message"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", 400, "Bad Request"),  # not a hex size
        (b"5\r\nabc\r\n0\r\n\r\n", 400, "Bad Request"),  # shorter than announced
        (b"%x\r\n" % (10 * 1024 * 1024 + 1), 413, "Request Entity Too Large"),  # beyond API Gateway's 10 MB
    ],
)
def test_a_broken_or_oversized_chunked_body_is_a_json_error(live_server, chunks, status, message) -> None:
    host = live_server.removeprefix("http://")
    request = b"POST /local/attempts HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n%s" % (
        host.encode(),
        chunks,
    )
    [(head, body)] = _raw_exchange(live_server, request)
    assert head.startswith(b"HTTP/1.1 %d " % status) and json.loads(body) == {"message": message}


def test_http_servers_own_refusals_are_json_not_html(live_server) -> None:
    host = live_server.removeprefix("http://").encode()
    too_large = b"GET /progress HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n" % (host, b"a" * 70_000)
    [(head, body)] = _raw_exchange(live_server, too_large)
    assert head.startswith(b"HTTP/1.1 431 ") and b"application/json" in head
    assert json.loads(body) == {"message": "Request Header Fields Too Large"}
    gzip = b"POST /local/attempts HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: gzip\r\n\r\n" % host
    [(head, body)] = _raw_exchange(live_server, gzip)
    assert head.startswith(b"HTTP/1.1 501 ") and json.loads(body) == {"message": "Not Implemented"}
