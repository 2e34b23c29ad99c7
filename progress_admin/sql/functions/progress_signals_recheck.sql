-- At send time: does an outbox row's condition still hold at p_now? NULL when it does, else the reason it is
-- suppressed: 'kind_off' (the learner turned the kind off since), 'paused', 'practised' (practice arrived
-- before the streak_saver went out), 'day_over', 'no_streak', 'not_at_risk' (the week), 'freeze_given_back'
-- (a late attempt made the frozen day a practice day), 'streak_restored' (a late attempt or a cover healed
-- the run). The state is progress_streak_now's at p_now, in the timezone in force then.
CREATE OR REPLACE FUNCTION progress_signals_recheck(o signal_outbox, p_now timestamptz) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    p user_profiles;
    s jsonb;
    reminders jsonb;
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = o.user_id;
    IF NOT FOUND THEN
        RETURN 'no_learner';
    END IF;
    reminders := progress_reminders_document((SELECT r.settings FROM user_reminders r WHERE r.user_id = o.user_id));
    IF NOT (reminders -> 'kinds' ->> o.kind)::boolean THEN
        RETURN 'kind_off';
    ELSIF o.kind = ANY (p.reminders_paused) THEN
        RETURN 'paused';
    END IF;
    s := progress_streak_now(p, p_now)::jsonb;
    IF o.kind = 'streak_saver' THEN
        RETURN CASE WHEN (s ->> 'today')::date <> o.local_day THEN 'day_over'
                    WHEN (s ->> 'practiced_today')::boolean THEN 'practised'
                    WHEN (s ->> 'current_streak')::integer < 1 THEN 'no_streak' END;
    ELSIF o.kind = 'weekly_goal_at_risk' THEN
        RETURN CASE WHEN s -> 'week' IS NULL OR s -> 'week' = 'null' THEN 'not_at_risk'
                    WHEN (s -> 'week' ->> 'start')::date <> o.local_day THEN 'day_over'
                    WHEN NOT (s -> 'week' ->> 'at_risk')::boolean THEN 'not_at_risk' END;
    ELSIF o.kind = 'freeze_used' THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM user_daily_stats d WHERE d.user_id = o.user_id AND d.day = o.local_day)
                    THEN 'freeze_given_back' END;
    ELSIF o.kind = 'streak_lost' THEN
        RETURN CASE WHEN s ->> 'streak_status' IS DISTINCT FROM 'broken' THEN 'streak_restored' END;
    END IF;
    RETURN NULL;  -- a milestone reached stays reached
END
$fn$;
