-- GET /progress/statistics: everything from the profile and the aggregates, nothing from attempts.
CREATE OR REPLACE FUNCTION progress_read_statistics_v1(p_user_id bigint, p_days integer) RETURNS text
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
