"""Backfill the practice day of old attempts in batches, repair sessions shared between users, move
attempts whose time no read can show to a quarantine, then validate the constraints 0006 added.

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

from progress_schema.backfill import backfill_local_days, null_days_left, repair_shared_sessions
from progress_schema.sqlsource import apply_snapshot

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("progress_schema.migrations")

VALIDATE = (
    "ALTER TABLE attempts VALIDATE CONSTRAINT attempts_local_day_present",
    "ALTER TABLE attempts_archive VALIDATE CONSTRAINT attempts_archive_local_day_present",
    "ALTER TABLE attempts VALIDATE CONSTRAINT attempts_created_at_in_range",
    "ALTER TABLE attempts_archive VALIDATE CONSTRAINT attempts_archive_created_at_in_range",
    "ALTER TABLE attempts VALIDATE CONSTRAINT attempts_session_id_fkey",
)


QUARANTINE = """
-- Attempts stored before 0006's constraints with a time no read can show (year 1, BC, infinity): kept
-- here rather than lost, out of every figure; a reset removes them with the rest of the user's data.
CREATE TABLE IF NOT EXISTS attempts_quarantine (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL,
    exercise_id bigint NOT NULL,
    is_correct boolean NOT NULL,
    user_answer text NOT NULL,
    created_at timestamptz NOT NULL,
    session_id bigint,
    attempt_uid uuid NOT NULL,
    local_day date,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS attempts_quarantine_user_id_idx ON attempts_quarantine (user_id);
"""


def upgrade() -> None:
    op.execute(QUARANTINE)
    apply_snapshot(op, revision)
    with op.get_context().autocommit_block():
        conn = op.get_bind()
        # the table is dropped last: when it is gone, a previous run got past the backfill and validation
        if conn.exec_driver_sql("SELECT to_regclass('progress_local_day_zone') IS NOT NULL").scalar_one():
            batches = backfill_local_days(conn)
            if null_days_left(conn):  # rows archived mid-run into a range already done: one more pass
                batches += backfill_local_days(conn)
            log.info("practice days backfilled in %d batches", batches)
        # after the backfill (the recount reads the days of the rows that stay), before the repair
        quarantined = conn.exec_driver_sql("SELECT progress_quarantine_unreadable_attempts()").scalar_one()
        if quarantined:
            log.warning("%d attempts had a time no read can show; moved to attempts_quarantine", quarantined)
        repaired = repair_shared_sessions(conn)
        if repaired:
            log.warning("%d sessions held attempts of other users; those attempts left them", repaired)
        for statement in VALIDATE:
            op.execute(statement)
        op.execute("DROP TABLE IF EXISTS progress_local_day_zone")


def downgrade() -> None:
    # Nothing to undo: the days stay (0006's downgrade drops the column), repaired sessions stay repaired.
    pass
