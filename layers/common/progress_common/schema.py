"""The schema revision this code needs, checked once on every new database connection.

Whoever adds a migration bumps REQUIRED_SCHEMA_REVISION to it (tests/test_schema_check.py compares it
with Alembic's head, and the template's SchemaMigration custom resource carries the same revision).
"""

from __future__ import annotations

import logging
from typing import Any

from progress_common.errors import SchemaOutdatedError

log = logging.getLogger(__name__)

REQUIRED_SCHEMA_REVISION = "0018"

# What the migration sets as the application role's defaults in the service's database (ALTER ROLE ...
# IN DATABASE ... SET), so that no connection sends them: RDS Proxy refuses the `options` startup
# parameter and pins every session that runs SET. The statement timeout stays under the client's
# 4.5 s read timeout (Settings.db_connect_timeout_seconds), so the server cancels first and the
# connection survives; UTC keeps the timestamps in the JSON the read functions build in one offset.
ROLE_SESSION_DEFAULTS: dict[str, str] = {"statement_timeout": "4s", "TimeZone": "UTC"}

_REVISION_SQL = "SELECT version_num FROM alembic_version"


def is_behind(current: str | None, required: str) -> bool:
    """True when a database at `current` lacks migrations that `required` includes.

    Revisions are one linear chain of zero-padded numbers (0001, 0002, ...), so a later revision
    sorts after an earlier one; a database ahead of the code (a newer release migrated it, old
    containers still run) is not behind: migrations only add.
    """
    if current is None:
        return True
    if current.isdigit() and required.isdigit():
        return int(current) < int(required)
    return current != required


def check_schema_revision(dbapi_connection: Any, required: str | None = None) -> None:
    """Raise SchemaOutdatedError when the database behind this new connection is behind `required`.

    One simple-protocol statement on a fresh autocommit connection; runs once per connection (a pool
    "connect" event), never per request.
    """
    required = required or REQUIRED_SCHEMA_REVISION
    previous_autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True  # no BEGIN round trip around the check
    cursor = dbapi_connection.cursor()
    try:
        try:
            cursor.execute(_REVISION_SQL)
            rows = cursor.fetchall()
        except Exception as exc:
            if _sqlstate(exc) != "42P01":  # undefined_table: never migrated
                raise
            rows = []
        finally:
            cursor.close()
    finally:
        dbapi_connection.autocommit = previous_autocommit
    current = str(rows[0][0]) if rows else None
    if is_behind(current, required):
        log.warning("database schema is at %s, this code needs %s", current or "nothing", required)
        raise SchemaOutdatedError(
            f"the database schema is at revision {current or 'none'}, this code needs {required}"
        )


def _sqlstate(exc: BaseException) -> str | None:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], dict):
        code = args[0].get("C")
        return code if isinstance(code, str) else None
    return None
