-- GET /progress/statistics at the instant p_now: everything from the profile and the aggregates.
-- The daily series and the streak come from the same per-day rows (and the same covered days). v3: the
-- streak of progress_streak_now, and each day's kind (practice > covered > rest > frozen > repaired > none)
-- (progress_day_kind) and whether its goal (the settings in force that day) was met.
CREATE OR REPLACE FUNCTION progress_read_statistics_v3(p_user_id bigint, p_now timestamptz, p_days integer)
RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    p user_profiles;
    streak json;
    today date;
    cfg streak_config;
    versions user_settings[];
    frozen date[];
    repaired date[];
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = p_user_id;
    p.user_id := p_user_id;
    SELECT * INTO cfg FROM streak_config;
    streak := progress_streak_now(p, p_now);
    today := (streak ->> 'today')::date;
    -- what each day of the series needs, read once: the settings versions, the days frozen since the
    -- last history day (the read's, not stored), the repaired days
    IF p.has_settings THEN
        SELECT coalesce(array_agg(s ORDER BY s.effective_from), '{}') INTO versions
          FROM user_settings s WHERE s.user_id = p_user_id;
    ELSE
        versions := '{}';
    END IF;
    -- the frozen days of the series (progress_frozen_days: stored before today, and since the last history day)
    frozen := (progress_frozen_days(p_user_id, streak, today - p_days + 1)).days;
    repaired := ARRAY(SELECT r.day::date
                        FROM streak_repairs sr, generate_series(sr.gap_from, sr.gap_to, interval '1 day') AS r(day)
                       WHERE sr.user_id = p_user_id AND sr.gap_to > today - p_days);
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
            SELECT json_agg(json_build_array(
                       series.day, coalesce(d.attempts, 0), coalesce(d.correct, 0), c.day IS NOT NULL,
                       progress_day_kind(series.day, d.day IS NOT NULL, c.day IS NOT NULL, cfg.rules_start,
                                         v.rest_weekdays, series.day = ANY (frozen), series.day = ANY (repaired)),
                       CASE WHEN coalesce(v.daily_goal_unit, 'attempts') = 'correct'
                            THEN coalesce(d.correct, 0) ELSE coalesce(d.attempts, 0) END
                           >= coalesce(v.daily_goal_target, cfg.daily_goal))
                   ORDER BY series.day)
              FROM (SELECT today - i AS day FROM generate_series(0, p_days - 1) AS i) series
              -- the series' range stated too: an index range of p_days rows, never all of the learner's days
              LEFT JOIN user_daily_stats d ON d.user_id = p_user_id AND d.day = series.day
                                          AND d.day BETWEEN today - p_days + 1 AND today
              LEFT JOIN user_covered_days c ON c.user_id = p_user_id AND c.day = series.day
                                           AND c.day BETWEEN today - p_days + 1 AND today
              LEFT JOIN LATERAL (SELECT x.* FROM unnest(versions) x WHERE x.effective_from <= series.day
                                  ORDER BY x.effective_from DESC LIMIT 1) v ON true
        )
    )::text;
END
$fn$;
