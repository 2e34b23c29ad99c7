-- GET /progress at the instant p_now: totals, the streak figures, one keyset page of attempts.
CREATE OR REPLACE FUNCTION progress_read_progress_v2(
    p_user_id bigint, p_now timestamptz, p_cursor_at timestamptz, p_cursor_id bigint, p_fetch integer
) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    p user_profiles;
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = p_user_id;
    p.user_id := p_user_id;
    RETURN json_build_object(
        'total_attempts', coalesce(p.total_attempts, 0),
        'correct_attempts', coalesce(p.correct_attempts, 0),
        'streak', progress_streak_at(p, p_now),
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
