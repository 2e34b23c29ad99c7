"""Streak-at-risk signals, the data side (docs/signals.md "Signals").

- `signal_outbox`: each signal once (unique by user, kind, local day), pending until the publisher marks it
  published, or suppressed with a reason when its condition no longer holds at send time.
- `user_reminders`: the learner's `reminders` settings (kinds on/off, reminder_time, quiet hours); they apply
  at once and change no past figure.
- `user_profiles.next_signal_at` (partial index): the next instant a signal of the learner could become due;
  '-infinity' means "plan again at the next sweep" (set by the write path, settings and timezone changes).
  The sweep reads the due learners by this index only, never by a scan of profiles.
- `user_profiles.reminders_paused`: the kinds paused after 3 ignored signals (GET /progress reads it from the
  profile row it reads anyway; the write path clears it at practice).

Columns with constant defaults (no rewrite); the backfill marks the learners with a streak or settings for
planning at the first sweep. Every statement is IF NOT EXISTS or CREATE OR REPLACE: re-runnable.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

from progress_admin.sqlsource import apply_snapshot

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SCHEMA = """
SET LOCAL lock_timeout = '5s';

CREATE TABLE IF NOT EXISTS signal_outbox (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL CHECK (user_id >= 0),
    kind text NOT NULL
        CHECK (kind IN ('streak_saver', 'weekly_goal_at_risk', 'milestone', 'freeze_used', 'streak_lost')),
    local_day date NOT NULL,
    due_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    detail jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'suppressed')),
    suppressed_reason text,
    published_at timestamptz,
    publish_attempts integer NOT NULL DEFAULT 0,
    UNIQUE (user_id, kind, local_day),
    CHECK ((status = 'suppressed') = (suppressed_reason IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS signal_outbox_pending_idx ON signal_outbox (id) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS user_reminders (
    user_id bigint PRIMARY KEY CHECK (user_id >= 0),
    settings jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE user_profiles
    ADD COLUMN IF NOT EXISTS next_signal_at timestamptz,
    ADD COLUMN IF NOT EXISTS reminders_paused text[] NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS user_profiles_next_signal_idx
    ON user_profiles (next_signal_at) WHERE next_signal_at IS NOT NULL;
UPDATE user_profiles SET next_signal_at = '-infinity'
 WHERE next_signal_at IS NULL AND (current_streak > 0 OR has_settings);
"""

NEW_FUNCTIONS = (
    "progress_local_instant(timestamp, text)",
    "progress_signals_quiet(timestamptz, text, jsonb)",
    "progress_reminders_document(jsonb)",
    "progress_signals_plan(user_profiles, timestamptz, jsonb)",
    "progress_signals_recheck(signal_outbox, timestamptz)",
    "progress_signals_sweep_v1(timestamptz, integer)",
    "progress_signals_pending_v1(integer, timestamptz)",
    "progress_signals_mark_v1(bigint[], bigint[], timestamptz)",
    "progress_settings_get_v2(bigint, timestamptz)",
    "progress_settings_put_v2(bigint, timestamptz, jsonb)",
)


def upgrade() -> None:
    op.execute(SCHEMA)
    apply_snapshot(op, revision)


def downgrade() -> None:
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    # the definitions before 0015
    apply_snapshot(
        op,
        "0014",
        only={
            "progress_streak_now",
            "progress_refresh_day_summary",
            "progress_attempts_inserted",
            "progress_erase_user_v3",
            "progress_reset_user_v4",
        },
    )
    apply_snapshot(op, "0006", only={"progress_set_timezone_v1"})
    op.execute(
        "ALTER TABLE user_profiles DROP COLUMN IF EXISTS next_signal_at, DROP COLUMN IF EXISTS reminders_paused"
    )
    op.execute("DROP TABLE IF EXISTS signal_outbox, user_reminders")
