"""The learner's data export holds the signals' data (docs/export.md): progress_export_page_v4 adds the kinds
`reminder_settings` (user_reminders) and `signal` (signal_outbox) to v3's, within format version 1.

A new function beside v3, not a replacement: the worker of the release before this one keeps calling v3
while a deploy is under way. No table changes.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

NEW_FUNCTIONS = ("progress_export_page_v4(bigint, integer, timestamptz, bigint, integer)",)


def upgrade() -> None:
    apply_snapshot(op, revision)


def downgrade() -> None:
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
