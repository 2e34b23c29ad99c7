"""The statistics and the explain take the settings versions and the deployment's limits from
`progress_streak_state`, which read them already, instead of reading `user_settings` and `streak_config` a
second time in the same call. No figure changes; no table changes.

`progress_streak_state` gains two OUT parameters (`versions`, `cfg`): a new result type, so it is dropped and
created again (its callers are PL/pgSQL and take fields by name).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

STATE = "progress_streak_state(user_profiles, timestamptz)"


def upgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {STATE}")
    apply_snapshot(op, revision)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {STATE}")
    apply_snapshot(
        op,
        "0017",
        only={"progress_streak_state", "progress_read_statistics_v4", "progress_read_streak_explain_v1"},
    )
