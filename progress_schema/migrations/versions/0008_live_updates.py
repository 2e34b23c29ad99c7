"""Live updates: single-use WebSocket tickets and the open connections they bound to a user.

Two new, small tables and the functions of progress_schema/sql/functions/progress_live_*_v1.sql; nothing
touches `attempts`, so no lock on it. Every statement is IF NOT EXISTS or CREATE OR REPLACE: an interrupted
run can simply be run again.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = """
-- A ticket lives 60 s and is consumed once by the WebSocket $connect. Only its SHA-256 is kept: a
-- leaked table row cannot be used to open a connection.
CREATE TABLE IF NOT EXISTS live_tickets (
    ticket_hash bytea PRIMARY KEY CHECK (octet_length(ticket_hash) = 32),
    user_id bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS live_tickets_expires_at_idx ON live_tickets (expires_at);
CREATE INDEX IF NOT EXISTS live_tickets_user_id_idx ON live_tickets (user_id);

-- An open API Gateway WebSocket connection and the user its ticket named.
CREATE TABLE IF NOT EXISTS live_connections (
    connection_id text PRIMARY KEY CHECK (length(connection_id) BETWEEN 1 AND 128),
    user_id bigint NOT NULL,
    connected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS live_connections_user_id_idx ON live_connections (user_id, connected_at);
CREATE INDEX IF NOT EXISTS live_connections_connected_at_idx ON live_connections (connected_at);
"""

FUNCTIONS = (
    "progress_live_issue_ticket_v1(bytea, bigint, integer, integer, integer)",
    "progress_live_connect_v1(bytea, text, integer)",
    "progress_live_disconnect_v1(text[])",
    "progress_live_connections_v1(bigint[], integer)",
)


def upgrade() -> None:
    op.execute(TABLES)
    apply_snapshot(op, revision)


def downgrade() -> None:
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP TABLE IF EXISTS live_connections; DROP TABLE IF EXISTS live_tickets")
