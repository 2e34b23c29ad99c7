"""Which database local commands use, the embedded server, and schema migrations."""

from __future__ import annotations

import logging
import os
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from progress_common.db import make_engine
from progress_common.db_url import database_url, describe_url
from progress_common.schema import ROLE_SESSION_DEFAULTS
from progress_common.settings import Settings, get_streak_settings, load_settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Project-local folder for the embedded server's data; override with PROGRESS_LOCAL_DIR.
DEFAULT_LOCAL_DIR = Path(".local")

_embedded_servers: dict[str, Any] = {}


# Any number fixed for this project: concurrent `migrate` runs queue behind one another.
MIGRATION_LOCK_SQL = text("SELECT pg_advisory_lock(7240001)")
MIGRATION_UNLOCK_SQL = text("SELECT pg_advisory_unlock(7240001)")


class DatabaseNotReachableError(RuntimeError):
    """The configured database does not answer; the message says which one and why."""


def local_dir() -> Path:
    return Path(os.environ.get("PROGRESS_LOCAL_DIR") or DEFAULT_LOCAL_DIR).resolve()


def local_exports_dir() -> Path:
    """Where `serve` keeps export files (the local stand-in of the export bucket)."""
    return local_dir() / "exports"


def start_embedded_postgres(data_dir: Path, *, cleanup_mode: str | None = "stop") -> str:
    """Start (or reuse) the pgserver PostgreSQL in data_dir; return a libpq-style URL for it."""
    key = str(data_dir)
    if key not in _embedded_servers:
        import warnings

        data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR notice on servers
            import pgserver  # heavy and local-only: imported when the embedded server is wanted

            _embedded_servers[key] = pgserver.get_server(data_dir, cleanup_mode=cleanup_mode)
    server = _embedded_servers[key]
    url: str = server.get_uri()
    return url


def ensure_database_url(*, announce: bool = True) -> str:
    """DATABASE_URL if set; otherwise start the embedded PostgreSQL, export its URL and return it."""
    existing = os.environ.get("DATABASE_URL")
    if existing:
        return existing
    data_dir = local_dir() / "pgdata"
    url = start_embedded_postgres(data_dir)
    os.environ["DATABASE_URL"] = url
    if announce:
        print(f"DATABASE_URL is not set: using the embedded PostgreSQL in {data_dir}", file=sys.stderr)
    return url


def admin_settings(defaults: dict[str, str] | None = None) -> Settings:
    """Settings for local tools: DATABASE_URL (or the embedded server) is the database; `defaults` are
    variables the environment has not set (e.g. a function's own from the template)."""
    ensure_database_url()
    env = {**(defaults or {}), **os.environ}
    env.pop("DB_SECRET_ARN", None)
    return load_settings(env)


def admin_engine(settings: Settings, *, autocommit: bool = True, pool_size: int = 1) -> Engine:
    """An engine for long-running tools: no socket or statement time limit."""
    return make_engine(
        settings, pool_size=pool_size, socket_timeout=None, statement_timeout_ms=0, autocommit=autocommit
    )


def check_reachable(settings: Settings) -> None:
    """Fail fast, with the URL (password masked) and the reason, when the database does not answer."""
    engine = make_engine(settings, socket_timeout=settings.db_connect_timeout_seconds)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except ssl.SSLCertVerificationError as exc:
        raise DatabaseNotReachableError(
            f"TLS to the database at {describe_url(database_url(settings))} failed the certificate check "
            f"({exc.verify_message}): its certificate does not chain to a public root. An RDS or Aurora "
            "instance reached directly presents one signed by the RDS CA, which the layer does not ship: "
            "set DbHost to the RDS Proxy endpoint (its certificate chains to Amazon's public roots), or "
            "DbTls=disable for a database without TLS"
        ) from None
    except sa_exc.DBAPIError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise DatabaseNotReachableError(
            f"cannot reach the database at {describe_url(database_url(settings))}: {reason}"
        ) from None
    finally:
        engine.dispose()


def alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def role_defaults_sql() -> str:
    """Session defaults of the connecting role in this database (ALTER ROLE CURRENT_USER IN DATABASE ...
    SET): the service's connections then need no startup parameter and no SET (see
    progress_common.schema.ROLE_SESSION_DEFAULTS). A role may set its own defaults without privileges."""
    statements = " ".join(
        "EXECUTE 'ALTER ROLE CURRENT_USER IN DATABASE ' || quote_ident(current_database()) || "
        f"' SET \"{name}\" = ' || quote_literal('{value}');"
        for name, value in ROLE_SESSION_DEFAULTS.items()
    )
    return f"DO $do$ BEGIN {statements} END $do$"


