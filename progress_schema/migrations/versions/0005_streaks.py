"""Streaks: covered days, one definition of a run, expiry and "practised today" in the reads.

- `user_covered_days`: days an operator covered (`progress-admin cover-days`); a covered day joins the
  practice days around it into one run without adding to its count. Reset removes them.
- `user_profiles.streak_run_end`: the last day (practised or covered) of the latest run. Added without a
  default (no table rewrite) and not backfilled: NULL means `last_practice_date`, which it equals on
  every row written before this revision (no day was covered before).
- `progress_streak_runs` (the one definition of a run), `progress_refresh_day_summary` (caches it on the
  profile), `progress_streak_at` (the one place where "today" meets the cached run).
- `progress_read_progress_v2` / `progress_read_statistics_v2` take "now" from the caller and return the
  new fields; the v1 functions stay for the previous release while a deploy is under way.
- `progress_cover_days_v1`; `progress_reset_user_v1` also deletes covered days.

Every statement can run again after an interruption (IF NOT EXISTS, CREATE OR REPLACE).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE IF NOT EXISTS user_covered_days (
    user_id bigint NOT NULL CHECK (user_id >= 0),
    day date NOT NULL,
    reason text NOT NULL CHECK (btrim(reason) <> '' AND char_length(reason) <= 500),
    covered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, day)
);
ALTER TABLE user_profiles ADD COLUMN IF NOT EXISTS streak_run_end date;
"""

NEW_FUNCTIONS = (
    "progress_cover_days_v1(date, date, text, bigint[], date)",
    "progress_read_statistics_v2(bigint, timestamptz, integer)",
    "progress_read_progress_v2(bigint, timestamptz, timestamptz, bigint, integer)",
    "progress_streak_at(user_profiles, timestamptz)",
)


def upgrade() -> None:
    op.execute(TABLES)
    apply_snapshot(op, revision)


def downgrade() -> None:
    # The new entry points go; the table, the column and the in-place internal functions stay (the code
    # of revision 0004 reads neither, and they keep its figures right).
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
