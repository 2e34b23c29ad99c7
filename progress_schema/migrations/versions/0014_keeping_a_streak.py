"""Keeping a streak: freezes, rest days, repair, goals (docs/streaks.md).

- `streak_config` (one row): the deployment's limits, written by every migration run from the environment
  (progress_configure_streaks_v1), and `rules_start`, the first day of these rules: the upgrade's date when
  the database already holds attempts (no past figure changes), else -infinity (no limit).
- `user_settings`: one row per settings version of a learner (effective from a local day on).
- `freeze_grants` and `streak_repairs`: rows, never counters, so every figure can be recounted from history.
- `user_frozen_days`: the days the walk found frozen (derived, kept by the write path like the day rows).
- Day start: an attempt's practice day is its local date less the learner's day start
  (progress_local_day), in progress_record_attempts_v2 and the trigger for plain inserts: replaced in
  place, its answer unchanged, so the code of both releases writes the same days during a deploy.
- The profile's flags has_settings and has_grants (kept by a trigger on those tables): the reads query
  them only for learners who have such rows.
- The profile keeps the chain of met weeks ending the week before its last history day's (weekly_chain,
  weekly_chain_week), so a read counts at most this week and last week.
- The profile keeps the walk's checkpoint at the learner's last history day: the freezes held then (their
  sources, oldest first), whether the run is perfect, whether the starter freezes were given, the latest
  break (for repair).

New tables, and columns with constant defaults (no rewrite of user_profiles); lock_timeout keeps the ALTER
from queueing writers; every statement is IF NOT EXISTS or CREATE OR REPLACE: re-runnable.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SCHEMA = """
SET LOCAL lock_timeout = '5s';

CREATE TABLE IF NOT EXISTS streak_config (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    rules_start date NOT NULL,
    freeze_max_held integer NOT NULL DEFAULT 0 CHECK (freeze_max_held BETWEEN 0 AND 10),
    freeze_starter integer NOT NULL DEFAULT 0 CHECK (freeze_starter BETWEEN 0 AND 10),
    freeze_earn_every integer NOT NULL DEFAULT 0 CHECK (freeze_earn_every BETWEEN 0 AND 365),
    repair_window_days integer NOT NULL DEFAULT 0 CHECK (repair_window_days BETWEEN 0 AND 30),
    repair_max_gap_days integer NOT NULL DEFAULT 0 CHECK (repair_max_gap_days BETWEEN 0 AND 30),
    repair_every_days integer NOT NULL DEFAULT 0 CHECK (repair_every_days BETWEEN 0 AND 3650),
    repair_attempts integer NOT NULL DEFAULT 1 CHECK (repair_attempts BETWEEN 1 AND 500),
    daily_goal integer NOT NULL DEFAULT 1 CHECK (daily_goal BETWEEN 1 AND 500),
    configured_at timestamptz
);
-- The rules start today when the database holds attempts, else at no limit; the limits stay off (0) until
-- the migration run that follows configures them from the environment.
INSERT INTO streak_config (rules_start)
SELECT CASE WHEN EXISTS (SELECT 1 FROM attempts) OR EXISTS (SELECT 1 FROM attempts_archive)
            THEN (now() AT TIME ZONE 'UTC')::date ELSE '-infinity'::date END
ON CONFLICT (singleton) DO NOTHING;

CREATE TABLE IF NOT EXISTS user_settings (
    user_id bigint NOT NULL CHECK (user_id >= 0),
    effective_from date NOT NULL,
    rest_weekdays smallint[] NOT NULL DEFAULT '{}'
        CHECK (cardinality(rest_weekdays) <= 2 AND rest_weekdays <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]),
    day_start_minutes integer NOT NULL DEFAULT 0 CHECK (day_start_minutes BETWEEN 0 AND 360),
    daily_goal_unit text CHECK (daily_goal_unit IN ('attempts', 'correct')),
    daily_goal_target integer CHECK (daily_goal_target BETWEEN 1 AND 500),
    weekly_goal_days integer CHECK (weekly_goal_days BETWEEN 1 AND 7),
    week_start smallint NOT NULL DEFAULT 1 CHECK (week_start BETWEEN 1 AND 7),
    reminders jsonb,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, effective_from),
    CHECK ((daily_goal_unit IS NULL) = (daily_goal_target IS NULL))
);

