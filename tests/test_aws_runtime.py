"""What the functions need to work in AWS, tested on loopback: a silent Secrets Manager endpoint is a 503
within 5 s; the startup packet carries nothing RDS Proxy may refuse; TLS to the proxy is verified;
SnapStart hooks leave no connection or secret in the snapshot and the next request reconnects."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from progress_common import db as common_db
from progress_common import db_url
from progress_common.settings import get_settings, load_settings
from tests.events import ERASE_SCOPE_CLAIM, FakeLambdaContext, call, http_event, sample_body, sample_path
from tests.helpers import FAKE_AWS_CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:progress-db-AbCdEf"


class LoopbackListener:
    """A TCP listener on 127.0.0.1 that hands each accepted connection to `serve` in a thread."""

    def __init__(self, serve) -> None:  # type: ignore[no-untyped-def]
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._serve = serve
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def aws_only_env(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> Iterator[pytest.MonkeyPatch]:
    """The environment of a deployed function: a secret ARN, no DATABASE_URL, fake credentials."""
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DB_SECRET_ARN", SECRET_ARN)
    for name, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    db_url.forget_secrets()
    common_db._engine = None
    try:
        yield monkeypatch
    finally:
        db_url.forget_secrets()
        common_db._engine = engine
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_silent_secrets_manager_endpoint_is_a_503_within_5_seconds(aws_only_env, load_function) -> None:
    listener = LoopbackListener(lambda conn: None)  # accepts, never reads, never answers
    aws_only_env.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{listener.port}")
    # Imported before the clock starts: on this shared machine importing boto3 alone can take seconds
    # under load; what is measured is the client's handling of the silent endpoint.
    import boto3  # noqa: F401
    from aws_lambda_powertools.utilities.parameters import SecretsProvider  # noqa: F401

    try:
        started = time.monotonic()
        status, headers, body = call(
            load_function("get_progress").lambda_handler, http_event("GET", "/progress", claims={"sub": "7"})
        )
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    settings = get_settings()
    assert status == 503 and body["error"]["code"] == "database_unavailable" and headers["retry-after"]
    assert elapsed < 5.0
    # It did wait for the endpoint (read timeout), and retried a bounded number of times.
    assert elapsed >= settings.aws_read_timeout_seconds
    assert listener.accepted == settings.aws_max_attempts


def _startup_packets(settings_env: dict[str, str]) -> list[tuple[int, dict[str, str]]]:
    """Connect the functions' engine to a listener that records what the client sends first."""
    packets: list[tuple[int, dict[str, str]]] = []

    def serve(conn: socket.socket) -> None:
        while True:
            head = conn.recv(8, socket.MSG_WAITALL)
            if len(head) < 8:
                return
            length, code = struct.unpack("!ii", head)
            rest = conn.recv(length - 8, socket.MSG_WAITALL) if length > 8 else b""
            fields = rest.rstrip(b"\0").split(b"\0") if rest else []
            packets.append(
                (code, {k.decode(): v.decode() for k, v in zip(fields[::2], fields[1::2], strict=True)})
            )
            if code == 80877103:  # SSLRequest: refuse TLS, as a server without it does
                conn.sendall(b"N")
                continue
            conn.close()
            return

    listener = LoopbackListener(serve)
    try:
        settings = load_settings(
            {"DATABASE_URL": f"postgresql://app:pw@127.0.0.1:{listener.port}/progress", **settings_env}
        )
        engine = common_db.make_engine(settings, socket_timeout=2, check_schema=True)
        try:
            with pytest.raises(Exception), engine.connect():
                pass
        finally:
            engine.dispose()
    finally:
        listener.close()
    return packets


def test_the_startup_packet_carries_no_parameter_rds_proxy_may_refuse() -> None:
    packets = _startup_packets({})
    assert packets[0][0] == 196608  # protocol 3.0 startup message, no SSLRequest: TLS off locally
    assert packets[0][1] == {"user": "app", "database": "progress", "application_name": "progress-service"}


def test_with_tls_on_the_client_asks_for_tls_first_and_never_falls_back_to_plain_text() -> None:
    packets = _startup_packets({"DB_TLS": "verify-full"})
    # The server said "no TLS": pg8000 gives up rather than sending credentials in clear text.
    assert [code for code, _ in packets] == [80877103]


def test_tls_context_verifies_chain_and_host_against_a_bundle_with_amazons_roots() -> None:
    context = common_db.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    roots = {
        value
        for cert in context.get_ca_certs()
        for rdn in cert["subject"]
        for key, value in rdn
        if key == "commonName"
    }
    assert {"Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4"} <= roots
    args = common_db.connect_args_for(
        load_settings({"DATABASE_URL": "postgresql://a@h/d", "DB_TLS": "verify-full"}), socket_timeout=5
    )
    assert isinstance(args["ssl_context"], ssl.SSLContext)
    plain = common_db.connect_args_for(
        load_settings({"DATABASE_URL": "postgresql://a@h/d"}), socket_timeout=5
    )
    assert plain["ssl_context"] is False


