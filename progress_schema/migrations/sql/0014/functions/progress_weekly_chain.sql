-- The number of consecutive met weeks ending with the (complete) week that starts p_last, walking back,
-- each week's goal the one in force on its last day (p_versions: the learner's settings versions, oldest
-- first); not below the week starting p_stop (the write path continues a chain it kept: see
-- progress_refresh_day_summary).
CREATE OR REPLACE FUNCTION progress_weekly_chain(
    p_user_id bigint, p_last date, p_versions user_settings[], p_stop date
) RETURNS integer
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    week date := p_last;
    goal integer;
    counts record;
    chain integer := 0;
BEGIN
    WHILE week >= p_stop LOOP
        goal := (progress_settings_on(p_versions, week + 6)).weekly_goal_days;
        EXIT WHEN goal IS NULL;
        SELECT * INTO counts FROM progress_week_counts(p_user_id, week);
        EXIT WHEN NOT progress_week_met(goal, counts.practised, counts.covered);
        chain := chain + 1;
        week := week - 7;
    END LOOP;
    RETURN chain;
END
$fn$;
