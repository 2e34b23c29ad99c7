-- The learner's `reminders` settings as GET and PUT /progress/settings answer them, and as the sweep reads
-- them: every kind on unless turned off, reminder_time "20:00" unless set, quiet_hours null unless set.
CREATE OR REPLACE FUNCTION progress_reminders_document(p_settings jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT jsonb_build_object(
        'kinds', (SELECT jsonb_object_agg(k, coalesce((p_settings -> 'kinds' ->> k)::boolean, true))
                    FROM unnest(ARRAY['streak_saver', 'weekly_goal_at_risk', 'milestone', 'freeze_used',
                                      'streak_lost']) AS k),
        'reminder_time', coalesce(p_settings ->> 'reminder_time', '20:00'),
        'quiet_hours', CASE WHEN jsonb_typeof(p_settings -> 'quiet_hours') = 'object'
                            THEN p_settings -> 'quiet_hours' END)
$fn$;
