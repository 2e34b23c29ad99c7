"""Settled days: the ingest watermark, holds of messages on their way to the DLQ, incidents that cover
themselves (docs/signals.md).

- `ingest_watermark` (one row): the instant before which every message the attempts queue accepted has been
  folded in or is held; NULL until the sweep first proves one (nothing is settled until then).
- `ingest_holds`: one row per attempt whose message failed on its third receive or later; its learner's days
  from `held_from` stay unsettled until the attempt is recorded or an operator releases the hold.
- `ingest_incidents`: the watermark stalled for more than 15 minutes; closed when it catches up, then the
  learners it affected get their missed days covered (`user_covered_days.incident_id`), unless vetoed.
- The functions: the read's status (progress_ingest_status_v1, beside the read function in GET /progress's
  one statement), the sweep's steps, holds, veto; erasure v2 and the export v2 (holds, incident ids); a
  trigger on attempts that releases a hold when its attempt is recorded.

Nothing scans or rewrites a big table: new tables, one nullable column without a default on
user_covered_days and a partial index on it (empty until an incident covers days). lock_timeout keeps the
ALTER from queueing writers; every statement is IF NOT EXISTS or CREATE OR REPLACE: re-runnable.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SCHEMA = """
SET LOCAL lock_timeout = '5s';

CREATE TABLE IF NOT EXISTS ingest_watermark (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    watermark timestamptz,
    advanced_at timestamptz NOT NULL,
    checked_at timestamptz,
    empty_reading_at timestamptz,
    evidence jsonb
);
INSERT INTO ingest_watermark (singleton, advanced_at) VALUES (true, now()) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS ingest_holds (
    attempt_uid uuid PRIMARY KEY,
    user_id bigint NOT NULL CHECK (user_id >= 0),
    held_from timestamptz NOT NULL,
    message_id text CHECK (char_length(message_id) <= 200),
    receive_count integer,
    reason text NOT NULL CHECK (char_length(reason) <= 500),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ingest_holds_user_idx ON ingest_holds (user_id, held_from);

CREATE TABLE IF NOT EXISTS ingest_incidents (
    id bigserial PRIMARY KEY,
    started_at timestamptz NOT NULL,
    opened_at timestamptz NOT NULL,
    closed_at timestamptz,
    watermark_at_close timestamptz,
    covered boolean NOT NULL DEFAULT false,
    cover_after bigint,
    learners_covered integer NOT NULL DEFAULT 0,
    days_covered integer NOT NULL DEFAULT 0,
    vetoed_at timestamptz,
    veto_learners integer,
    veto_days integer
);
-- at most one open incident
CREATE UNIQUE INDEX IF NOT EXISTS ingest_incidents_one_open ON ingest_incidents ((true)) WHERE closed_at IS NULL;

ALTER TABLE user_covered_days ADD COLUMN IF NOT EXISTS incident_id bigint REFERENCES ingest_incidents (id);
CREATE INDEX IF NOT EXISTS user_covered_days_incident_idx ON user_covered_days (incident_id)
    WHERE incident_id IS NOT NULL;
"""

NEW_FUNCTIONS = (
    "progress_ingest_status_v1(bigint, timestamptz)",
    "progress_watermark_advance_v1(timestamptz, timestamptz, boolean, jsonb)",
    "progress_incident_cover_v1(integer)",
    "progress_incident_veto_v1(bigint, timestamptz)",
    "progress_hold_attempts_v1(jsonb)",
    "progress_hold_release_v1(uuid[], bigint)",
    "progress_erase_user_v2(bigint)",
    "progress_export_page_v2(bigint, integer, timestamptz, bigint, integer)",
    "progress_complete_through(bigint)",
    "progress_day_settled(date, text, timestamptz)",
)


def upgrade() -> None:
    op.execute(SCHEMA)
    apply_snapshot(op, revision)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS attempts_release_holds ON attempts")
    op.execute("DROP FUNCTION IF EXISTS progress_attempts_release_holds()")
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("ALTER TABLE user_covered_days DROP COLUMN IF EXISTS incident_id")
    op.execute("DROP TABLE IF EXISTS ingest_incidents, ingest_holds, ingest_watermark")
