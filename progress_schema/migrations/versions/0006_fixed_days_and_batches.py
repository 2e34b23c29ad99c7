"""Practice days fixed when written, the newest timezone wins, sessions owned under races, one statement
per batch with an outcome per message, and no stored timestamp that a read cannot show.

Live-database safe (DESIGN "In AWS"): the columns are added nullable and without a default, so no table
is rewritten; the constraints are added NOT VALID (they hold for every new row at once, and scanning the
old rows is left to 0007, which does not block writers); lock_timeout makes this step give up rather
than queue writers behind it. One transaction: an interrupted run leaves nothing and can be run again.

`progress_local_day_zone` keeps each profile's timezone as it is when this migration commits: old rows get
their practice day in it (0007 backfills them and drops the table). From this commit on a timezone change
moves no day, so these are exactly the days `user_daily_stats` already holds for the old rows.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = """
SET LOCAL lock_timeout = '5s';

ALTER TABLE attempts ADD COLUMN IF NOT EXISTS local_day date;
ALTER TABLE attempts_archive ADD COLUMN IF NOT EXISTS local_day date;
ALTER TABLE user_profiles ADD COLUMN IF NOT EXISTS timezone_set_at timestamptz;

-- Every new row has its day; old rows are backfilled, then 0007 validates.
ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_local_day_present;
ALTER TABLE attempts ADD CONSTRAINT attempts_local_day_present CHECK (local_day IS NOT NULL) NOT VALID;
ALTER TABLE attempts_archive DROP CONSTRAINT IF EXISTS attempts_archive_local_day_present;
ALTER TABLE attempts_archive
    ADD CONSTRAINT attempts_archive_local_day_present CHECK (local_day IS NOT NULL) NOT VALID;

-- No writer may store a time a read cannot show (year 1, BC, infinity): the service's own bound starts in
-- 2000; the upper bound only keeps years representable (the service refuses anything in the future).
ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_created_at_in_range;
ALTER TABLE attempts ADD CONSTRAINT attempts_created_at_in_range
    CHECK (created_at >= TIMESTAMPTZ '2000-01-01 00:00 UTC' AND created_at < TIMESTAMPTZ '2200-01-01 00:00 UTC')
    NOT VALID;
ALTER TABLE attempts_archive DROP CONSTRAINT IF EXISTS attempts_archive_created_at_in_range;
ALTER TABLE attempts_archive ADD CONSTRAINT attempts_archive_created_at_in_range
    CHECK (created_at >= TIMESTAMPTZ '2000-01-01 00:00 UTC' AND created_at < TIMESTAMPTZ '2200-01-01 00:00 UTC')
    NOT VALID;

-- A session's deletion (a reset) never fails on another user's attempts: they leave the session.
ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_session_id_fkey;
ALTER TABLE attempts ADD CONSTRAINT attempts_session_id_fkey FOREIGN KEY (session_id) REFERENCES sessions (id)
    ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED NOT VALID;

-- One message of a batch, as progress_record_attempts_v2 reads and tracks it.
DROP TYPE IF EXISTS progress_attempt_in;
CREATE TYPE progress_attempt_in AS (
    ord integer, attempt_uid uuid, user_id bigint, exercise_id bigint, is_correct boolean, user_answer text,
    created_at timestamptz, session_id bigint, timezone text, outcome text
);

CREATE TABLE IF NOT EXISTS progress_local_day_zone (user_id bigint PRIMARY KEY, timezone text NOT NULL);
INSERT INTO progress_local_day_zone (user_id, timezone)
SELECT user_id, timezone FROM user_profiles
ON CONFLICT (user_id) DO NOTHING;
"""

DOWN = """
DROP TRIGGER IF EXISTS attempts_fix_local_day ON attempts;
DROP FUNCTION IF EXISTS progress_attempt_local_day();
DROP FUNCTION IF EXISTS progress_record_attempts_v2(jsonb);
DROP TYPE IF EXISTS progress_attempt_in;
DROP TABLE IF EXISTS progress_local_day_zone;
ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_local_day_present;
ALTER TABLE attempts_archive DROP CONSTRAINT IF EXISTS attempts_archive_local_day_present;
ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_created_at_in_range;
ALTER TABLE attempts_archive DROP CONSTRAINT IF EXISTS attempts_archive_created_at_in_range;
ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_session_id_fkey;
ALTER TABLE attempts ADD CONSTRAINT attempts_session_id_fkey FOREIGN KEY (session_id) REFERENCES sessions (id)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE attempts DROP COLUMN IF EXISTS local_day;
ALTER TABLE attempts_archive DROP COLUMN IF EXISTS local_day;
ALTER TABLE user_profiles DROP COLUMN IF EXISTS timezone_set_at;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    apply_snapshot(op, revision)


def downgrade() -> None:
    # The functions this migration changed go back to 0004's definitions (0005 did not touch them); the
    # unversioned wrappers stay, and keep working on those.
    op.execute("DROP FUNCTION IF EXISTS progress_record_attempts_v1(jsonb)")
    op.execute(DOWN)
    apply_snapshot(
        op,
        "0004",
        only={
            "progress_attempts_inserted",
            "progress_archive_batch_v1",
            "progress_record_attempts_v1",
            "progress_set_timezone_v1",
        },
    )
