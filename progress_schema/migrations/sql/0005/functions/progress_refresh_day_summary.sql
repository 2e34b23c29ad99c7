-- Recompute the day-derived profile fields of one user: O(practice days), not O(attempts).
-- Called when a user gains a practice day or a covered day (or a legacy longest streak).
CREATE OR REPLACE FUNCTION progress_refresh_day_summary(p_user_id bigint) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE user_profiles p
       SET practice_days = d.practice_days,
           first_practice_date = d.first_day,
           last_practice_date = d.last_day,
           streak_run_end = r.run_end,
           current_streak = r.run_length,
           longest_streak = GREATEST(r.longest, p.legacy_longest_streak),
           updated_at = now()
      FROM (SELECT count(*)::int AS practice_days, min(day) AS first_day, max(day) AS last_day
              FROM user_daily_stats WHERE user_id = p_user_id) d,
           progress_streak_runs(p_user_id, 'infinity') r
     WHERE p.user_id = p_user_id;
END
$fn$;
