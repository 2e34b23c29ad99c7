-- A learner's practised and covered days in the week starting p_start (docs/streaks.md, "Weeks").
-- PL/pgSQL: its plans are kept for the session (an SQL function called from PL/pgSQL is planned per call).
CREATE OR REPLACE FUNCTION progress_week_counts(
    p_user_id bigint, p_start date, OUT practised integer, OUT covered integer
)
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    -- one statement: each costs an executor start, which is most of a count over 7 index entries
    SELECT (SELECT count(*)::integer FROM user_daily_stats d
             WHERE d.user_id = p_user_id AND d.day BETWEEN p_start AND p_start + 6),
           (SELECT count(*)::integer FROM user_covered_days c
             WHERE c.user_id = p_user_id AND c.day BETWEEN p_start AND p_start + 6)
      INTO practised, covered;
END
$fn$;
