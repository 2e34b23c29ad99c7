"""The two reads as server-side functions, each returning one JSON document.

The statement the client sends shrinks to a function call: pg8000 rewrites every statement's
paramstyle in Python, character by character, which cost more than the query itself for the long
read queries; and PL/pgSQL caches the plans per connection.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UP = """
-- GET /progress: totals, the cached streak run, "today" in the user's zone, one keyset page of attempts.
CREATE FUNCTION progress_read_progress(
    p_user_id bigint, p_cursor_at timestamptz, p_cursor_id bigint, p_fetch integer
) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    p user_profiles;
    zone text;
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = p_user_id;
    zone := coalesce(p.timezone, 'UTC');
    RETURN json_build_object(
        'total_attempts', coalesce(p.total_attempts, 0),
        'correct_attempts', coalesce(p.correct_attempts, 0),
        'run_at_last_day', coalesce(p.current_streak, 0),
        'longest_streak', coalesce(p.longest_streak, 0),
        'last_practice_date', p.last_practice_date,
        'timezone', zone,
        'today', (now() AT TIME ZONE zone)::date,
        'recent', (
            SELECT coalesce(json_agg(r), '[]')
              FROM (SELECT a.id, a.exercise_id, a.is_correct, a.user_answer, a.created_at, a.session_id
                      FROM attempts a
                     WHERE a.user_id = p_user_id
                       AND (a.created_at, a.id) < (p_cursor_at, p_cursor_id)
                     ORDER BY a.created_at DESC, a.id DESC
                     LIMIT p_fetch) r
        )
    )::text;
END
$fn$;

-- GET /progress/statistics: everything from the profile and the aggregates, nothing from attempts.
CREATE FUNCTION progress_read_statistics(p_user_id bigint, p_days integer) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    p user_profiles;
    zone text;
    today date;
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = p_user_id;
    zone := coalesce(p.timezone, 'UTC');
    today := (now() AT TIME ZONE zone)::date;
    RETURN json_build_object(
        'total_attempts', coalesce(p.total_attempts, 0),
        'correct_attempts', coalesce(p.correct_attempts, 0),
        'run_at_last_day', coalesce(p.current_streak, 0),
        'longest_streak', coalesce(p.longest_streak, 0),
        'last_practice_date', p.last_practice_date,
        'first_practice_date', p.first_practice_date,
        'practice_days', coalesce(p.practice_days, 0),
        'session_count', coalesce(p.session_count, 0),
        'session_nonempty_count', coalesce(p.session_nonempty_count, 0),
        'session_exercises_sum', coalesce(p.session_exercises_sum, 0),
        'session_accuracy_sum', coalesce(p.session_accuracy_sum, 0),
        'timezone', zone,
        'today', today,
        'by_exercise', (
            SELECT coalesce(json_agg(e), '[]')
              FROM (SELECT s.exercise_id, s.attempts, s.correct, s.last_attempt_at
                      FROM user_exercise_stats s
                     WHERE s.user_id = p_user_id
                     ORDER BY s.attempts DESC, s.exercise_id
                     LIMIT 100) e
        ),
        'daily', (
            SELECT json_agg(json_build_array(series.day, coalesce(d.attempts, 0), coalesce(d.correct, 0))
                            ORDER BY series.day)
              FROM (SELECT today - i AS day FROM generate_series(0, p_days - 1) AS i) series
              LEFT JOIN user_daily_stats d ON d.user_id = p_user_id AND d.day = series.day
        )
    )::text;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS progress_read_progress(bigint, timestamptz, bigint, integer)")
    op.execute("DROP FUNCTION IF EXISTS progress_read_statistics(bigint, integer)")
