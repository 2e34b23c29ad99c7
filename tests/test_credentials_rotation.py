"""The database secret rotates (RDS-managed secrets do every 7 days): a warm container follows it. Each new
connection takes its credentials from the secret as currently cached; a connection refused for its
credentials drops the cached secret and is a 503 (a batch retried), and the next request reads the
secret again and succeeds on the same engine. A database not accepting connections is an outage too.
Real PostgreSQL, a moto Secrets Manager, and a loopback stand-in that refuses every login."""

from __future__ import annotations

import json
import secrets as random
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import Engine, make_url, text
from sqlalchemy import exc as sa_exc

from progress_common import db as common_db
from progress_common import db_url
from progress_common.db_url import url_from_database_url
from progress_common.errors import DatabaseUnavailableError
from progress_common.settings import get_settings, load_settings
from tests.events import FakeLambdaContext, attempt_body, call, http_event, sqs_event, sqs_record
from tests.helpers import FAKE_AWS_CREDENTIALS

SSL_REQUEST = 80877103
PASSWORD = "rotated-away-S3CRET"


class RefusingServer:
    """A loopback PostgreSQL stand-in that answers every startup message with a FATAL ErrorResponse of
    the given SQLSTATE (as PostgreSQL or RDS Proxy does for a wrong password), then hangs up."""

    def __init__(self, code: str = "28P01") -> None:
        self.code = code
        self.logins = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)  # so the thread sees `_stop` soon
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with suppress(OSError), conn:
                conn.settimeout(5)
                self._refuse(conn)

    def _refuse(self, conn: socket.socket) -> None:
        while True:
            length, code = struct.unpack("!ii", conn.recv(8, socket.MSG_WAITALL))
            if length > 8:
                conn.recv(length - 8, socket.MSG_WAITALL)
            if code != SSL_REQUEST:
                break
            conn.sendall(b"N")  # no TLS here; the startup message follows
        self.logins += 1
        fields = {
            "S": "FATAL",
            "V": "FATAL",
            "C": self.code,
            "M": 'password authentication failed for user "app"',
        }
        body = b"".join(k.encode() + v.encode() + b"\0" for k, v in fields.items()) + b"\0"
        conn.sendall(b"E" + struct.pack("!i", len(body) + 4) + body)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@dataclass
class SecretEnv:
    client: Any  # the moto Secrets Manager client
    arn: str
    real: dict[str, Any]  # the secret's fields for the real test database

    def point_at(self, **fields: Any) -> None:
        """Rotate: the secret now holds these fields (over the real database's)."""
        self.client.put_secret_value(SecretId=self.arn, SecretString=json.dumps({**self.real, **fields}))


@pytest.fixture
def refusing() -> Iterator[RefusingServer]:
    server = RefusingServer()
    yield server
    server.close()


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, engine: Engine, test_database: Any) -> Iterator[SecretEnv]:
    """A deployed function's environment: DB_SECRET_ARN names a moto secret, no DATABASE_URL; the shared
    engine is made from the secret on first use (as in Lambda) and the test engine restored after."""
    url = url_from_database_url(test_database.url)
    if url.host is None:
        pytest.skip("the test database is reached through a Unix socket, which a secret cannot name")
    real = {
        "host": url.host,
        "port": url.port or 5432,
        "username": url.username,
        "password": PASSWORD,  # the server trusts loopback: the password is not checked
        "dbname": url.database,
    }
    for name, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    db_url.forget_secrets()
    with mock_aws():
        client = boto3.client("secretsmanager")
        arn = str(client.create_secret(Name="progress/db", SecretString=json.dumps(real))["ARN"])
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.setenv("DB_SECRET_ARN", arn)
        get_settings.cache_clear()
        common_db._engine = None
        try:
            yield SecretEnv(client, arn, real)
        finally:
            if common_db._engine is not None and common_db._engine is not engine:
                common_db._engine.dispose()
            common_db._engine = engine
            db_url.forget_secrets()
            monkeypatch.undo()
            get_settings.cache_clear()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "progress_common.db"]


def test_refused_credentials_are_a_503_and_the_next_request_reads_the_rotated_secret(
    secret_env, refusing, load_function, caplog: pytest.LogCaptureFixture
) -> None:
    handler = load_function("get_progress").lambda_handler
    request = http_event("GET", "/progress", claims={"sub": "7"})
    # The container cached the secret before the rotation: its password is no longer accepted.
    secret_env.point_at(host="127.0.0.1", port=refusing.port)

    status, headers, body = call(handler, request)

    assert (status, body["error"]["code"]) == (503, "database_unavailable"), body
    assert headers["retry-after"]
    assert refusing.logins == 1
    assert _warnings(caplog) == [
        f"the database refused the credentials of secret {secret_env.arn} (SQLSTATE 28P01); "
        "the next connection reads the secret again"
    ]
    assert PASSWORD not in caplog.text
    refused_engine = common_db._engine
    assert refused_engine is not None

    secret_env.point_at()  # the rotation finished: the secret names the database and its new password
    status, _, body = call(handler, request)

    assert status == 200, body
    assert common_db._engine is refused_engine  # same container, same engine: the secret was read again
    assert refusing.logins == 1


