"""Alembic environment: runs on the connection progress_schema.database hands it (see migrate())."""

from __future__ import annotations

from alembic import context


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `progress-admin migrate`, which supplies the connection")
    # One transaction per migration: a migration that backfills in batches commits them as it goes
    # (autocommit_block), and an interrupted run resumes after the last migration that completed.
    # migrate() holds a session advisory lock around the run, so concurrent runs queue.
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) mode is not supported")
run_migrations_online()
