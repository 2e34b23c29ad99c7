"""The engine as the functions get it, checked on real connections (fast; found by `./dev mutate`):
the settings in effect on the server side of a connection (application_name, statement timeout, one
transaction per statement), pool bounds and recycling, timeouts against loopback listeners that never
answer, DATABASE_URL forms, the secret from a moto Secrets Manager (fields, fallbacks, caching, bounded
retries), and run_idempotent's retry-once rule for a connection that died idle in the pool."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import Engine, event, text
from sqlalchemy import exc as sa_exc

from progress_common import db as common_db
from progress_common import db_url, schema
from progress_common.db_url import url_from_database_url
from progress_common.errors import ConfigurationError, DatabaseUnavailableError, SchemaOutdatedError
from progress_common.settings import load_settings
from tests.faults import CuttingProxy, silent_server
from tests.helpers import FAKE_AWS_CREDENTIALS


def _settings(url: str, **env: str):  # type: ignore[no-untyped-def]
    return load_settings({"DATABASE_URL": url, **env})


@contextmanager
def _engine(url: str, *, env: dict[str, str] | None = None, **kwargs) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    engine = common_db.make_engine(_settings(url, **(env or {})), **kwargs)
    try:
        yield engine
    finally:
        engine.dispose()


def _show(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql(f"SHOW {name}").scalar())


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())  # type: ignore[arg-type]


def _failure_within(seconds: float, action: Callable[[], object]) -> tuple[BaseException, float]:
    """Run `action`, which must fail, in a thread: its exception and how long it took. A call still
    blocked after `seconds` fails the test at once (the thread ends when the test's listener closes)."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:  # what the caller would see
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    assert outcome, "it did not fail"
    return outcome[0], elapsed


@contextmanager
def _full_backlog_listener() -> Iterator[int]:
    """A port whose accept queue is full: a new TCP connect gets no answer at all (a black-holed host)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        yield port
    finally:
        filler.close()
        listener.close()


# ---- DATABASE_URL forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "host", "port", "database", "query"),
    [
        ("postgresql://app:pw@db.internal:6543/progress", "db.internal", 6543, "progress", {}),
        ("postgresql+psycopg2://app@db.internal/progress", "db.internal", None, "progress", {}),
        # libpq's Unix socket spelling; the port names the socket file
        (
            "postgresql://app@/progress?host=/run/pg",
            None,
            None,
            "progress",
            {"unix_sock": "/run/pg/.s.PGSQL.5432"},
        ),
        (
            "postgresql://app@:5433/progress?host=/run/pg&sslmode=disable",
            None,
            ...,  # pg8000 ignores host and port when it has a socket
            "progress",
            {"sslmode": "disable", "unix_sock": "/run/pg/.s.PGSQL.5433"},
        ),
        # a host name in the query is not a socket directory: left as it is
        ("postgresql://app@/progress?host=db.internal", None, None, "progress", {"host": "db.internal"}),
    ],
)
def test_database_url_forms(raw, host, port, database, query) -> None:
    url = db_url.database_url(_settings(raw))
    assert url.drivername == "postgresql+pg8000"
    assert (url.host, url.database, dict(url.query)) == (host, database, query)
    assert port is ... or url.port == port


@pytest.mark.parametrize("raw", ["mysql://app@db/progress", "sqlite:///progress.db"])
def test_a_database_url_of_another_kind_is_refused_by_name(raw) -> None:
    with pytest.raises(ConfigurationError, match=r"^DATABASE_URL must be a postgresql:// URL$"):
        db_url.database_url(_settings(raw))


def test_the_unix_socket_form_connects(test_database) -> None:
    # The embedded test server hands out this form; against the local server, its own socket directory.
    url = url_from_database_url(test_database.url)
    raw = test_database.url
    if not url.query.get("unix_sock"):
        from pathlib import Path

        if (
            url.host not in ("127.0.0.1", "localhost")
            or not Path(f"/var/run/postgresql/.s.PGSQL.{url.port or 5432}").exists()
        ):
            pytest.skip("the test server has no Unix socket in /var/run/postgresql")
        raw = f"postgresql://{url.username}@:{url.port or 5432}/{url.database}?host=/var/run/postgresql"
    with _engine(raw) as engine, engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT current_database()").scalar() == url.database
        assert conn.exec_driver_sql("SELECT inet_server_addr()").scalar() is None  # not TCP


# ---- what a connection is, on the server side ----------------------------------------------------------


def test_connections_name_the_service_and_keep_the_role_defaults(test_database) -> None:
    with _engine(test_database.url) as engine:
        assert _show(engine, "application_name") == "progress-service"
        # nothing sent: the role defaults the migration set (schema.ROLE_SESSION_DEFAULTS)
        assert _show(engine, "statement_timeout") == schema.ROLE_SESSION_DEFAULTS["statement_timeout"]
        assert _show(engine, "TimeZone") == schema.ROLE_SESSION_DEFAULTS["TimeZone"]


def test_a_configured_statement_timeout_is_in_effect_and_an_explicit_one_wins(test_database) -> None:
    env = {"DB_STATEMENT_TIMEOUT_MS": "1234"}
    with _engine(test_database.url, env=env) as engine:
        assert _show(engine, "statement_timeout") == "1234ms"
    with _engine(test_database.url, env=env, statement_timeout_ms=250) as engine:
        assert _show(engine, "statement_timeout") == "250ms"
    with _engine(test_database.url, env=env, statement_timeout_ms=0) as engine:  # 0: no limit
        assert _show(engine, "statement_timeout") == "0"
    with _engine(test_database.url, statement_timeout_ms=300) as engine, engine.connect() as conn:
        started = time.monotonic()
        with pytest.raises(sa_exc.DBAPIError) as info:
            conn.exec_driver_sql("SELECT pg_sleep(5)")
        assert common_db.sqlstate(info.value) == "57014" and time.monotonic() - started < 3


def _transaction_ids(conn) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    first = conn.exec_driver_sql("SELECT txid_current()").scalar()
    second = conn.exec_driver_sql("SELECT txid_current()").scalar()
    return first, second


@pytest.mark.parametrize("statement_timeout_ms", [None, 1234])
def test_each_statement_is_its_own_transaction_and_a_non_autocommit_engine_keeps_one(
    test_database, statement_timeout_ms
) -> None:
    with _engine(test_database.url, statement_timeout_ms=statement_timeout_ms) as engine:
        with engine.connect() as conn:
            first, second = _transaction_ids(conn)
            assert second != first
        with engine.connect() as conn:
            first, second = _transaction_ids(conn)
            assert second != first  # still autocommit after the connection went back to the pool
    with _engine(test_database.url, statement_timeout_ms=statement_timeout_ms, autocommit=False) as engine:
        for _ in range(2):
            with engine.connect() as conn:
                first, second = _transaction_ids(conn)
                assert second == first
                assert _show_on(conn, "transaction_isolation") == "read committed"
                conn.rollback()
                if statement_timeout_ms is not None:  # the SET was not part of a rolled-back transaction
                    assert _show_on(conn, "statement_timeout") == "1234ms"


def _show_on(conn, name: str) -> str:  # type: ignore[no-untyped-def]
    return str(conn.exec_driver_sql(f"SHOW {name}").scalar())


def test_errors_never_carry_the_statements_parameters(test_database) -> None:
    secret = "S3CRET-param-value"
    with (
        _engine(test_database.url) as engine,
        engine.connect() as conn,
        pytest.raises(sa_exc.DBAPIError) as info,
    ):
        conn.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": secret})
    assert common_db.sqlstate(info.value) == "22012"
    assert secret not in str(info.value)


# ---- pool bounds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "argument", "size"), [("1", None, 1), ("1", 2, 2), ("3", None, 3)])
def test_the_pool_holds_its_size_and_a_checkout_beyond_waits_the_connect_timeout(
    test_database, setting, argument, size
) -> None:
    env = {"DB_POOL_SIZE": setting, "DB_CONNECT_TIMEOUT_SECONDS": "0.3"}
    with _engine(test_database.url, env=env, pool_size=argument) as engine:
        held = [engine.connect() for _ in range(size)]
        try:
            assert len({c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in held}) == size
            error, elapsed = _failure_within(3, lambda: engine.connect().close())
            assert isinstance(error, sa_exc.TimeoutError) and elapsed > 0.25
            assert common_db.is_transient(error)
        finally:
            for conn in held:
                conn.close()


def test_a_connection_is_kept_for_15_minutes_then_replaced(test_database, monkeypatch) -> None:
    import sqlalchemy.pool.base as pool_base

    real_time = time.time
    offset = [0.0]

    class Clock:
        @staticmethod
        def time() -> float:
            return real_time() + offset[0]

    monkeypatch.setattr(pool_base, "time", Clock)
    with _engine(test_database.url) as engine:
        first = _backend_pid(engine)
        offset[0] = 14 * 60
        assert _backend_pid(engine) == first  # reused, no reconnect per request
        offset[0] = 15 * 60 + 5
        assert _backend_pid(engine) != first


# ---- timeouts ------------------------------------------------------------------------------------------


def test_a_silent_server_fails_within_the_connect_timeout(test_database) -> None:
    with silent_server() as port:
        url = f"postgresql://root@127.0.0.1:{port}/test"
        for env, kwargs in (
            ({"DB_CONNECT_TIMEOUT_SECONDS": "0.3"}, {}),  # the settings' timeout by default
            ({"DB_CONNECT_TIMEOUT_SECONDS": "30"}, {"socket_timeout": 0.3}),  # an explicit one wins
        ):
            with _engine(url, env=env, **kwargs) as engine:
                # pg8000 lets the socket's TimeoutError out of a connect unwrapped
                error, _ = _failure_within(3, lambda: engine.connect().close())
                assert isinstance(error, sa_exc.DBAPIError | OSError) and common_db.is_transient(error)


def test_a_black_holed_host_fails_within_the_connect_timeout() -> None:
    with _full_backlog_listener() as port:
        url = f"postgresql://root@127.0.0.1:{port}/test"
        with _engine(url, env={"DB_CONNECT_TIMEOUT_SECONDS": "0.3"}) as engine:
            error, _ = _failure_within(3, lambda: engine.connect().close())
            assert isinstance(error, sa_exc.DBAPIError | OSError) and common_db.is_transient(error)


def test_a_refused_connection_is_transient() -> None:
    with silent_server() as port:
        pass  # closed again: nothing listens there now
    with (
        _engine(f"postgresql://root@127.0.0.1:{port}/test") as engine,
        pytest.raises(sa_exc.DBAPIError) as info,
        engine.connect(),
    ):
        pass
    assert not info.value.connection_invalidated and common_db.is_transient(info.value)
    with pytest.raises(DatabaseUnavailableError), common_db.unavailable_as_typed_error():
        raise info.value


def test_what_is_and_is_not_an_outage() -> None:
    assert common_db.is_transient(DatabaseUnavailableError("x"))
    assert common_db.is_transient(ConnectionResetError())
    assert common_db.is_transient(TimeoutError())
    assert not common_db.is_transient(ValueError("x"))
    assert not common_db.is_transient(ConfigurationError("x"))
    assert common_db.sqlstate(ValueError()) is None and common_db.sqlstate(KeyError("C")) is None
    with pytest.raises(ValueError), common_db.unavailable_as_typed_error():
        raise ValueError("a bug stays a bug")


def test_a_raw_driver_error_has_its_sqlstate(db) -> None:
    raw = db.raw_connection()
    try:
        cursor = raw.cursor()
        with pytest.raises(Exception) as info:
            cursor.execute("SELECT 1 / 0")
    finally:
        raw.close()
    assert type(info.value).__module__.startswith("pg8000")
    assert common_db.sqlstate(info.value) == "22012"


# ---- the schema check on connect -----------------------------------------------------------------------


def test_only_the_functions_engine_refuses_a_database_behind_the_code(
    engine, test_database, monkeypatch
) -> None:
    monkeypatch.setattr(schema, "REQUIRED_SCHEMA_REVISION", "9999")
    with _engine(test_database.url) as tools:  # migrations and tools must connect to an old database
        assert _backend_pid(tools) > 0
    with _engine(test_database.url, check_schema=True) as functions:
        with pytest.raises(SchemaOutdatedError), functions.connect():
            pass
        assert functions.pool.checkedin() == 0  # the refused connection is not kept
    common_db._engine = None  # the container builds its own engine on first use
    try:
        with pytest.raises(SchemaOutdatedError):
            common_db.run_idempotent("SELECT 1")  # the container's engine checks
    finally:
        common_db.dispose_engine()
        common_db._engine = engine


def test_replacing_the_shared_engine_closes_the_old_ones_connections(engine, test_database) -> None:
    first = common_db.make_engine(_settings(test_database.url))
    second = common_db.make_engine(_settings(test_database.url))
    try:
        common_db.set_engine(first)
        assert common_db.get_engine() is first
        common_db.run_idempotent("SELECT 1")
        common_db.set_engine(first)  # the same engine again: its connection stays
        assert first.pool.checkedin() == 1
        common_db.set_engine(second)
        assert first.pool.checkedin() == 0 and common_db.get_engine() is second
        common_db.run_idempotent("SELECT 1")
        common_db.dispose_engine()
        assert second.pool.checkedin() == 0
    finally:
        common_db.set_engine(engine)
        first.dispose()
        second.dispose()


# ---- run_idempotent: the retry-once rule -----------------------------------------------------------------


def _terminate(engine: Engine, pid: int) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(50):  # the backend is gone once it no longer shows in pg_stat_activity
        with engine.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).all():
                return
        time.sleep(0.02)


def _sent(engine: Engine, marker: str) -> list[str]:
    """The statements containing `marker` the engine sends (each try counts)."""
    sent: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if marker in statement:
            sent.append(statement)

    return sent


def test_a_connection_that_died_idle_is_retried_once_on_a_new_one_quietly(
    db, test_database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="progress_common.db")
    # as in a new container: the pool's (process-wide) logger has no filter until an engine is made
    monkeypatch.setattr(logging.getLogger("sqlalchemy.pool.impl.QueuePool"), "filters", [])
    with _engine(test_database.url) as engine:
        sent = _sent(engine, "idle_retry_marker")
        first = common_db.run_idempotent("SELECT pg_backend_pid() AS idle_retry_marker", engine=engine)[0][0]
        _terminate(db, first)
        caplog.clear()
        rows = common_db.run_idempotent("SELECT pg_backend_pid() AS idle_retry_marker", engine=engine)
        assert rows[0][0] != first and len(sent) == 3
        # a statement with bound parameters, the same way
        _terminate(db, rows[0][0])
        rows = common_db.run_idempotent(
            text("SELECT CAST(:v AS int) + 1 AS idle_retry_marker"), {"v": 41}, engine=engine
        )
        assert rows[0][0] == 42 and len(sent) == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warnings] == ["progress_common.db"] * 2
    assert {r.getMessage() for r in warnings} == {
        "a pooled database connection had died while idle; retrying on a new one"
    }
    # the failed goodbye to the dead backend is not an ERROR with a traceback
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "closed a database connection the server or network had already dropped" in caplog.messages


def test_a_new_connection_that_fails_is_an_outage_not_retried(test_database) -> None:
    proxy = CuttingProxy(test_database.url)
    proxy.cut_marker = b"fresh_cut_marker"
    try:
        with _engine(proxy.url_for(test_database.url)) as engine:
            with pytest.raises(sa_exc.DBAPIError) as info:
                common_db.run_idempotent("SELECT 1 AS fresh_cut_marker", engine=engine)
            assert info.value.connection_invalidated and common_db.is_transient(info.value)
            assert proxy.cuts == 1
            # a connection that served once, then died, and whose replacement dies too: two tries, no more
            proxy.spare = 1
            with pytest.raises(sa_exc.DBAPIError):
                for _ in range(2):
                    common_db.run_idempotent("SELECT 2 AS fresh_cut_marker", engine=engine)
            assert proxy.cuts == 3
    finally:
        proxy.close()


def test_a_failing_statement_on_a_served_connection_runs_once(test_database) -> None:
    with _engine(test_database.url) as engine:
        sent = _sent(engine, "once_marker")
        common_db.run_idempotent("SELECT 1 AS once_marker", engine=engine)
        with pytest.raises(sa_exc.DBAPIError) as info:
            common_db.run_idempotent("SELECT 1 / 0 AS once_marker", engine=engine)
        assert common_db.sqlstate(info.value) == "22012" and len(sent) == 2


def test_run_idempotent_uses_the_engine_it_is_given(db, test_database) -> None:
    with _engine(test_database.url, statement_timeout_ms=1234) as engine:
        assert common_db.run_idempotent("SHOW statement_timeout", engine=engine)[0][0] == "1234ms"
    assert common_db.run_idempotent("SHOW statement_timeout")[0][0] == "4s"


def test_other_failures_while_closing_a_connection_stay_errors(
    test_database, caplog: pytest.LogCaptureFixture
) -> None:
    from pg8000.exceptions import InterfaceError

    def failure(cause: BaseException | None) -> BaseException:
        try:
            try:
                if cause is not None:
                    raise cause
                raise InterfaceError("protocol error")
            except OSError as os_error:
                raise InterfaceError("network error") from os_error
        except InterfaceError as exc:
            return exc

    with _engine(test_database.url) as engine:
        pool_log = logging.getLogger(engine.pool.logger.name)
        cases = [
            ("Exception closing connection <conn>", failure(None)),  # not a dead peer
            ("Exception closing connection <conn>", ValueError("bug")),
            ("Exception during reset or similar", failure(BrokenPipeError())),  # not closing
        ]
        for message, exc in cases:
            caplog.clear()
            pool_log.error(message, exc_info=(type(exc), exc, exc.__traceback__))
            assert [r.levelno for r in caplog.records] == [logging.ERROR], message
        for message in ("Exception terminating connection <conn>", "Exception closing connection <conn>"):
            caplog.clear()
            dead = failure(BrokenPipeError())  # the goodbye to a peer that is already gone
            pool_log.error(message, exc_info=(type(dead), dead, None))
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR], message


# ---- the secret from Secrets Manager --------------------------------------------------------------------


@pytest.fixture
def secrets() -> Iterator[object]:
    """A moto Secrets Manager; the container's client and cache are dropped before and after."""
    db_url.forget_secrets()
    with mock_aws():
        yield boto3.client("secretsmanager")
    db_url.forget_secrets()


def _secret(client, value: str | bytes, name: str = "progress/db") -> str:  # type: ignore[no-untyped-def]
    key = "SecretBinary" if isinstance(value, bytes) else "SecretString"
    return str(client.create_secret(Name=name, **{key: value})["ARN"])


FULL = {"host": "db.internal", "port": 6543, "username": "app", "password": "pw", "dbname": "progress"}


@pytest.mark.parametrize(
    ("secret", "env", "expected"),
    [
        (FULL, {}, ("app", "pw", "db.internal", 6543, "progress")),
        ({**FULL, "port": "6544"}, {}, ("app", "pw", "db.internal", 6544, "progress")),
        ({**FULL, "port": ...}, {}, ("app", "pw", "db.internal", 5432, "progress")),
        ({**FULL, "dbname": ..., "database": "other"}, {}, ("app", "pw", "db.internal", 6543, "other")),
        # RDS Proxy's endpoint instead of the instance the secret names
        (FULL, {"DB_HOST": "proxy.internal"}, ("app", "pw", "proxy.internal", 6543, "progress")),
        # the deployment's DB_NAME wins over the secret's dbname, and supplies a missing one
        (FULL, {"DB_NAME": "elsewhere"}, ("app", "pw", "db.internal", 6543, "elsewhere")),
        ({**FULL, "dbname": ...}, {"DB_NAME": "elsewhere"}, ("app", "pw", "db.internal", 6543, "elsewhere")),
        # an RDS-managed master secret: username and password only
        (
            {"username": "app", "password": "pw"},
            {"DB_HOST": "proxy.internal", "DB_NAME": "progress"},
            ("app", "pw", "proxy.internal", 5432, "progress"),
        ),
    ],
)
def test_the_secret_gives_the_url(secrets, secret, env, expected) -> None:
    arn = _secret(secrets, json.dumps({k: v for k, v in secret.items() if v is not ...}))
    url = db_url.database_url(load_settings({"DB_SECRET_ARN": arn, **env}))
    assert url.drivername == "postgresql+pg8000"
    assert (url.username, url.password, url.host, url.port, url.database) == expected


@pytest.mark.parametrize(
    ("secret", "env", "message"),
    [
        (
            {**FULL, "dbname": ...},
            {},
            'the database secret has no "dbname": set the DbName parameter (DB_NAME)',
        ),
        (
            {**FULL, "dbname": ""},
            {},
            'the database secret has no "dbname": set the DbName parameter (DB_NAME)',
        ),
        (
            {**FULL, "host": ...},
            {},
            'the database secret has no "host": set the DbHost parameter (DB_HOST), the RDS Proxy endpoint',
        ),
        (
            {"username": "app", "password": "pw"},
            {"DB_NAME": "progress"},
            'the database secret has no "host": set the DbHost parameter (DB_HOST), the RDS Proxy endpoint',
        ),
    ],
)
def test_a_secret_without_host_or_dbname_names_the_parameter_that_supplies_it(
    secrets, secret, env, message
) -> None:
    """Never the server's default database (a schema migrated into `postgres`), never a bare KeyError."""
    arn = _secret(secrets, json.dumps({k: v for k, v in secret.items() if v is not ...}))
    with pytest.raises(ConfigurationError) as info:
        db_url.database_url(load_settings({"DB_SECRET_ARN": arn, **env}))
    assert str(info.value) == message


def test_a_binary_secret_is_read_too(secrets) -> None:
    arn = _secret(secrets, json.dumps(FULL).encode())
    assert db_url.database_url(load_settings({"DB_SECRET_ARN": arn})).host == "db.internal"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("not json at all hunter2", "JSONDecodeError"),
        (json.dumps(["hunter2"]), "TypeError"),
        (json.dumps({"password": "hunter2", "host": "h"}), "KeyError"),
        (json.dumps({**FULL, "password": "hunter2", "port": "fifty"}), "ValueError"),
    ],
)
def test_a_malformed_secret_names_the_problem_never_the_content(secrets, value, kind) -> None:
    arn = _secret(secrets, value)
    with pytest.raises(ConfigurationError) as info:
        db_url.database_url(load_settings({"DB_SECRET_ARN": arn}))
    assert str(info.value) == f"database secret is malformed ({kind})"


