"""Carry a longest streak over from the old JSON files.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UP = """
-- Keep a longest streak recorded by the old system when it is longer than the history shows.
CREATE FUNCTION progress_set_legacy_longest_streak(p_user_id bigint, p_longest integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    result integer;
BEGIN
    INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
    UPDATE user_profiles
       SET legacy_longest_streak = GREATEST(legacy_longest_streak, p_longest), updated_at = now()
     WHERE user_id = p_user_id;
    PERFORM progress_refresh_day_summary(p_user_id);
    SELECT longest_streak INTO result FROM user_profiles WHERE user_id = p_user_id;
    RETURN result;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS progress_set_legacy_longest_streak(bigint, integer)")
