-- Which signals of one learner are due at p_now, and the next instant one could become due (docs/signals.md
-- "Signals"). The learner's state is progress_streak_now's (the one read of it: no streak rule here), in the
-- timezone in force at p_now; p_reminders is progress_reminders_document's (reminder_time, quiet hours; kinds
-- on/off and the pause are the sweep's). `due`: an array of {kind, local_day, due_at, detail} whose condition
-- holds, whose instant has come and which the outbox does not hold yet. `next_at`: NULL when nothing can
-- become due before the learner's state changes (then the write path or a settings change plans again).
CREATE OR REPLACE FUNCTION progress_signals_plan(
    p user_profiles, p_now timestamptz, p_reminders jsonb, OUT due jsonb, OUT next_at timestamptz
)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    s jsonb := progress_streak_now(p, p_now)::jsonb;
    zone text := s ->> 'timezone';
    today date := (s ->> 'today')::date;
    day_start interval := make_interval(mins => (s ->> 'day_start_minutes')::integer);
    streak integer := (s ->> 'current_streak')::integer;
    practised boolean := (s ->> 'practiced_today')::boolean;
    quiet jsonb := p_reminders -> 'quiet_hours';
    reminder interval := (p_reminders ->> 'reminder_time')::time - time '00:00';
    candidates timestamptz[] := '{}';
    t timestamptz;
    window_end timestamptz;
    rest_today boolean;
    frozen_day date;
    run_end date;
    ended date;
    lost integer;
    week jsonb := s -> 'week';
    first_risk date;