def test_an_unreadable_secret_is_unavailable_and_the_log_names_the_arn_only(
    secrets, caplog: pytest.LogCaptureFixture
) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing-AbCdEf"
    with pytest.raises(DatabaseUnavailableError, match=r"^the database secret could not be read$"):
        db_url.database_url(load_settings({"DB_SECRET_ARN": arn}))
    assert [r.getMessage() for r in caplog.records if r.name == "progress_common.db"] == [
        f"could not read the database secret {arn}"
    ]


def test_the_secret_is_read_once_per_five_minutes_and_again_after_forget(secrets, monkeypatch) -> None:
    import aws_lambda_powertools.utilities.parameters.base as parameters_base

    offset = [dt.timedelta(0)]

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return dt.datetime.now(tz) + offset[0]

    monkeypatch.setattr(parameters_base, "datetime", Clock)
    arn = _secret(secrets, json.dumps(FULL))
    settings = load_settings({"DB_SECRET_ARN": arn})

    def rotate(host: str) -> None:
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({**FULL, "host": host}))

    assert db_url.database_url(settings).host == "db.internal"
    rotate("rotated-1")
    offset[0] = dt.timedelta(seconds=290)
    assert db_url.database_url(settings).host == "db.internal"  # cached: no call per connection
    offset[0] = dt.timedelta(seconds=310)
    assert db_url.database_url(settings).host == "rotated-1"
    rotate("rotated-2")
    db_url.forget_secrets()  # e.g. before a snapshot
    assert db_url.database_url(settings).host == "rotated-2"


