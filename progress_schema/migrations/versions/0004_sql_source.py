"""Functions and triggers from the `.sql` source files; the functions the layer calls get versioned names.

Creates `progress_record_attempts_v1`, `progress_reset_user_v1`, `progress_archive_batch_v1`,
`progress_set_timezone_v1`, `progress_set_legacy_longest_streak_v1`, `progress_read_progress_v1` and
`progress_read_statistics_v1` (same bodies as before), and re-applies the internal functions and the
triggers from their files (unchanged). The unversioned functions stay for the code of the previous release
while a deploy is under way (see progress_schema/sqlsource.py).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VERSIONED = (
    "progress_record_attempts_v1(jsonb)",
    "progress_reset_user_v1(bigint)",
    "progress_archive_batch_v1(timestamptz, integer)",
    "progress_set_timezone_v1(bigint, text)",
    "progress_set_legacy_longest_streak_v1(bigint, integer)",
    "progress_read_progress_v1(bigint, timestamptz, bigint, integer)",
    "progress_read_statistics_v1(bigint, integer)",
)


def upgrade() -> None:
    apply_snapshot(op, revision)


def downgrade() -> None:
    for signature in VERSIONED:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
