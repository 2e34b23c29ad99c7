"""The learner's own data: exports of everything a learner has (GET/POST /progress/export) and erasure.

One new, small table (`exports`: one row per export a learner asked for, its status, counts and object key)
and the functions of progress_schema/sql/functions/progress_export_*_v1.sql, progress_erase_user_v1.sql and
progress_reset_user_v2.sql (reset removes the learner's exports too). Nothing touches `attempts`, so no lock
on it. Every statement is IF NOT EXISTS or CREATE OR REPLACE: an interrupted run can simply be run again.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = """
-- An export a learner asked for. The object (gzip JSON Lines) lives in the export store under object_key;
-- run_id is the worker run that holds the export (a redelivered message takes it over).
CREATE TABLE IF NOT EXISTS exports (
    id uuid PRIMARY KEY,
    user_id bigint NOT NULL CHECK (user_id >= 0),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'ready', 'failed')),
    run_id uuid,
    failure text CHECK (char_length(failure) <= 64),
    format_version integer,
    counts jsonb,
    object_key text CHECK (char_length(object_key) <= 512),
    size_bytes bigint CHECK (size_bytes >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
);
-- one export in progress per learner (POST /progress/export answers 409 otherwise)
CREATE UNIQUE INDEX IF NOT EXISTS exports_one_in_progress_idx ON exports (user_id)
    WHERE status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS exports_user_id_idx ON exports (user_id, created_at);
"""

FUNCTIONS = (
    "progress_export_request_v1(bigint, integer, integer)",
    "progress_export_status_v1(bigint, uuid, integer, integer)",
    "progress_export_claim_v1(uuid, uuid, integer)",
    "progress_export_finish_v1(uuid, uuid, text, bigint, integer, jsonb)",
    "progress_export_fail_v1(uuid, uuid, text)",
    "progress_export_page_v1(bigint, integer, timestamptz, bigint, integer)",
    "progress_export_stale(text, timestamptz, integer)",
    "progress_erase_user_v1(bigint)",
    "progress_reset_user_v2(bigint)",
)


def upgrade() -> None:
    op.execute(TABLES)
    apply_snapshot(op, revision)


def downgrade() -> None:
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP TABLE IF EXISTS exports")
