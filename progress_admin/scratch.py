"""Throw-away databases for tests and benchmarks: on a real server when one answers, else embedded.

Order: TEST_DATABASE_URL (a maintenance URL of any server), the server at 127.0.0.1:5432 (user root,
database test) when it answers and PROGRESS_TEST_EMBEDDED is not 1, else a pgserver in a temp folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy import exc as sa_exc

from progress_common.db_url import url_from_database_url
from progress_schema.database import start_embedded_postgres

LOCAL_SERVER_URL = "postgresql+pg8000://root@127.0.0.1:5432/test"


@dataclass(frozen=True)
class ScratchDatabase:
    url: str  # of the new database, password included (local use only)
    maintenance_url: str
    kind: str  # "server" or "embedded"


def server_answers(url: str) -> bool:
    engine = create_engine(url, connect_args={"timeout": 2})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except sa_exc.DBAPIError:
        return False
    finally:
        engine.dispose()


def _maintenance_url(tmp_root: Path) -> tuple[str, str]:
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return url_from_database_url(explicit).render_as_string(hide_password=False), "server"
    if os.environ.get("PROGRESS_TEST_EMBEDDED") != "1" and server_answers(LOCAL_SERVER_URL):
        return LOCAL_SERVER_URL, "server"
    raw = start_embedded_postgres(tmp_root / "pgdata", cleanup_mode="delete")
    return url_from_database_url(raw).render_as_string(hide_password=False), "embedded"


@contextmanager
def scratch_database(prefix: str = "progress_scratch") -> Iterator[ScratchDatabase]:
    """A new, empty database; dropped (and an embedded server stopped) afterwards."""
    tmp_root = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    maintenance_url, kind = _maintenance_url(tmp_root)
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(maintenance_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(maintenance_url).set(database=name).render_as_string(hide_password=False)
        try:
            yield ScratchDatabase(url=url, maintenance_url=maintenance_url, kind=kind)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
        shutil.rmtree(tmp_root, ignore_errors=True)
