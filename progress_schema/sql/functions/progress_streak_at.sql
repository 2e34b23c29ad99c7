-- The streak figures of one profile at the instant p_now (DESIGN.md "Streaks"), for both reads:
-- "today" is the date of p_now in the profile's timezone, applied here, at read time.
-- The current streak is the run ending today or yesterday (else 0); it expires at the local midnight
-- that starts the second day after the run's last day: the end of tomorrow when the run ends today,
-- the end of today when it ends yesterday. A latest run after today (the timezone moved west, a day
-- covered ahead) is replaced by the run up to today. p is NULL-filled for a user without a profile.
CREATE OR REPLACE FUNCTION progress_streak_at(p user_profiles, p_now timestamptz) RETURNS json
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    zone text := coalesce(p.timezone, 'UTC');
    today date := (p_now AT TIME ZONE zone)::date;
    run_end date := coalesce(p.streak_run_end, p.last_practice_date);
    run_length integer := coalesce(p.current_streak, 0);
    practised_today boolean := p.last_practice_date IS NOT DISTINCT FROM today;
    current_streak integer := 0;
BEGIN
    IF run_end > today THEN
        SELECT r.run_end, r.run_length INTO run_end, run_length FROM progress_streak_runs(p.user_id, today) r;
        practised_today := EXISTS (SELECT 1 FROM user_daily_stats WHERE user_id = p.user_id AND day = today);
    END IF;
    IF run_end >= today - 1 THEN
        current_streak := run_length;
    END IF;
    RETURN json_build_object(
        'timezone', zone,
        'today', today,
        'current_streak', current_streak,
        'longest_streak', coalesce(p.longest_streak, 0),
        'last_practice_date', p.last_practice_date,
        'practiced_today', practised_today,
        'streak_expires_at', CASE WHEN current_streak > 0 THEN (run_end + 2)::timestamp AT TIME ZONE zone END
    );
END
$fn$;
