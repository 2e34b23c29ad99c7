-- PUT /progress/settings, one statement: p_changes holds the fields the learner sent (validated by the
-- layer: rest_weekdays as ISO weekdays 1..7, week_start 1..7, daily_goal {unit, target} or null for the
-- deployment's DAILY_GOAL, weekly_goal_days or null). Writes the full settings as the version effective from
-- the learner's next local day, starting from the newest version (or the defaults); a second change on the
-- same day replaces that version. A version effective after that day was never in force (the timezone moved
-- west since it was written): the new one, which starts from it, replaces it. Then the streak walk runs
-- again (rest days bridge gaps), and the answer is the version written.
CREATE OR REPLACE FUNCTION progress_settings_put_v1(p_user_id bigint, p_now timestamptz, p_changes jsonb)
RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    prof user_profiles;
    next_day date;
    v user_settings;
    goal jsonb;
BEGIN
    -- the profile row is the learner's lock, as for every writer
    INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
    SELECT * INTO prof FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
    next_day := progress_local_day(p_user_id, p_now, coalesce(prof.timezone, 'UTC')) + 1;
    SELECT * INTO v FROM user_settings s WHERE s.user_id = p_user_id ORDER BY s.effective_from DESC LIMIT 1;
    IF NOT FOUND THEN
        v.rest_weekdays := '{}'; v.day_start_minutes := 0; v.week_start := 1;
    END IF;
    DELETE FROM user_settings s WHERE s.user_id = p_user_id AND s.effective_from > next_day;
    IF p_changes ? 'rest_weekdays' THEN
        v.rest_weekdays := ARRAY(SELECT DISTINCT d::smallint
                                   FROM jsonb_array_elements_text(p_changes -> 'rest_weekdays') AS d ORDER BY 1);
    END IF;
    IF p_changes ? 'day_start_minutes' THEN
        v.day_start_minutes := (p_changes ->> 'day_start_minutes')::integer;
    END IF;
    IF p_changes ? 'daily_goal' THEN
        goal := p_changes -> 'daily_goal';
        v.daily_goal_unit := CASE WHEN jsonb_typeof(goal) = 'object' THEN goal ->> 'unit' END;
        v.daily_goal_target := CASE WHEN jsonb_typeof(goal) = 'object' THEN (goal ->> 'target')::integer END;
    END IF;
    IF p_changes ? 'weekly_goal_days' THEN
        v.weekly_goal_days := (p_changes ->> 'weekly_goal_days')::integer;
    END IF;
    IF p_changes ? 'week_start' THEN
        v.week_start := (p_changes ->> 'week_start')::smallint;
    END IF;
    INSERT INTO user_settings AS s (user_id, effective_from, rest_weekdays, day_start_minutes, daily_goal_unit,
                                    daily_goal_target, weekly_goal_days, week_start, reminders, changed_at)
    VALUES (p_user_id, next_day, v.rest_weekdays, v.day_start_minutes, v.daily_goal_unit, v.daily_goal_target,
            v.weekly_goal_days, v.week_start, v.reminders, now())
    ON CONFLICT (user_id, effective_from) DO UPDATE
       SET rest_weekdays = EXCLUDED.rest_weekdays, day_start_minutes = EXCLUDED.day_start_minutes,
           daily_goal_unit = EXCLUDED.daily_goal_unit, daily_goal_target = EXCLUDED.daily_goal_target,
           weekly_goal_days = EXCLUDED.weekly_goal_days, week_start = EXCLUDED.week_start,
           reminders = EXCLUDED.reminders, changed_at = EXCLUDED.changed_at
    RETURNING * INTO v;
    PERFORM progress_refresh_day_summary(p_user_id, next_day);  -- nothing before next_day changed
    RETURN progress_settings_document(v, (SELECT c.daily_goal FROM streak_config c));
END
$fn$;