ROLE_DEFAULTS_NOW_SQL = text(
    "SELECT coalesce((SELECT setconfig FROM pg_db_role_setting"
    "  WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    "    AND setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())), '{}')"
)
# Sessions of this role that started before its defaults changed keep the old values (defaults apply
# to new sessions only), and RDS Proxy hands pooled sessions to any client. Those idle now are ended,
# so the proxy opens new ones with the new defaults; a session in use finishes its work first.
END_STALE_SESSIONS_SQL = text(
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE usename = current_user AND datname = current_database() AND pid <> pg_backend_pid()"
    "   AND state = 'idle' AND backend_start < statement_timestamp()"
)


def apply_role_defaults(conn: Connection) -> int:
    """Set the role's session defaults; when they changed, end the role's idle sessions that predate
    them. Returns how many sessions were ended."""
    before = conn.execute(ROLE_DEFAULTS_NOW_SQL).scalar_one()
    conn.execute(text(role_defaults_sql()))
    if conn.execute(ROLE_DEFAULTS_NOW_SQL).scalar_one() == before:
        return 0
    conn.commit()  # the new defaults are visible to the sessions that replace the ended ones
    ended = int(conn.execute(END_STALE_SESSIONS_SQL).scalar_one())
    log.info(
        "role session defaults set %s; ended %d idle sessions opened before them",
        ROLE_SESSION_DEFAULTS,
        ended,
    )
    return ended


def configure_streaks(conn: Connection) -> bool:
    """Store the deployment's streak limits (StreakSettings, from the environment) in streak_config, where
    the write path's trigger and the reads find them (docs/streaks.md). Returns whether they changed. A
    database before 0014 has no such table: nothing to do."""
    if conn.execute(text("SELECT to_regclass('streak_config') IS NULL")).scalar_one():
        return False
    limits = get_streak_settings().config_row()
    columns = ", ".join(limits)
    values = ", ".join(f":{name}" for name in limits)
    changed = conn.execute(
        text(
            f"UPDATE streak_config SET ({columns}, configured_at) = ({values}, now())"
            f" WHERE ({columns}) IS DISTINCT FROM ({values})"
        ),
        limits,
    ).rowcount
    if changed:
        log.info("streak limits set: %s", limits)
    return bool(changed)


def migrate(
    settings: Settings,
    revision: str = "head",
    *,
    socket_timeout: float | None = None,
    statement_timeout_ms: int = 0,
    lock_timeout_ms: int = 0,
    on_begin: Callable[[Connection], None] | None = None,
) -> str | None:
    """Bring the database to `revision` (default: newest) and apply the role's session defaults.
    Safe to run twice, or twice at once (the second waits for the first). Each migration is its own
    transaction, and a migration that backfills a large table commits batch by batch: an interrupted run
    keeps the migrations (and batches) it completed, and can simply be run again.

    The migration function bounds it: socket_timeout (client), statement_timeout_ms (server, per
    statement) and lock_timeout_ms (a DDL statement that waits for a lock longer fails, instead of queueing
    the service's writers behind it). 0 means no limit.
    on_begin: called with the migration's connection before anything else runs on it.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    check_reachable(settings)
    config = alembic_config()
    engine = make_engine(
        settings,
        pool_size=1,
        socket_timeout=socket_timeout,
        statement_timeout_ms=statement_timeout_ms,
        autocommit=False,
    )
    try:
        with engine.connect() as conn:
            # A session lock, held across the migrations' own transactions: concurrent runs queue here.
            # Session-level settings on this one connection (it is closed afterwards, never pooled).
            if on_begin is not None:
                on_begin(conn)
            conn.execute(MIGRATION_LOCK_SQL)
            if lock_timeout_ms:
                conn.execute(text(f"SET lock_timeout = {int(lock_timeout_ms)}"))
            conn.commit()
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                conn.commit()
                configure_streaks(conn)
                conn.commit()
                apply_role_defaults(conn)
                current: str | None = MigrationContext.configure(conn).get_current_revision()
                conn.commit()
            finally:
                conn.rollback()
                conn.execute(MIGRATION_UNLOCK_SQL)
                conn.commit()
            return current
    finally:
        engine.dispose()