def test_refused_credentials_fail_the_whole_batch_for_a_retry(
    secret_env, refusing, load_function, captured_logs
) -> None:
    secret_env.point_at(host="127.0.0.1", port=refusing.port)
    records = [sqs_record(attempt_body()) for _ in range(3)]

    result = load_function("record_attempts").lambda_handler(sqs_event(*records), FakeLambdaContext())

    assert result["batchItemFailures"] == [{"itemIdentifier": r["messageId"]} for r in records]
    # One refused connection, not the one-at-a-time fallback for a failed statement: an outage, retried.
    assert refusing.logins == 1
    assert "one at a time" not in captured_logs()
    assert '"level":"ERROR"' not in captured_logs().replace(" ", "")


def test_each_new_connection_takes_the_credentials_of_the_secret_as_cached_now(secret_env, db) -> None:
    role = f"progress_rotated_{random.token_hex(4)}"
    with db.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    engine = common_db.make_engine(get_settings(), pool_size=3)
    try:
        with engine.connect() as first:
            assert first.execute(text("SELECT current_user")).scalar() == secret_env.real["username"]
            secret_env.point_at(username=role)
            with engine.connect() as second:  # a new connection, the secret as cached: no call per connection
                assert second.execute(text("SELECT current_user")).scalar() == secret_env.real["username"]
                db_url.forget_secrets()  # as after the cache's 5 minutes
                with engine.connect() as third:  # a new connection: the rotated secret's user
                    assert third.execute(text("SELECT current_user")).scalar() == role
    finally:
        engine.dispose()
        with db.connect() as conn:
            conn.execute(text(f"DROP ROLE {role}"))


@pytest.mark.parametrize("code", ["28P01", "28000"])
def test_only_an_engine_from_the_secret_turns_refused_credentials_into_an_outage(
    secret_env, code, caplog: pytest.LogCaptureFixture
) -> None:
    server = RefusingServer(code)
    try:
        secret_env.point_at(host="127.0.0.1", port=server.port)
        from_secret = common_db.make_engine(get_settings())
        with pytest.raises(DatabaseUnavailableError, match=r"^the database refused the credentials$"):
            from_secret.connect()
        assert _warnings(caplog) == [
            f"the database refused the credentials of secret {secret_env.arn} (SQLSTATE {code}); "
            "the next connection reads the secret again"
        ]
        caplog.clear()
        from_url = common_db.make_engine(
            load_settings({"DATABASE_URL": f"postgresql://app:pw@127.0.0.1:{server.port}/progress"})
        )
        with pytest.raises(sa_exc.DBAPIError) as info:
            from_url.connect()
        assert common_db.sqlstate(info.value) == code and _warnings(caplog) == []
        assert server.logins == 2
    finally:
        server.close()


def test_a_database_not_accepting_connections_is_a_503(db, test_database, load_function) -> None:
    name = f"progress_closed_{random.token_hex(4)}"
    with db.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} ALLOW_CONNECTIONS false"))
    url = make_url(test_database.url).set(database=name).render_as_string(hide_password=False)
    closed = common_db.make_engine(load_settings({"DATABASE_URL": url}))
    previous = common_db._engine
    common_db._engine = closed
    try:
        with pytest.raises(sa_exc.DBAPIError) as info:
            closed.connect()
        assert common_db.sqlstate(info.value) == "55000" and common_db.is_transient(info.value)
        status, headers, body = call(
            load_function("get_progress").lambda_handler, http_event("GET", "/progress", claims={"sub": "7"})
        )
        assert (status, body["error"]["code"]) == (503, "database_unavailable"), body
        assert headers["retry-after"]
    finally:
        common_db._engine = previous
        closed.dispose()
        with db.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name}"))


def test_the_same_sqlstate_from_a_statement_is_a_bug_not_an_outage(db) -> None:
    with db.connect() as conn:
        conn.execute(text("CREATE TEMPORARY SEQUENCE progress_never_used"))
        with pytest.raises(sa_exc.DBAPIError) as info:
            conn.execute(text("SELECT currval('progress_never_used')"))  # not yet defined in this session
        conn.execute(text("DROP SEQUENCE progress_never_used"))
    assert common_db.sqlstate(info.value) == "55000"
    assert not common_db.is_transient(info.value)
    with pytest.raises(sa_exc.DBAPIError), common_db.unavailable_as_typed_error():
        raise info.value
