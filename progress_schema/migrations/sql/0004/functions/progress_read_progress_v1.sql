-- GET /progress: totals, the cached streak run, "today" in the user's zone, one keyset page of attempts.
CREATE OR REPLACE FUNCTION progress_read_progress_v1(
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
