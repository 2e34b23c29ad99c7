"""Reset ends the learner's live updates, and ids stay within what JSON readers keep exactly.

- progress_reset_user_v3 also deletes the learner's live tickets (one issued before a reset opens nothing
  after it) and live connections, and returns the connections' ids so the reset function closes them at
  API Gateway after its commit (the open pages learn of the reset). v2 stays for the code of the previous
  release while a deploy is under way.
- Exercise and session ids above 2^53 - 1 are refused by every writer (I-JSON, RFC 7493: a browser shows
  9007199254740993 as ...992): the layer's models refuse them, and CHECK constraints hold legacy writers
  of plain SQL to the same bound. The constraints are added NOT VALID (enforced for every new row, no scan
  of the table, one short lock with the migration's lock timeout, committed at once), then validated
  outside that transaction (VALIDATE CONSTRAINT scans under a lock that lets writers on) when no row
  stored before breaks them; rows that do are left as they are, NOT VALID stays, and a warning says how
  many.

Re-runnable: each constraint is added only when missing, the function is CREATE OR REPLACE.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import logging

from alembic import op

from progress_schema.sqlsource import apply_snapshot

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

log = logging.getLogger("progress_schema.migrations")


# (table, column) of every id the API returns as a JSON number and a message may set
JSON_SAFE_IDS = (
    ("attempts", "exercise_id"),
    ("attempts", "session_id"),
    ("sessions", "id"),
)
JSON_SAFE_INT_MAX = 2**53 - 1  # progress_common.models.JSON_SAFE_INT_MAX, frozen as this migration ran


def upgrade() -> None:
    apply_snapshot(op, revision)
    for table, column in JSON_SAFE_IDS:
        name = f"{table}_{column}_json_safe"
        op.execute(
            f"DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '{name}') THEN "
            f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} <= {JSON_SAFE_INT_MAX}) NOT VALID; "
            "END IF; END $do$"
        )
    with op.get_context().autocommit_block():  # the short lock above ends here
        conn = op.get_bind()
        for table, column in JSON_SAFE_IDS:
            name = f"{table}_{column}_json_safe"
            beyond = conn.exec_driver_sql(
                f"SELECT count(*) FROM {table} WHERE {column} > {JSON_SAFE_INT_MAX}"
            ).scalar_one()
            if beyond:
                log.warning(
                    "%d rows of %s hold a %s beyond 2^53 - 1, stored before 0012: %s stays NOT VALID "
                    "(new rows are checked)",
                    beyond, table, column, name,
                )  # fmt: skip
            else:
                op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    for table, column in JSON_SAFE_IDS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_{column}_json_safe")
    op.execute("DROP FUNCTION IF EXISTS progress_reset_user_v3(bigint)")
