"""A stand-in of the signal outbox's SQL interface (signals-core builds the real one in the migration), created
in the test database only when the migration did not: `signal_outbox`, `progress_signals_pending_v1(limit)` and
`progress_signals_mark_v1(published, failed, now)`, with the behaviour the publisher relies on. Once the real
objects exist this module creates nothing, and the publishing tests run against them."""

from __future__ import annotations

from sqlalchemy import Engine, text

FUNCTIONS = ("progress_signals_pending_v1", "progress_signals_mark_v1")
STATEMENTS = (
    """
    CREATE TABLE signal_outbox (
        id bigserial PRIMARY KEY,
        user_id bigint NOT NULL,
        kind text NOT NULL CHECK (kind IN ('streak_saver', 'weekly_goal_at_risk', 'milestone', 'freeze_used',
                                           'streak_lost')),
        local_day date NOT NULL,
        due_at timestamptz NOT NULL,
        detail jsonb NOT NULL DEFAULT '{}',
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'suppressed')),
        publish_attempts integer NOT NULL DEFAULT 0,
        published_at timestamptz,
        UNIQUE (user_id, kind, local_day)
    )
    """,
    "CREATE INDEX signal_outbox_pending ON signal_outbox (due_at, id) WHERE status = 'pending'",
    """
    CREATE FUNCTION progress_signals_pending_v1(p_limit integer)
    RETURNS TABLE (id bigint, user_id bigint, kind text, local_day date, due_at timestamptz, detail jsonb)
    LANGUAGE sql AS $$
        SELECT o.id, o.user_id, o.kind, o.local_day, o.due_at, o.detail
        FROM signal_outbox o
        WHERE o.status = 'pending'
        ORDER BY o.due_at, o.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    $$
    """,
    """
    CREATE FUNCTION progress_signals_mark_v1(p_published bigint[], p_failed bigint[], p_now timestamptz)
    RETURNS void LANGUAGE sql AS $$
        UPDATE signal_outbox o
        SET status = CASE WHEN o.id = ANY (p_published) THEN 'published' ELSE o.status END,
            published_at = CASE WHEN o.id = ANY (p_published) THEN p_now ELSE o.published_at END,
            publish_attempts = o.publish_attempts + 1
        WHERE o.status = 'pending' AND (o.id = ANY (p_published) OR o.id = ANY (p_failed))
    $$
    """,
)


def ensure_signal_outbox(engine: Engine) -> bool:
    """Create the stand-in when the schema has no signal outbox; True when it did."""
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT to_regclass('signal_outbox') IS NOT NULL")).scalar()
        if exists:
            return False
        for statement in STATEMENTS:
            conn.exec_driver_sql(statement)
    return True


def stand_in_functions() -> set[str]:
    """The stand-in's functions the SQL source does not define (yet): what tests/test_sql_source.py lets be."""
    from progress_admin import sqlsource

    return set(FUNCTIONS) - {o.name for o in sqlsource.current_objects() if o.kind == "functions"}


def stand_in_tables() -> set[str]:
    """The stand-in's table while the source has no outbox (tests/test_erasure.py lets it be until then)."""
    return {"signal_outbox"} if stand_in_functions() else set()
