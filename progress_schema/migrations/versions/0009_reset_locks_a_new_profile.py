"""Reset takes the user's lock even when the user has no profile yet.

progress_reset_user_v1 locked the profile row with FOR UPDATE, which locks nothing when the row does not
exist: a user's first write that created it and committed between the reset's statements kept its attempts
while the reset deleted their aggregates. The function now creates the row first (ON CONFLICT DO NOTHING,
which waits for a concurrent first write) and then locks it. Same signature and results, replaced in place,
so the code of the previous release gets the fix too. One CREATE OR REPLACE FUNCTION: no lock on
`attempts`, and it can simply run again.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_snapshot(op, revision)


def downgrade() -> None:
    # the definition 0007 froze (the one before this fix)
    apply_snapshot(op, "0007", only={"progress_reset_user_v1"})
