"""Database access: one engine per execution environment, sized for Lambda.

The engine runs in autocommit mode and every operation of the service is a single SQL statement (most of
them calls of the functions the migrations define), so each is its own transaction: nothing is ever
half-written, and a read costs exactly one statement with no BEGIN/ROLLBACK round trips around it.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Row, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.base import Executable

from progress_common.db_url import database_url, forget_cached_secret
from progress_common.errors import DatabaseUnavailableError
from progress_common.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import ExceptionContext

log = logging.getLogger(__name__)

# SQLSTATE classes that mean "the database is not usable right now", not "your statement is wrong":
# 08 connection exception, 53 insufficient resources, 57 operator intervention (includes statement
# timeout 57014 and admin shutdown 57P01), 40 transaction rollback (serialization failure, deadlock).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "40")
# A connection refused for its credentials: 28P01 invalid_password, 28000 invalid_authorization_specification.
_CREDENTIALS_REFUSED = ("28P01", "28000")
# object_not_in_prerequisite_state: at connect time "database ... is not currently accepting connections"
# (an operator closed it, e.g. ALLOW_CONNECTIONS false); in a statement it is a bug and stays one.
_NOT_ACCEPTING_CONNECTIONS = "55000"

_engine: Engine | None = None
_engine_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """TLS that verifies the server: its chain must end at a trusted root (certifi's Mozilla bundle,
    which holds Amazon's roots that RDS Proxy's ACM certificates chain to; else the system's store)
    and its certificate must name the host we dialled."""
    try:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi is pinned in the layer
        context = ssl.create_default_context()
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect_args_for(settings: Settings, *, socket_timeout: float | None) -> dict[str, Any]:
    """pg8000's connect arguments. The startup packet carries user, database and application_name
    only: RDS Proxy refuses `options` and nothing documents what it does with other parameters, so the
    session's statement timeout and time zone are role defaults (schema.ROLE_SESSION_DEFAULTS)."""
    return {
        "timeout": socket_timeout,
        "application_name": "progress-service",
        # False, not None: pg8000's default tries TLS without verifying anything, then falls back.
        "ssl_context": tls_context() if settings.db_tls == "verify-full" else False,
    }


def make_engine(
    settings: Settings,
    *,
    pool_size: int | None = None,
    socket_timeout: float | None = -1.0,
    statement_timeout_ms: int | None = None,
    autocommit: bool = True,
    check_schema: bool = False,
) -> Engine:
    """A new engine. Functions use get_engine(); tools and tests build their own with other limits.

    socket_timeout: seconds a connect or read may block; -1 means the settings' connect timeout,
    None means no limit (long migrations and imports).
    statement_timeout_ms: when given (or DB_STATEMENT_TIMEOUT_MS is set), each new connection runs one
    SET (0 = no limit); otherwise the role default applies and nothing is sent.
    check_schema: each new connection checks the schema revision the code needs (the functions).
    """
    url = database_url(settings)
    timeout = settings.db_connect_timeout_seconds if socket_timeout == -1.0 else socket_timeout
    statement_timeout = (
        settings.db_statement_timeout_ms if statement_timeout_ms is None else statement_timeout_ms
    )
    engine = create_engine(
        url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_connect_timeout_seconds,
        # No pre-ping: it would cost a round trip per request. A connection that died while the container
        # was frozen shows itself by failing, and run_idempotent() retries its statement once.
        pool_pre_ping=False,
        pool_recycle=900,
        # Errors must never carry user answers or other parameters into logs.
        hide_parameters=True,
        isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED",
        connect_args=connect_args_for(settings, socket_timeout=timeout),
    )
    if statement_timeout is not None:
        event.listen(engine, "connect", _statement_timeout_setter(statement_timeout))
    if check_schema:
        event.listen(engine, "connect", _check_schema_on_connect)
    if settings.database_url is None:
        _follow_the_secret(engine, settings)
    _detect_raw_socket_errors(engine)
    _quiet_closing_of_dead_connections(engine)
    return engine


def _follow_the_secret(engine: Engine, settings: Settings) -> None:
    """An engine whose credentials come from Secrets Manager survives the secret's rotation: each new
    connection takes user, password, host, port and database from the secret as currently cached (read
    again at most every 5 minutes, so no call per connection), and a connection refused for its
    credentials drops the cached secret, so the next connection reads it again, and is a
    DatabaseUnavailableError (a 503, a batch retried), not a bug. The engine is kept either way."""
    secret_arn = settings.db_secret_arn

    @event.listens_for(engine, "do_connect")
    def _current_credentials(dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        _, from_secret = dialect.create_connect_args(database_url(settings))
        cparams.update(from_secret)

    @event.listens_for(engine, "handle_error")
    def _credentials_refused(context: ExceptionContext) -> DatabaseUnavailableError | None:
        code = sqlstate(context.original_exception)
        if code not in _CREDENTIALS_REFUSED:
            return None
        forget_cached_secret()
        log.warning(
            "the database refused the credentials of secret %s (SQLSTATE %s); "
            "the next connection reads the secret again",
            secret_arn,
            code,
        )
        return DatabaseUnavailableError("the database refused the credentials")


def _statement_timeout_setter(milliseconds: int) -> Any:
    def set_statement_timeout(dbapi_connection: Any, _record: Any) -> None:
        previous_autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET statement_timeout = {int(milliseconds)}")
        finally:
            cursor.close()
            dbapi_connection.autocommit = previous_autocommit

    return set_statement_timeout


def _check_schema_on_connect(dbapi_connection: Any, _record: Any) -> None:
    from progress_common.schema import check_schema_revision

    try:
        check_schema_revision(dbapi_connection)
    except BaseException:
        # The pool does not keep a connection whose connect event failed: close it here, so the
        # next request connects (and checks) afresh once the migration has run.
        dbapi_connection.close()
        raise


def get_engine() -> Engine:
    """The execution environment's engine, created on first use and kept for the container's life."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = make_engine(get_settings(), check_schema=True)
    return _engine


def set_engine(engine: Engine | None) -> None:
    """Replace the shared engine (tests, local server). The old one is disposed."""
    global _engine
    with _engine_lock:
        if _engine is not None and _engine is not engine:
            _engine.dispose()
        _engine = engine


def dispose_engine() -> None:
    """Close pooled connections, e.g. before a snapshot or when the process freezes for long."""
    set_engine(None)


def is_transient(exc: BaseException) -> bool:
    """True when a database error means "unavailable, retry later" rather than a bug or bad data."""
    if isinstance(exc, sa_exc.TimeoutError | DatabaseUnavailableError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError | sa_exc.OperationalError):
            return True
        code = sqlstate(exc)
        if code == _NOT_ACCEPTING_CONNECTIONS and exc.statement is None:  # refused at connect time
            return True
        return code is not None and code.startswith(_TRANSIENT_SQLSTATE_CLASSES)
    return isinstance(exc, ConnectionError | OSError)


@contextmanager
def unavailable_as_typed_error() -> Iterator[None]:
    """Turn a transient failure (SQLAlchemy's, or the built-in TimeoutError/OSError pg8000 raises on a
    silent or vanished server) into DatabaseUnavailableError; everything else passes through."""
    try:
        yield
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        if is_transient(exc):
            raise DatabaseUnavailableError("the database is unavailable") from exc
        raise


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE of a pg8000 error wrapped by SQLAlchemy, when there is one."""
    orig = getattr(exc, "orig", exc)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], dict):
        code = args[0].get("C")
        return code if isinstance(code, str) else None
    return None


