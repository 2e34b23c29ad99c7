-- GET /progress/statistics at the instant p_now: everything from the profile and the aggregates.
-- The daily series and the streak come from the same per-day rows (and the same covered days).
CREATE OR REPLACE FUNCTION progress_read_statistics_v2(p_user_id bigint, p_now timestamptz, p_days integer)
RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    p user_profiles;
    streak json;
    today date;
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = p_user_id;
    p.user_id := p_user_id;
    streak := progress_streak_at(p, p_now);
    today := (streak ->> 'today')::date;
    RETURN json_build_object(
        'total_attempts', coalesce(p.total_attempts, 0),
        'correct_attempts', coalesce(p.correct_attempts, 0),
        'streak', streak,
        'first_practice_date', p.first_practice_date,
        'practice_days', coalesce(p.practice_days, 0),
        'session_count', coalesce(p.session_count, 0),
        'session_nonempty_count', coalesce(p.session_nonempty_count, 0),
        'session_exercises_sum', coalesce(p.session_exercises_sum, 0),
        'session_accuracy_sum', coalesce(p.session_accuracy_sum, 0),
        'by_exercise', (
            SELECT coalesce(json_agg(e), '[]')
              FROM (SELECT s.exercise_id, s.attempts, s.correct, s.last_attempt_at
                      FROM user_exercise_stats s
                     WHERE s.user_id = p_user_id
                     ORDER BY s.attempts DESC, s.exercise_id
                     LIMIT 100) e
        ),
        'daily', (
            SELECT json_agg(json_build_array(series.day, coalesce(d.attempts, 0), coalesce(d.correct, 0),
                                             c.day IS NOT NULL)
                            ORDER BY series.day)
              FROM (SELECT today - i AS day FROM generate_series(0, p_days - 1) AS i) series
              LEFT JOIN user_daily_stats d ON d.user_id = p_user_id AND d.day = series.day
              LEFT JOIN user_covered_days c ON c.user_id = p_user_id AND c.day = series.day
        )
    )::text;
END
$fn$;
