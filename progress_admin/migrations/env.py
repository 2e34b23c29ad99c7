"""Alembic environment: runs on the connection progress_admin.database hands it (see migrate())."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

# Any number fixed for this project: concurrent `migrate` runs queue behind one another.
MIGRATION_LOCK_KEY = 7_240_001


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `progress-admin migrate`, which supplies the connection")
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(7240001)"))
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) mode is not supported")
run_migrations_online()
