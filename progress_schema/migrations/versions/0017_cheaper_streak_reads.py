"""Cheaper reads of the streak figures (docs/benchmarks.md, "Keeping a streak"); no figure changes.

- `progress_streak_state`: the figures of `progress_streak_now` (now a wrapper of it), with today and the days
  frozen since the last history day typed, so the statistics and the explain no longer parse its JSON;
  `progress_frozen_days` takes them typed.
- `progress_read_progress_v4`, `progress_read_statistics_v4`: the page of attempts and the daily series by
  column (one array per field); the series reads the days into arrays once instead of a join per day, and
  the statistics' statements keep generic plans. New functions beside v3: the code of the previous release
  keeps calling v3 while a deploy is under way.
- `user_profiles.week_practised`, `week_covered`: the counts of the week of the last history day, kept by
  the write path with the weekly chain (progress_refresh_day_summary), so a read takes them instead of
  counting while that week is the current one (NULL until the learner's next refresh: the read counts).
- `has_grants` is cleared by the write path when no grant comes after the profile's checkpoint, so the
  reads query the grants only when one can still count.
- `progress_rest_day`, `progress_weekday_mask`, `progress_day_of`: plain expressions, inlined where called;
  `progress_day_kind` takes whether the day is a rest day (progress_rest_day) instead of the weekdays.

Columns without defaults (no rewrite); CREATE OR REPLACE throughout: re-runnable.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

NEW_FUNCTIONS = (
    "progress_read_progress_v4(bigint, timestamptz, timestamptz, bigint, integer)",
    "progress_read_statistics_v4(bigint, timestamptz, integer)",
    "progress_streak_state(user_profiles, timestamptz)",
    "progress_frozen_days(bigint, date, date[], text[], date)",
    "progress_day_kind(date, boolean, boolean, date, boolean, boolean, boolean)",
)
# the signatures this revision replaces (their callers are replaced with them)
REPLACED_FUNCTIONS = (
    "progress_frozen_days(bigint, json, date)",
    "progress_day_kind(date, boolean, boolean, date, smallint[], boolean, boolean)",
)


def upgrade() -> None:
    op.execute(
        "SET LOCAL lock_timeout = '5s';"
        " ALTER TABLE user_profiles ADD COLUMN IF NOT EXISTS week_practised integer,"
        " ADD COLUMN IF NOT EXISTS week_covered integer"
    )
    for signature in REPLACED_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    apply_snapshot(op, revision)


def downgrade() -> None:
    # the wrapper first: it refers to progress_streak_state, which goes
    apply_snapshot(op, "0015", only={"progress_streak_now"})
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    # the definitions before 0017
    apply_snapshot(
        op,
        "0015",
        only={
            "progress_refresh_day_summary",
            "progress_day_kind",
            "progress_frozen_days",
            "progress_read_streak_explain_v1",
            "progress_read_statistics_v3",
        },
    )
    apply_snapshot(
        op,
        "0014",
        only={"progress_week_counts", "progress_rest_day", "progress_weekday_mask", "progress_day_of"},
    )
    op.execute(
        "ALTER TABLE user_profiles DROP COLUMN IF EXISTS week_practised, DROP COLUMN IF EXISTS week_covered"
    )
