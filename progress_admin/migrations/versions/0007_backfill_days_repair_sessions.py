"""Backfill the practice day of old attempts in batches, repair sessions shared between users, then
validate the constraints 0006 added.

Nothing here blocks writers for long: every batch (10 000 ids) commits on its own, and VALIDATE CONSTRAINT
takes a lock that lets inserts go on. Killed at any point, it can simply be run again: the backfill only
touches rows still without a day, the repair only attempts still in another user's session, and the
version is stamped only at the end.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import logging

from alembic import op

from progress_admin.backfill import backfill_local_days, null_days_left, repair_shared_sessions

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("progress_admin.migrations")

VALIDATE = (
    "ALTER TABLE attempts VALIDATE CONSTRAINT attempts_local_day_present",
    "ALTER TABLE attempts_archive VALIDATE CONSTRAINT attempts_archive_local_day_present",
    "ALTER TABLE attempts VALIDATE CONSTRAINT attempts_created_at_in_range",
    "ALTER TABLE attempts_archive VALIDATE CONSTRAINT attempts_archive_created_at_in_range",
    "ALTER TABLE attempts VALIDATE CONSTRAINT attempts_session_id_fkey",
)


def upgrade() -> None:
    with op.get_context().autocommit_block():
        conn = op.get_bind()
        # the table is dropped last: when it is gone, a previous run got past the backfill and validation
        if conn.exec_driver_sql("SELECT to_regclass('progress_local_day_zone') IS NOT NULL").scalar_one():
            batches = backfill_local_days(conn)
            if null_days_left(conn):  # rows archived mid-run into a range already done: one more pass
                batches += backfill_local_days(conn)
            log.info("practice days backfilled in %d batches", batches)
        repaired = repair_shared_sessions(conn)
        if repaired:
            log.warning("%d sessions held attempts of other users; those attempts left them", repaired)
        for statement in VALIDATE:
            op.execute(statement)
        op.execute("DROP TABLE IF EXISTS progress_local_day_zone")


def downgrade() -> None:
    # Nothing to undo: the days stay (0006's downgrade drops the column), repaired sessions stay repaired.
    pass
