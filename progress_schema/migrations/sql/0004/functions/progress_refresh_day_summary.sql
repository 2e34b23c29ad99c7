-- Recompute the day-derived profile fields of one user from user_daily_stats.
-- Called only when a user gains a new practice day or changes timezone: O(practice days), not O(attempts).
CREATE OR REPLACE FUNCTION progress_refresh_day_summary(p_user_id bigint) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    WITH days AS (
        SELECT day FROM user_daily_stats WHERE user_id = p_user_id
    ), runs AS (
        SELECT min(day) AS first_day, max(day) AS last_day, count(*)::int AS len
        FROM (SELECT day, day - (row_number() OVER (ORDER BY day))::int AS grp FROM days) numbered
        GROUP BY grp
    ), summary AS (
        SELECT (SELECT count(*)::int FROM days) AS practice_days,
               (SELECT min(day) FROM days) AS first_day,
               (SELECT max(day) FROM days) AS last_day,
               coalesce((SELECT len FROM runs ORDER BY last_day DESC LIMIT 1), 0) AS last_run,
               coalesce((SELECT max(len) FROM runs), 0) AS longest_run
    )
    UPDATE user_profiles p
       SET practice_days = s.practice_days,
           first_practice_date = s.first_day,
           last_practice_date = s.last_day,
           current_streak = s.last_run,
           longest_streak = GREATEST(s.longest_run, p.legacy_longest_streak),
           updated_at = now()
      FROM summary s
     WHERE p.user_id = p_user_id;
END
$fn$;
