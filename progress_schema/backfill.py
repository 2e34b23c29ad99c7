"""Data steps of migrations that must not hold locks for long: each batch is its own short transaction.

Run on a connection in autocommit (Alembic: inside `op.get_context().autocommit_block()`), so every
statement commits on its own: an interrupted run keeps what it did, and running it again finishes the rest
(every step only touches rows that still need it).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

DEFAULT_BATCH_ROWS = 10_000

ID_RANGE_SQL = {
    table: text(f"SELECT min(id), max(id) FROM {table}") for table in ("attempts", "attempts_archive")
}
# The day in the timezone each profile held when migration 0006 committed (progress_local_day_zone);
# rows of users without a profile then are in UTC, as the old trigger had them.
BACKFILL_SQL = {
    table: text(
        f"UPDATE {table} t"
        " SET local_day = (t.created_at AT TIME ZONE coalesce("
        "     (SELECT z.timezone FROM progress_local_day_zone z WHERE z.user_id = t.user_id), 'UTC'))::date"
        " WHERE t.id >= :low AND t.id < :high AND t.local_day IS NULL"
        # rows with a time no read can show fail the (NOT VALID) check on update: they go to quarantine
        " AND t.created_at >= TIMESTAMPTZ '2000-01-01 00:00 UTC' AND t.created_at < TIMESTAMPTZ '2200-01-01 00:00 UTC'"
    )
    for table in ("attempts", "attempts_archive")
}
NULL_DAYS_LEFT_SQL = text(
    "SELECT EXISTS (SELECT 1 FROM attempts WHERE local_day IS NULL"
    "   AND created_at >= TIMESTAMPTZ '2000-01-01 00:00 UTC' AND created_at < TIMESTAMPTZ '2200-01-01 00:00 UTC')"
    " OR EXISTS (SELECT 1 FROM attempts_archive WHERE local_day IS NULL"
    "   AND created_at >= TIMESTAMPTZ '2000-01-01 00:00 UTC' AND created_at < TIMESTAMPTZ '2200-01-01 00:00 UTC')"
)

# Each attempt that sits in another user's session leaves it; those sessions are recounted from the
# attempts of their owner (live and archived), and the sessions trigger moves the owner's profile sums.
REPAIR_SHARED_SESSIONS_SQL = text(
    """
WITH detached AS (
    UPDATE attempts a SET session_id = NULL FROM sessions s
     WHERE s.id = a.session_id AND s.user_id <> a.user_id
    RETURNING s.id
), detached_archived AS (
    UPDATE attempts_archive a SET session_id = NULL FROM sessions s
     WHERE s.id = a.session_id AND s.user_id <> a.user_id
    RETURNING s.id
), affected AS (
    SELECT id FROM detached UNION SELECT id FROM detached_archived
), recount AS (
    SELECT f.id, count(r.is_correct)::int AS attempts, (count(*) FILTER (WHERE r.is_correct))::int AS correct,
           min(r.created_at) AS first_at, max(r.created_at) AS last_at
      FROM affected f
      JOIN sessions s ON s.id = f.id
      LEFT JOIN (SELECT session_id, user_id, is_correct, created_at FROM attempts
                 UNION ALL
                 SELECT session_id, user_id, is_correct, created_at FROM attempts_archive) r
        ON r.session_id = f.id AND r.user_id = s.user_id
     GROUP BY f.id
)
UPDATE sessions s
   SET total_exercises = c.attempts, correct_answers = c.correct,
       started_at = coalesce(c.first_at, s.started_at), ended_at = coalesce(c.last_at, s.started_at)
  FROM recount c
 WHERE s.id = c.id
RETURNING s.id
"""
)


def backfill_local_days(
    conn: Connection,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    max_batches: int | None = None,
    on_batch: Callable[[str, int, int], None] | None = None,
) -> int:
    """Give every old attempt (live and archived) its practice day, `batch_rows` ids per transaction.

    Returns the number of batches run. `max_batches` stops early (tests use it to interrupt a run).
    """
    batches = 0
    for table in ("attempts", "attempts_archive"):
        low, high = conn.execute(ID_RANGE_SQL[table]).one()
        if low is None:
            continue
        for start in range(low, high + 1, batch_rows):
            if max_batches is not None and batches >= max_batches:
                return batches
            updated = conn.execute(BACKFILL_SQL[table], {"low": start, "high": start + batch_rows}).rowcount
            batches += 1
            if on_batch is not None:
                on_batch(table, start, updated)
    return batches


def null_days_left(conn: Connection) -> bool:
    return bool(conn.execute(NULL_DAYS_LEFT_SQL).scalar_one())


def repair_shared_sessions(conn: Connection) -> int:
    """Detach every attempt from a session of another user; return how many sessions were recounted.
    Run after the quarantine: an attempt with an unreadable time could not be updated."""
    return len(conn.execute(REPAIR_SHARED_SESSIONS_SQL).all())