def _detect_raw_socket_errors(engine: Engine) -> None:
    """Treat a bare OSError out of pg8000 as a lost connection, as SQLAlchemy does with "network error".

    pg8000 wraps most socket errors in InterfaceError("network error"), but a reset seen by the first
    read after a request escapes as a plain ConnectionResetError; without this the broken connection
    would go back to the pool and fail the next request too.
    """

    @event.listens_for(engine, "handle_error")
    def _socket_error_is_a_disconnect(context: ExceptionContext) -> None:
        if isinstance(context.original_exception, OSError):
            context.is_disconnect = True


def _closing_a_dead_connection(record: logging.LogRecord) -> bool:
    """Keep every pool log record except "Exception terminating/closing connection" caused by a dead peer.

    Closing a connection first sends PostgreSQL's Terminate message; when the server or the network has
    already dropped the connection (the case run_idempotent() retries and logs as a warning), that send
    fails with a socket error, pg8000 still closes its socket, and SQLAlchemy would log an ERROR with a
    traceback for a connection that is simply gone. Any other failure while closing stays an ERROR.
    """
    from pg8000.exceptions import InterfaceError  # the dialect's driver: imported already

    exc = record.exc_info[1] if record.exc_info else None
    if (
        isinstance(record.msg, str)
        and record.msg.startswith(("Exception terminating connection", "Exception closing connection"))
        and isinstance(exc, InterfaceError)
        and isinstance(exc.__cause__, OSError)
    ):
        log.debug("closed a database connection the server or network had already dropped")
        return False
    return True


