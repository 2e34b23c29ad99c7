"""The learner's data export and erasure through `progress-admin serve`, end to end on loopback: the export
queue and bucket stand-ins (`POST /local/sqs`, a folder, signed download links on serve's own URL), the real
handlers behind them."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from progress_admin.local.gateway import make_token
from progress_admin.local.serve import create_server
from tests.events import http_request
from tests.learner_data import read_export_file, recount, seed_learner

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def local(engine, tmp_path) -> Iterator[dict[str, Any]]:
    exports_dir = tmp_path / "exports"
    server = create_server(ROOT, "127.0.0.1", 0, log=lambda line: None, exports_dir=exports_dir)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "url": f"http://127.0.0.1:{server.server_address[1]}",
        "exports": server.exports,
        "dir": exports_dir,
    }
    server.shutdown()
    server.server_close()


def request(local: dict[str, Any], method: str, path: str, claims: dict[str, Any]) -> tuple[int, dict, Any]:
    status, headers, body = http_request(f"{local['url']}{path}", method, token=make_token(claims))
    return status, headers, json.loads(body) if body else None


def test_an_export_is_made_stored_and_downloaded_on_loopback(local, db, new_user_id) -> None:
    learner, other = new_user_id(), new_user_id()
    seed_learner(db, learner, answer="la maison")
    seed_learner(db, other, answer="der Hund")
    status, headers, started = request(local, "POST", "/progress/export", {"sub": f"user_{learner}"})
    assert status == 202 and headers["location"] == f"/progress/export/{started['export_id']}"
    local["exports"].wait()
    status, _, ready = request(
        local, "GET", f"/progress/export/{started['export_id']}", {"sub": str(learner)}
    )
    assert status == 200 and ready["status"] == "ready", ready
    link = urlsplit(ready["download_url"])
    assert f"{link.scheme}://{link.netloc}" == local["url"] and link.path.startswith("/local/exports/users/")
    status, headers, data = http_request(ready["download_url"])
    assert status == 200 and headers["content-type"] == "application/gzip"
    assert (
        headers["content-disposition"]
        == f'attachment; filename="progress-export-{started["export_id"]}.jsonl.gz"'
    )
    exported = read_export_file(data)
    assert exported.manifest["counts"] == dict(exported.kinds) == recount(db, learner) == ready["counts"]
    assert "der Hund" not in gzip.decompress(data).decode()
    files = list(local["dir"].rglob("*.jsonl.gz"))
    assert len(files) == 1 and files[0].read_bytes() == data
    # an altered link, or one for another file, is refused as S3 refuses them
    assert http_request(ready["download_url"].replace("signature=", "signature=0"))[0] == 403
    other_key = ready["download_url"].replace(f"/users/{learner}/", f"/users/{other}/")
    assert http_request(other_key)[0] == 403
    # another learner cannot see it
    assert request(local, "GET", f"/progress/export/{started['export_id']}", {"sub": str(other)})[0] == 404


def test_reset_and_erasure_remove_the_local_files(local, db, new_user_id, capsys) -> None:
    from progress_admin.cli import main

    learner, other = new_user_id(), new_user_id()
    for user in (learner, other):
        seed_learner(db, user)
        assert request(local, "POST", "/progress/export", {"sub": str(user)})[0] == 202
        local["exports"].wait()
    assert len(list(local["dir"].rglob("*.jsonl.gz"))) == 2
    status, _, body = request(local, "POST", "/progress/reset", {"sub": str(learner)})
    assert status == 200 and body["deleted"]["exports"] == 1
    assert [p.parts[-4] for p in local["dir"].rglob("*.jsonl.gz")] == ["users"] and not (
        local["dir"] / "users" / str(learner)
    ).exists()
    # erasure: the app's backend, with the scope in its token (serve passes it as API Gateway does)
    assert request(local, "DELETE", f"/progress/users/{other}", {"sub": "backend"})[0] == 403
    assert main(["token", "--user", "backend", "--scope", "progress/erase"]) == 0
    backend = capsys.readouterr().out.strip().splitlines()[-1]  # (metrics go to stdout too)
    status, _, data = http_request(f"{local['url']}/progress/users/user_{other}", "DELETE", token=backend)
    body = json.loads(data)
    assert status == 200 and body["deleted"]["export_files"] == 1 and body["deleted"]["attempts"] == 6
    assert list(local["dir"].rglob("*.jsonl.gz")) == []
    assert set(recount(db, other).values()) == {0}


def test_the_sqs_stand_in_takes_signed_send_message_calls_only(local) -> None:
    url = f"{local['url']}/local/sqs"
    assert http_request(url, "POST", body=b"{}")[0] == 403
    signed = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=local/...",
        "X-Amz-Target": "AmazonSQS.DeleteQueue",
    }
    assert http_request(url, "POST", body=b"{}", headers=signed)[0] == 400