CREATE TABLE IF NOT EXISTS freeze_grants (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL CHECK (user_id >= 0),
    grant_key text NOT NULL CHECK (char_length(grant_key) BETWEEN 1 AND 200),
    requested integer NOT NULL CHECK (requested BETWEEN 1 AND 10),
    added integer NOT NULL CHECK (added BETWEEN 1 AND requested),
    source text NOT NULL DEFAULT 'granted' CHECK (source = 'granted'),
    local_day date NOT NULL,
    -- what POST /progress/freezes answered (a repeat of its key answers the same): the freezes held after it,
    -- the maximum; null for a grant recorded otherwise (a repeat of its key then answers the figures of now)
    freezes_held integer CHECK (freezes_held BETWEEN 0 AND 10),
    freezes_max integer CHECK (freezes_max BETWEEN 0 AND 10),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, grant_key)
);
CREATE INDEX IF NOT EXISTS freeze_grants_user_day_idx ON freeze_grants (user_id, local_day);

CREATE TABLE IF NOT EXISTS streak_repairs (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL CHECK (user_id >= 0),
    gap_from date NOT NULL,
    gap_to date NOT NULL,
    attempts_done integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (gap_from <= gap_to AND gap_to - gap_from < 31)
);
CREATE INDEX IF NOT EXISTS streak_repairs_user_idx ON streak_repairs (user_id, gap_from);

CREATE TABLE IF NOT EXISTS user_frozen_days (
    user_id bigint NOT NULL,
    day date NOT NULL,
    source text NOT NULL CHECK (source IN ('starter', 'earned', 'granted')),
    PRIMARY KEY (user_id, day)
);

-- the refresh takes the first day that changed (an overload beside the old one would make calls ambiguous)
DROP FUNCTION IF EXISTS progress_refresh_day_summary(bigint);

ALTER TABLE user_profiles
    ADD COLUMN IF NOT EXISTS freezes text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS run_perfect boolean NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS starter_given boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS break_from date,
    ADD COLUMN IF NOT EXISTS break_to date,
    ADD COLUMN IF NOT EXISTS break_run integer,
    ADD COLUMN IF NOT EXISTS has_settings boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS has_grants boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS weekly_chain integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS weekly_chain_week date;
"""

NEW_FUNCTIONS = (
    "progress_read_progress_v3(bigint, timestamptz, timestamptz, bigint, integer)",
    "progress_read_statistics_v3(bigint, timestamptz, integer)",
    "progress_streak_now(user_profiles, timestamptz)",
    "progress_streak_walk(bigint, date, user_profiles)",
    "progress_refresh_day_summary(bigint, date)",
    "progress_streak_gap_day(date, date, date[], integer[], text[])",
    "progress_rest_day(date, date[], integer[])",
    "progress_streak_add_freezes(text[], text, integer, integer)",
    "progress_weekday_mask(smallint[])",
    "progress_local_day(bigint, timestamptz, text)",
    "progress_settings_on(user_settings[], date)",
    "progress_day_of(timestamp, user_settings[])",
    "progress_shift_day(timestamp, integer)",
    "progress_settings_in_force(bigint, date)",
    "progress_week_counts(bigint, date)",
    "progress_week_met(integer, integer, integer)",
    "progress_weekly_chain(bigint, date, user_settings[], date)",
    "progress_week_start(date, integer)",
    "progress_keeping_rows_added()",
    "progress_settings_document(user_settings, integer)",
    "progress_settings_get_v1(bigint, timestamptz)",
    "progress_settings_put_v1(bigint, timestamptz, jsonb)",
    "progress_freezes_grant_v1(bigint, timestamptz, jsonb)",
    "progress_streak_repair_v1(bigint, timestamptz)",
    "progress_reset_user_v4(bigint)",
    "progress_erase_user_v3(bigint)",
    "progress_export_page_v3(bigint, integer, timestamptz, bigint, integer)",
)


def upgrade() -> None:
    op.execute(SCHEMA)
    apply_snapshot(op, revision)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS user_settings_flag_profile ON user_settings")
    op.execute("DROP TRIGGER IF EXISTS freeze_grants_flag_profile ON freeze_grants")
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    # the definitions before 0014 (they call nothing dropped above)
    apply_snapshot(op, "0005", only={"progress_refresh_day_summary"})
    apply_snapshot(
        op,
        "0006",
        only={"progress_record_attempts_v2", "progress_attempt_local_day", "progress_attempts_inserted"},
    )
    op.execute(
        "ALTER TABLE user_profiles DROP COLUMN IF EXISTS freezes, DROP COLUMN IF EXISTS run_perfect,"
        " DROP COLUMN IF EXISTS starter_given, DROP COLUMN IF EXISTS break_from, DROP COLUMN IF EXISTS break_to,"
        " DROP COLUMN IF EXISTS break_run, DROP COLUMN IF EXISTS has_settings, DROP COLUMN IF EXISTS has_grants,"
        " DROP COLUMN IF EXISTS weekly_chain, DROP COLUMN IF EXISTS weekly_chain_week"
    )
    op.execute(
        "DROP TABLE IF EXISTS user_frozen_days, streak_repairs, freeze_grants, user_settings, streak_config"
    )