def test_a_proxy_whose_certificate_is_not_trusted_is_refused(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    handshakes: list[str] = []

    def serve(conn: socket.socket) -> None:
        conn.recv(8, socket.MSG_WAITALL)  # SSLRequest
        conn.sendall(b"S")
        try:
            with server_context.wrap_socket(conn, server_side=True):
                handshakes.append("completed")
        except (ssl.SSLError, OSError) as exc:
            handshakes.append(type(exc).__name__)

    listener = LoopbackListener(serve)
    try:
        settings = load_settings(
            {
                "DATABASE_URL": f"postgresql://app:pw@127.0.0.1:{listener.port}/progress",
                "DB_TLS": "verify-full",
            }
        )
        engine = common_db.make_engine(settings, socket_timeout=2)
        try:
            with pytest.raises(Exception) as info, engine.connect():
                pass
        finally:
            engine.dispose()
    finally:
        listener.close()
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert "completed" not in handshakes


def test_snapstart_hooks_drop_connections_and_the_next_request_reconnects(engine, db, load_function) -> None:
    import snapshot_restore_py

    handler = load_function("get_statistics").lambda_handler
    before = [f for f, _, _ in snapshot_restore_py.get_before_snapshot()]
    after = [f for f, _, _ in snapshot_restore_py.get_after_restore()]
    from progress_common import snapstart

    assert snapstart.before_snapshot in before and snapstart.after_restore in after
    assert before.count(snapstart.before_snapshot) == 1  # handlers imported, registered once

    working = common_db.make_engine(get_settings(), check_schema=True)
    common_db.set_engine(working)
    try:
        assert call(handler, http_event("GET", "/progress/statistics", claims={"sub": "7"}))[0] == 200
        assert working.pool.checkedin() == 1
        with engine.connect() as conn:
            old_pids = set(
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = 'progress-service' "
                        "AND datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )
        for func, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
            func(*args, **kwargs)
        assert common_db._engine is None and working.pool.checkedin() == 0
        for func, args, kwargs in snapshot_restore_py.get_after_restore():
            func(*args, **kwargs)
        status, _, body = call(handler, http_event("GET", "/progress/statistics", claims={"sub": "7"}))
        assert status == 200, body
        restored = common_db._engine
        assert restored is not None and restored is not working
        with restored.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() not in old_pids
    finally:
        common_db.dispose_engine()
        common_db._engine = engine


def test_init_creates_no_connection_secret_or_aws_client_and_every_http_handler_registers_the_hooks() -> None:
    # A fresh interpreter imports every HTTP API handler of the template as Lambda's init (the snapshot)
    # would; each one alone must register the hooks (Lambda runs those its own module's import made).
    from progress_admin.local.template import http_routes, load_template

    folders = sorted({route.code_dir.name for route in http_routes(load_template(ROOT / "template.yaml"))})
    assert len(folders) == 10, folders
    script = f"""
import importlib.util, sys
from pathlib import Path
import snapshot_restore_py
from progress_common import snapstart
for name in {folders!r}:
    snapshot_restore_py._before_snapshot_registry.clear(); snapstart._registered = False
    spec = importlib.util.spec_from_file_location(f"app_{{name}}", Path("functions") / name / "app.py")
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    assert [f for f, _, _ in snapshot_restore_py.get_before_snapshot()] == [snapstart.before_snapshot], name
from progress_common import db, db_url
print(db._engine is None, db_url._secrets_provider is None, "boto3" in sys.modules, "botocore.client" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"DB_SECRET_ARN": SECRET_ARN, "POWERTOOLS_TRACE_DISABLED": "1"})
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout.split()
    assert out == ["True", "True", "False", "False"]


def test_no_request_sends_a_statement_that_pins_an_rds_proxy_session(load_function, count_sql, aws) -> None:
    import re

    from tests.events import attempt_body, sqs_event, sqs_record

    # The largest valid batch: ten messages with answers at the 10 000-character limit.
    batch = sqs_event(*(sqs_record(attempt_body(user_answer="é" * 10_000, session_id=77)) for _ in range(10)))
    assert (
        load_function("record_attempts").lambda_handler(batch, FakeLambdaContext())["batchItemFailures"] == []
    )
    from progress_admin.local.template import http_routes, load_template

    for route in http_routes(load_template(ROOT / "template.yaml")):  # every HTTP route, the ticket's too
        handler = load_function(route.code_dir.name).lambda_handler
        event = http_event(
            route.method,
            sample_path(route.path),
            claims={"sub": "7", **ERASE_SCOPE_CLAIM},
            body=sample_body(route.method, route.path),
        )
        status, _, body = call(handler, event)
        # the sample export does not exist; learner 7 has no broken streak to repair
        assert status in (200, 202) or body["error"]["code"] in ("export_not_found", "repair_unavailable"), (
            route
        )
    # the export worker: its snapshot is a transaction (pinned while it lasts, as any transaction), no SET
    export_id = call(
        load_function("request_export").lambda_handler,
        http_event("POST", "/progress/export", claims={"sub": "8"}),
    )[2]["export_id"]
    worker = load_function("export_worker").lambda_handler
    assert worker(sqs_event(sqs_record(json.dumps({"export_id": export_id}))), FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    assert count_sql.statements
    pinning = re.compile(
        r"^\s*(SET|RESET|PREPARE|EXECUTE|DEALLOCATE|DISCARD|LISTEN|DECLARE)\b|pg_advisory_lock|TEMP(ORARY)?\s+TABLE",
        re.IGNORECASE,
    )
    for statement in count_sql.statements:
        assert len(statement.encode()) < 16 * 1024, statement[:200]
        assert not pinning.search(statement), statement[:200]