BEGIN
    due := '[]';
    rest_today := extract(isodow FROM today)::integer IN (SELECT jsonb_array_elements_text(s -> 'rest_weekdays')::integer);

    -- streak_saver: at reminder_time on today's local day (the next calendar date when it comes before the
    -- day start), when the streak is at least 1 and today is not practised
    IF streak >= 1 AND NOT practised THEN
        t := progress_signals_quiet(progress_local_instant(today + reminder
                 + CASE WHEN reminder < day_start THEN interval '1 day' ELSE interval '0' END, zone), zone, quiet);
        window_end := progress_local_instant(today + 1 + day_start, zone);
        IF EXISTS (SELECT 1 FROM signal_outbox o
                    WHERE o.user_id = p.user_id AND o.kind = 'streak_saver' AND o.local_day = today)
           OR t >= window_end THEN
            NULL;
        ELSIF t <= p_now THEN
            due := due || jsonb_build_object(
                'kind', 'streak_saver', 'local_day', today, 'due_at', t,
                'detail', jsonb_build_object(
                    'current_streak', streak, 'freezes_held', (s ->> 'freezes_held')::integer,
                    'rest_day', rest_today,
                    'freeze_would_be_spent', (s ->> 'freezes_held')::integer > 0 AND NOT rest_today,
                    'streak_expires_at', s -> 'streak_expires_at'));
        ELSE
            candidates := candidates || t;
        END IF;
    END IF;
    IF streak >= 1 OR practised THEN
        -- tomorrow's reminder, and the end of today (a freeze spent, the run ended)
        candidates := candidates
            || progress_local_instant(today + 1 + reminder
                   + CASE WHEN reminder < day_start THEN interval '1 day' ELSE interval '0' END, zone)
            || progress_local_instant(today + 1 + day_start, zone);
    END IF;

    -- freeze_used: each missed day since the last history day that a freeze kept, once its day ended
    FOR frozen_day IN SELECT d::date FROM jsonb_array_elements_text(s -> 'frozen_since') AS d LOOP
        IF frozen_day < today AND NOT EXISTS (
               SELECT 1 FROM signal_outbox o
                WHERE o.user_id = p.user_id AND o.kind = 'freeze_used' AND o.local_day = frozen_day) THEN
            t := progress_signals_quiet(progress_local_instant(frozen_day + 1 + day_start, zone), zone, quiet);
            IF t <= p_now THEN
                due := due || jsonb_build_object(
                    'kind', 'freeze_used', 'local_day', frozen_day, 'due_at', t,
                    'detail', jsonb_build_object('frozen_day', frozen_day, 'current_streak', streak,
                                                 'freezes_held', (s ->> 'freezes_held')::integer));
            ELSE
                candidates := candidates || t;
            END IF;
        END IF;
    END LOOP;

    -- milestone: the day the run reached 3, 7, 30, 100 or 365 practice days (once per run: a run reaches a
    -- count on one day only)
    IF practised AND streak IN (3, 7, 30, 100, 365) AND NOT EXISTS (
           SELECT 1 FROM signal_outbox o WHERE o.user_id = p.user_id AND o.kind = 'milestone' AND o.local_day = today)
    THEN
        t := progress_signals_quiet(p_now, zone, quiet);
        IF t <= p_now THEN
            due := due || jsonb_build_object(
                'kind', 'milestone', 'local_day', today, 'due_at', t,
                'detail', jsonb_build_object('days', streak, 'current_streak', streak));
        ELSE
            candidates := candidates || t;
        END IF;
    END IF;

    -- streak_lost: only once the day that ended the run is settled (streak_status 'broken'); a learner still
    -- 'pending' is looked at again every 5 minutes until it settles
    IF s ->> 'streak_status' IN ('broken', 'pending') THEN
        -- the day after the run's last day (the checkpoint's, as progress_ingest_status_v1 reads it)
        run_end := p.streak_run_end;
        lost := p.current_streak;
        IF run_end IS NULL OR run_end > today THEN
            SELECT r.run_end, r.run_length INTO run_end, lost FROM progress_streak_runs(p.user_id, today) r;
        END IF;
        ended := run_end + 1;
        IF s ->> 'streak_status' = 'pending' THEN
            candidates := candidates || greatest(p_now + interval '5 minutes',
                                                 progress_local_instant(ended + 1 + day_start, zone) + interval '60 minutes');
        ELSIF ended >= today - 7 AND NOT EXISTS (
                  SELECT 1 FROM signal_outbox o
                   WHERE o.user_id = p.user_id AND o.kind = 'streak_lost' AND o.local_day = ended) THEN
            t := progress_signals_quiet(greatest(p_now - interval '1 minute',
                                                 progress_local_instant(ended + 1 + day_start, zone)), zone, quiet);
            IF t <= p_now THEN
                due := due || jsonb_build_object(
                    'kind', 'streak_lost', 'local_day', ended, 'due_at', t,
                    'detail', jsonb_build_object('ended_day', ended, 'lost_streak', lost,
                                                 'longest_streak', (s ->> 'longest_streak')::integer,
                                                 'repair', s -> 'repair'));
            ELSE
                candidates := candidates || t;
            END IF;
        END IF;
    END IF;

    -- weekly_goal_at_risk: once a week (local_day = the week's first day), 08:00-18:00 local, on a day at_risk
    IF week IS NOT NULL AND week <> 'null' THEN
        IF EXISTS (SELECT 1 FROM signal_outbox o
                    WHERE o.user_id = p.user_id AND o.kind = 'weekly_goal_at_risk'
                      AND o.local_day = (week ->> 'start')::date) THEN
            first_risk := (week ->> 'end')::date + 1;
        ELSIF (week ->> 'at_risk')::boolean THEN
            t := progress_signals_quiet(greatest(p_now, progress_local_instant(today + time '08:00', zone)), zone, quiet);
            window_end := progress_local_instant(today + time '18:00', zone);
            IF t <= p_now AND t < window_end THEN
                due := due || jsonb_build_object(
                    'kind', 'weekly_goal_at_risk', 'local_day', (week ->> 'start')::date, 'due_at', t,
                    'detail', jsonb_build_object(
                        'week_start', week -> 'start', 'week_end', week -> 'end',
                        'target_days', week -> 'target_days', 'practised_days', week -> 'practised_days',
                        'required_left', week -> 'required_left', 'days_left', week -> 'days_left'));
                first_risk := (week ->> 'end')::date + 1;
            ELSIF t < window_end THEN
                candidates := candidates || t;
            ELSE
                first_risk := today + 1;
            END IF;
        ELSE
            -- the first day it turns at risk without practice: required_left >= the days left from it
            first_risk := greatest(today + 1, (week ->> 'end')::date + 1 - (week ->> 'required_left')::integer);
            IF (week ->> 'required_left')::integer = 0 THEN
                first_risk := (week ->> 'end')::date + 1;
            END IF;
        END IF;
        IF first_risk IS NOT NULL THEN
            candidates := candidates || progress_local_instant(first_risk + time '08:00', zone);
        END IF;
    END IF;

    SELECT min(c) INTO next_at FROM unnest(candidates) AS c WHERE c > p_now;
END
$fn$;