@contextmanager
def _aws_endpoint(monkeypatch: pytest.MonkeyPatch, port: int) -> Iterator[None]:
    for name, value in {
        **FAKE_AWS_CREDENTIALS,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": f"http://127.0.0.1:{port}",
    }.items():
        monkeypatch.setenv(name, value)
    db_url.forget_secrets()
    try:
        yield
    finally:
        db_url.forget_secrets()


def test_a_silent_secrets_manager_is_unavailable_after_the_configured_tries(monkeypatch) -> None:
    accepted: list[socket.socket] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    settings = load_settings(
        {
            "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
            "AWS_READ_TIMEOUT_SECONDS": "0.2",
            "AWS_CONNECT_TIMEOUT_SECONDS": "5",
            "AWS_MAX_ATTEMPTS": "2",  # not botocore's own default, whichever retry mode that is
        }
    )
    try:
        with _aws_endpoint(monkeypatch, listener.getsockname()[1]):
            error, elapsed = _failure_within(5, lambda: db_url.database_url(settings))
            assert isinstance(error, DatabaseUnavailableError)
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert len(accepted) == 2 and elapsed >= 0.4


def test_a_black_holed_secrets_manager_is_unavailable_within_the_connect_timeout(monkeypatch) -> None:
    settings = load_settings(
        {
            "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
            "AWS_CONNECT_TIMEOUT_SECONDS": "0.2",
            "AWS_READ_TIMEOUT_SECONDS": "5",
            "AWS_MAX_ATTEMPTS": "1",
        }
    )
    with _full_backlog_listener() as port, _aws_endpoint(monkeypatch, port):
        error, _ = _failure_within(3, lambda: db_url.database_url(settings))
        assert isinstance(error, DatabaseUnavailableError)


