-- The one definition of a run (DESIGN.md "Streaks"): consecutive days, each practised or covered. A run
-- counts its practice days; a covered day joins its neighbours without adding to the count.
-- Returns the latest run among the days up to p_through (its last day and count) and the longest run.
CREATE OR REPLACE FUNCTION progress_streak_runs(
    p_user_id bigint, p_through date, OUT run_end date, OUT run_length integer, OUT longest integer
)
LANGUAGE sql STABLE AS $fn$
    WITH days AS (
        SELECT day, bool_or(practised) AS practised
          FROM (SELECT day, true AS practised FROM user_daily_stats
                 WHERE user_id = p_user_id AND day <= p_through
                UNION ALL
                SELECT day, false FROM user_covered_days
                 WHERE user_id = p_user_id AND day <= p_through) both_kinds
         GROUP BY day
    ), runs AS (
        SELECT max(day) AS last_day, (count(*) FILTER (WHERE practised))::int AS len
          FROM (SELECT day, practised, day - (row_number() OVER (ORDER BY day))::int AS grp FROM days) numbered
         GROUP BY grp
    )
    SELECT (SELECT last_day FROM runs ORDER BY last_day DESC LIMIT 1),
           coalesce((SELECT len FROM runs ORDER BY last_day DESC LIMIT 1), 0),
           coalesce((SELECT max(len) FROM runs), 0)
$fn$;