def _quiet_closing_of_dead_connections(engine: Engine) -> None:
    pool_logger = engine.pool.logger
    target = pool_logger if isinstance(pool_logger, logging.Logger) else pool_logger.logger
    if _closing_a_dead_connection not in target.filters:
        target.addFilter(_closing_a_dead_connection)


# Set in a pooled connection's info (which lives exactly as long as the DBAPI connection) once it has
# answered a statement: from then on it sits idle in the pool between requests.
_HAS_SERVED = "progress_has_served"


def run_idempotent(
    sql: str | Executable, params: Mapping[str, Any] | None = None, *, engine: Engine | None = None
) -> Sequence[Row[Any]]:
    """Run one idempotent statement and return its rows.

    Complete SQL text (see sqltext.render_sql) goes to pg8000 without parameters, so it is one simple
    Query: one round trip, no BEGIN or COMMIT around it (the engine is in autocommit mode). A statement
    with bound `params` (the batch write: its JSON holds user text) costs pg8000's three round trips; it
    may be retried because a batch is idempotent by attempt_uid. When the statement fails because the connection
    is gone, and that connection had been idle in the pool (it answered an earlier statement; typically
    the backend or the proxy dropped it while the container was frozen), the statement is run once more on
    a new connection. A failure on a connection made for this very call is a real outage: it is raised.
    Only for statements that may safely run twice: reads, and reset. A connection that died while idle
    never delivered the statement to a backend, so the retry is the only run. Should a connection break
    after a reset was sent and committed (the reply lost), the retry removes what arrived since (the
    request was still in flight, so that is the reset the caller asked for) and reports zeros for what
    the first run removed: the counts may be low, what is stored is right. A retried batch write whose
    first run committed reports its attempts as duplicates: stored once, acknowledged either way.
    """
    engine = engine or get_engine()
    for attempt in (1, 2):
        with engine.connect() as conn:
            was_idle_in_pool = bool(conn.info.get(_HAS_SERVED))
            try:
                result = (
                    conn.exec_driver_sql(sql) if isinstance(sql, str) else conn.execute(sql, params or {})
                )
                rows = result.all()
            except (sa_exc.DBAPIError, OSError):
                # invalidated: SQLAlchemy found the connection gone (and dropped it from the pool)
                if attempt == 1 and was_idle_in_pool and conn.invalidated:
                    log.warning("a pooled database connection had died while idle; retrying on a new one")
                    continue
                raise
            conn.info[_HAS_SERVED] = True
            return rows
    raise AssertionError("unreachable: the second attempt returns or raises")
