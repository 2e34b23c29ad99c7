-- GET /progress at the instant p_now: totals, the streak figures (with freezes, repair, goals and the
-- ingest status: progress_streak_now), one keyset page of attempts. v4: the page by column ({"id": [...],
-- "exercise_id": [...], ...}, newest first), which costs less to build than a list of objects.
CREATE OR REPLACE FUNCTION progress_read_progress_v4(
    p_user_id bigint, p_now timestamptz, p_cursor_at timestamptz, p_cursor_id bigint, p_fetch integer
) RETURNS text
LANGUAGE plpgsql STABLE
-- its statements (and those of the functions it calls) planned once per session: generic plans, as for
-- progress_read_statistics_v4 (a container serves many learners; planning again per call costs more)
SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
    p user_profiles;
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = p_user_id;
    p.user_id := p_user_id;
    RETURN json_build_object(
        'total_attempts', coalesce(p.total_attempts, 0),
        'correct_attempts', coalesce(p.correct_attempts, 0),
        'streak', (progress_streak_state(p, p_now)).figures,
        -- the page by column (one array per field, newest first): see progress_read_statistics_v4
        'recent', (
            SELECT json_build_object('id', coalesce(array_agg(r.id), '{}'),
                                     'exercise_id', coalesce(array_agg(r.exercise_id), '{}'),
                                     'is_correct', coalesce(array_agg(r.is_correct), '{}'),
                                     'user_answer', coalesce(array_agg(r.user_answer), '{}'),
                                     'created_at', coalesce(array_agg(r.created_at), '{}'),
                                     'session_id', coalesce(array_agg(r.session_id), '{}'))
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