# ---- TLS to the proxy -----------------------------------------------------------------------------------


def _tls_server(tmp_path, monkeypatch) -> tuple[int, list[str], Callable[[], None]]:  # type: ignore[no-untyped-def]
    """A loopback server that answers the SSLRequest with a certificate for `localhost` issued by a test
    CA, which the client's bundle (certifi's, replaced here) trusts. Records each handshake's outcome."""
    import ssl

    import certifi
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def issue(subject: str, issuer_key, issuer: x509.Name | None, ca: bool):  # type: ignore[no-untyped-def]
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return key, builder.sign(issuer_key or key, hashes.SHA256())

    ca_key, ca_cert = issue("progress test CA", None, None, True)
    server_key, server_cert = issue("localhost", ca_key, ca_cert.subject, False)
    pem = serialization.Encoding.PEM
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca_cert.public_bytes(pem))
    monkeypatch.setattr(certifi, "where", lambda: str(bundle))
    (tmp_path / "server.pem").write_bytes(server_cert.public_bytes(pem))
    (tmp_path / "server.key").write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    outcomes: list[str] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            conn.settimeout(5)
            conn.recv(8, socket.MSG_WAITALL)  # SSLRequest
            conn.sendall(b"S")
            try:
                with server_context.wrap_socket(conn, server_side=True):
                    outcomes.append("handshake completed")
            except (ssl.SSLError, OSError) as exc:
                outcomes.append(type(exc).__name__)

    threading.Thread(target=serve, daemon=True).start()

    def close() -> None:
        listener.close()
        for conn in held:
            conn.close()

    return listener.getsockname()[1], outcomes, close


def test_tls_trusts_the_bundle_and_checks_the_host_name(tmp_path, monkeypatch) -> None:
    port, outcomes, close = _tls_server(tmp_path, monkeypatch)
    try:
        for host, expected in (
            ("localhost", "handshake completed"),
            ("127.0.0.1", "CERTIFICATE_VERIFY_FAILED"),
        ):
            url = f"postgresql://app:pw@{host}:{port}/progress"
            with (
                _engine(url, env={"DB_TLS": "verify-full"}, socket_timeout=3) as engine,
                pytest.raises(Exception) as info,
                engine.connect(),
            ):
                pass
            if expected == "handshake completed":
                # the handshake succeeded; the test server then hangs up instead of speaking PostgreSQL
                assert "CERTIFICATE_VERIFY_FAILED" not in str(info.value)
            else:  # the certificate is for localhost, not for the address dialled
                assert expected in str(info.value) and "IP address mismatch" in str(info.value)
        assert outcomes[0] == "handshake completed" and "handshake completed" not in outcomes[1:]
    finally:
        close()
