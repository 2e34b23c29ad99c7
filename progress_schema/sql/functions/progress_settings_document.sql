-- A settings version as GET and PUT /progress/settings answer it: weekdays by name, the daily goal in force
-- (p_daily_goal attempts, the deployment's DAILY_GOAL, when the learner chose none). s is NULL-filled for a
-- learner who never changed a setting: the defaults, effective_from null.
CREATE OR REPLACE FUNCTION progress_settings_document(s user_settings, p_daily_goal integer) RETURNS json
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    names text[] := ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
BEGIN
    RETURN json_build_object(
        'rest_weekdays', ARRAY(SELECT names[d] FROM unnest(coalesce(s.rest_weekdays, '{}')) AS d ORDER BY d),
        'day_start_minutes', coalesce(s.day_start_minutes, 0),
        'daily_goal', json_build_object('unit', coalesce(s.daily_goal_unit, 'attempts'),
                                        'target', coalesce(s.daily_goal_target, p_daily_goal)),
        'daily_goal_default', s.daily_goal_unit IS NULL,
        'weekly_goal_days', s.weekly_goal_days,
        'week_start', names[coalesce(s.week_start, 1)],
        'effective_from', s.effective_from
    );
END
$fn$;
