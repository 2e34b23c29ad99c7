-- The streak figures of one profile at the instant p_now, for every read (docs/design.md "Streaks" and
-- "Keeping a streak"; docs/streaks.md step 4): the walk's checkpoint kept on the profile (the state at the
-- learner's last history day) continued over the days since, which have no history, to today. Never
-- writes. p is NULL-filled for a user without a profile. Also the repair offer, today's goal, the week,
-- the weekly streak, the ingest status (streak_status, data_complete_through; docs/signals.md) and the
-- signal kinds paused after 3 ignored (reminders_paused, kept on the profile by the sweep).
-- Returns the figures as JSON (what progress_streak_now gives every read), and today and the days frozen
-- since the last history day typed, with the settings versions and the deployment's limits it read, for the
-- reads that use them again without parsing the JSON or reading those tables twice (the statistics, the
-- explain).
CREATE OR REPLACE FUNCTION progress_streak_state(
    p user_profiles, p_now timestamptz,
    OUT figures json, OUT today date, OUT frozen_since date[], OUT frozen_since_sources text[],
    OUT versions user_settings[], OUT cfg streak_config
)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    zone text := coalesce(p.timezone, 'UTC');
    local_now timestamp := p_now AT TIME ZONE zone;
    rest_from date[];
    rest_masks integer[];
    v user_settings;
    weekly_goals boolean := false;
    w record;
    last_day date := coalesce(p.streak_run_end, p.last_practice_date);  -- NULL in profiles before 0005's runs
    run_length integer := coalesce(p.current_streak, 0);
    run_perfect boolean := coalesce(p.run_perfect, true);
    freezes text[] := coalesce(p.freezes, '{}');
    break_from date := p.break_from;
    break_to date := p.break_to;
    practised_today boolean;
    grant_days date[];
    grant_added integer[];
    next_grant integer := 1;
    gap_day date;
    step text;
    pending_days date[] := '{}';
    pending_sources text[] := '{}';
    broke_from date;
    current_streak integer := 0;
    expires timestamptz;
    future_day date;
    future_freezes integer;
    gap_from date;
    gap_to date;
    deadline timestamptz;
    repair json;
    repaired_recently boolean;
    attempts_done integer;
    today_attempts integer := 0;
    today_correct integer := 0;
    goal_unit text;
    goal_target integer;
    goal_done integer;
    met_at timestamptz;
    week_start_day date;
    week_goal integer;
    week json;
    week_target integer;
    week_practised integer;
    week_covered integer;
    this_week_met boolean := false;
    chain_week date;
    last_chain integer;
    days_left integer;
    required_left integer;
    weekly_streak integer := 0;
    complete timestamptz;
    ended_day date;
    status text;
BEGIN
    SELECT * INTO cfg FROM streak_config;
    -- the learner's settings versions, oldest first, and the grants after the checkpoint: queried only for
    -- learners who have any (the profile's flags, kept by a trigger on those tables)
    -- (one index-ordered query, no aggregate's sort; the rest weekdays of each as a mask, in a loop over a few)
    rest_from := '{}'; rest_masks := '{}'; versions := '{}';
    IF p.has_settings THEN
        versions := ARRAY(SELECT s FROM user_settings s WHERE s.user_id = p.user_id ORDER BY s.effective_from);
        FOR i IN 1..cardinality(versions) LOOP
            rest_from := rest_from || (versions[i]).effective_from;
            rest_masks := rest_masks || progress_weekday_mask((versions[i]).rest_weekdays);
            weekly_goals := weekly_goals OR (versions[i]).weekly_goal_days IS NOT NULL;
        END LOOP;
    END IF;
    -- has_grants: the write path clears it when no grant comes after the checkpoint (progress_refresh_day_summary)
    IF p.has_grants THEN
        SELECT coalesce(array_agg(g.local_day ORDER BY g.local_day, g.id), '{}'),
               coalesce(array_agg(g.added ORDER BY g.local_day, g.id), '{}')
          INTO grant_days, grant_added
          FROM freeze_grants g
         WHERE g.user_id = p.user_id AND g.local_day > coalesce(last_day, '-infinity');
    ELSE
        grant_days := '{}'; grant_added := '{}';
    END IF;
    -- today (the one rule of a learner's day), and the settings in force on it
    today := progress_day_of(local_now, versions);
    v := progress_settings_on(versions, today);

    IF last_day > today THEN
        -- history after today (the timezone moved west, a day covered ahead): walk up to today instead
        SELECT * INTO w FROM progress_streak_walk(p.user_id, today, NULL);
        last_day := w.last_day; run_length := w.run_length; run_perfect := w.run_perfect;
        freezes := w.freezes; break_from := w.break_from; break_to := w.break_to;
        SELECT coalesce(array_agg(g.local_day ORDER BY g.local_day, g.id), '{}'),
               coalesce(array_agg(g.added ORDER BY g.local_day, g.id), '{}')
          INTO grant_days, grant_added
          FROM freeze_grants g
         WHERE g.user_id = p.user_id AND g.local_day > coalesce(last_day, '-infinity');
        practised_today := EXISTS (SELECT 1 FROM user_daily_stats d WHERE d.user_id = p.user_id AND d.day = today);
    ELSE
        practised_today := p.last_practice_date IS NOT DISTINCT FROM today;
    END IF;

    -- the days since the last history day, up to yesterday: a gap with no next history day (yet)
    IF run_length > 0 THEN
        gap_day := last_day + 1;
        WHILE gap_day < today LOOP
            WHILE next_grant <= cardinality(grant_days) AND grant_days[next_grant] <= gap_day LOOP
                freezes := progress_streak_add_freezes(freezes, 'granted', grant_added[next_grant], cfg.freeze_max_held);
                next_grant := next_grant + 1;
            END LOOP;
            step := progress_streak_gap_day(gap_day, cfg.rules_start, rest_from, rest_masks, freezes);
            IF step = 'frozen' THEN
                pending_days := pending_days || gap_day;
                pending_sources := pending_sources || freezes[1];
                freezes := freezes[2:];
            ELSIF step = 'missed' THEN
                broke_from := coalesce(pending_days[1], gap_day);
                freezes := (pending_sources || freezes)[1:cfg.freeze_max_held];
                pending_days := '{}'; pending_sources := '{}';
                run_length := 0;
                EXIT;
            END IF;
            gap_day := gap_day + 1;
        END LOOP;
    END IF;
    WHILE next_grant <= cardinality(grant_days) AND grant_days[next_grant] <= today LOOP
        freezes := progress_streak_add_freezes(freezes, 'granted', grant_added[next_grant], cfg.freeze_max_held);
        next_grant := next_grant + 1;
    END LOOP;
    current_streak := run_length;

    -- when it would really drop to 0: the rest days of the settings then and the freezes held bridge the days
    -- without practice ahead; it drops when the first day that neither bridges ends
    IF current_streak > 0 THEN
        future_day := CASE WHEN last_day >= today THEN today + 1 ELSE today END;
        future_freezes := cardinality(freezes);
        FOR i IN 1..400 LOOP
            IF future_day >= cfg.rules_start AND progress_rest_day(future_day, rest_from, rest_masks) THEN
                NULL;
            ELSIF future_day >= cfg.rules_start AND future_freezes > 0 THEN
                future_freezes := future_freezes - 1;
            ELSE
                EXIT;
            END IF;
            future_day := future_day + 1;
        END LOOP;
        -- the start of the day after it, under the settings in force on that day
        expires := ((future_day + 1)::timestamp + make_interval(mins => coalesce(
                       (progress_settings_on(versions, future_day + 1)).day_start_minutes, 0))) AT TIME ZONE zone;
    END IF;

    -- repair: the latest break, while it is short enough and its window open
    IF broke_from IS NOT NULL THEN
        gap_from := broke_from; gap_to := today - 1;
    ELSIF break_from IS NOT NULL THEN
        gap_from := break_from; gap_to := break_to;
    END IF;
    IF gap_from IS NOT NULL AND gap_from >= cfg.rules_start AND gap_to - gap_from < cfg.repair_max_gap_days THEN
        -- the start of that local day, under the settings in force on it
        deadline := ((gap_to + cfg.repair_window_days + 1)::timestamp + make_interval(mins => coalesce(
                        (progress_settings_on(versions, gap_to + cfg.repair_window_days + 1)).day_start_minutes, 0)))
                    AT TIME ZONE zone;
        IF p_now < deadline THEN
            attempts_done := coalesce((SELECT sum(d.attempts) FROM user_daily_stats d
                                        WHERE d.user_id = p.user_id AND d.day BETWEEN gap_from AND today), 0);
            repaired_recently := EXISTS (
                SELECT 1 FROM streak_repairs r
                 WHERE r.user_id = p.user_id AND r.created_at > p_now - make_interval(days => cfg.repair_every_days));
            repair := json_build_object(
                'gap_from', gap_from, 'gap_to', gap_to, 'deadline', deadline,
                'attempts_required', cfg.repair_attempts, 'attempts_done', attempts_done,
                'available', attempts_done >= cfg.repair_attempts AND NOT repaired_recently,
                'unavailable_because', CASE
                    WHEN repaired_recently THEN 'repaired_recently'
                    WHEN attempts_done < cfg.repair_attempts THEN 'not_enough_attempts' END);
        END IF;
    END IF;

    -- today's goal, from the settings in force today
    IF practised_today THEN
        SELECT d.attempts, d.correct INTO today_attempts, today_correct
          FROM user_daily_stats d WHERE d.user_id = p.user_id AND d.day = today;
    END IF;
    today_attempts := coalesce(today_attempts, 0);
    today_correct := coalesce(today_correct, 0);
    goal_unit := coalesce(v.daily_goal_unit, 'attempts');
    goal_target := coalesce(v.daily_goal_target, cfg.daily_goal);
    goal_done := CASE WHEN goal_unit = 'correct' THEN today_correct ELSE today_attempts END;
    IF goal_done >= goal_target THEN
        -- the attempt that reached the target (an attempt's local day is fixed at write, never before its
        -- instant's UTC date minus two days)
        SELECT a.created_at INTO met_at FROM attempts a
         WHERE a.user_id = p.user_id AND a.local_day = today
           AND a.created_at >= (today - 2)::timestamp AT TIME ZONE 'UTC'
           AND (goal_unit = 'attempts' OR a.is_correct)
         ORDER BY a.created_at, a.id OFFSET goal_target - 1 LIMIT 1;
    END IF;

    -- the week: its goal is the one in force on its last day lived (this week: today); covered days lower it
    week_start_day := progress_week_start(today, v.week_start);
    week_goal := v.weekly_goal_days;
    IF week_goal IS NOT NULL THEN
        -- the week's counts without a query where the profile has them: no history day in this week yet
        -- (every practice or covered day is a history day, at most streak_run_end), or the counts the
        -- write path kept for the week of the last history day (each write of a day refreshes them)
        IF p.streak_run_end < week_start_day THEN
            week_practised := 0; week_covered := 0;
        ELSIF p.weekly_chain_week = week_start_day AND p.week_practised IS NOT NULL AND p.streak_run_end <= today THEN
            week_practised := p.week_practised; week_covered := p.week_covered;
        ELSE
            SELECT c.practised, c.covered INTO week_practised, week_covered
              FROM progress_week_counts(p.user_id, week_start_day) c;
        END IF;
        week_target := greatest(week_goal - week_covered, 0);
        days_left := (week_start_day + 6 - today) + CASE WHEN practised_today THEN 0 ELSE 1 END;
        required_left := greatest(week_target - week_practised, 0);
        this_week_met := progress_week_met(week_goal, week_practised, week_covered);
        week := json_build_object(
            'start', week_start_day, 'end', week_start_day + 6, 'target_days', week_target,
            'practised_days', week_practised, 'days_left', days_left, 'required_left', required_left,
            'at_risk', required_left > 0 AND required_left >= days_left, 'met', this_week_met);
    END IF;
    -- the weekly streak: this week if met, and the met weeks ending last week. The write path keeps the chain
    -- ending the week before the last history day's (progress_refresh_day_summary), so a read counts at most
    -- last week; it walks back itself only when that chain does not line up with today's weeks.
    IF weekly_goals THEN
        chain_week := p.weekly_chain_week;
        IF chain_week IS NULL OR chain_week > week_start_day OR mod(week_start_day - chain_week, 7) <> 0
           OR p.streak_run_end > today THEN
            last_chain := progress_weekly_chain(p.user_id, week_start_day - 7, versions, '-infinity');
        ELSIF chain_week = week_start_day THEN
            last_chain := p.weekly_chain;
        ELSE
            -- last week (the kept chain follows it when the last history day was in it), or an earlier
            -- week with no history after it: last week then cannot be met
            last_chain := progress_weekly_chain(p.user_id, week_start_day - 7, versions, week_start_day - 7);
            IF last_chain = 1 AND chain_week = week_start_day - 7 THEN
                last_chain := 1 + p.weekly_chain;
            END IF;
        END IF;
        weekly_streak := CASE WHEN this_week_met THEN 1 ELSE 0 END + last_chain;
    END IF;

    -- settled days (docs/signals.md): pending while the day that ended the last run is not settled
    complete := progress_complete_through(p.user_id);
    IF coalesce(p.practice_days, 0) > 0 THEN
        IF current_streak > 0 THEN
            status := 'active';
        ELSE
            ended_day := coalesce(broke_from, break_from, last_day + 1);
            status := CASE WHEN progress_day_settled(ended_day, zone, complete) THEN 'broken' ELSE 'pending' END;
        END IF;
    END IF;

    figures := json_build_object(
        'timezone', zone,
        'today', today,
        'current_streak', current_streak,
        'longest_streak', coalesce(p.longest_streak, 0),
        'last_practice_date', p.last_practice_date,
        'practiced_today', practised_today,
        'streak_expires_at', expires,
        'current_streak_perfect', current_streak > 0 AND run_perfect AND cardinality(pending_days) = 0,
        'freezes_held', cardinality(freezes),
        'freezes_max', cfg.freeze_max_held,
        'next_freeze_in', CASE WHEN cfg.freeze_earn_every > 0 AND cardinality(freezes) < cfg.freeze_max_held
                               THEN cfg.freeze_earn_every - mod(current_streak, cfg.freeze_earn_every) END,
        'rest_weekdays', coalesce(v.rest_weekdays, '{}'),
        'day_start_minutes', coalesce(v.day_start_minutes, 0),
        'frozen_since', pending_days,  -- the signals' freeze_used (progress_signals_plan)
        'repair', repair,
        'day', json_build_object(
            'date', today, 'attempts', today_attempts, 'correct', today_correct,
            'goal', json_build_object('unit', goal_unit, 'target', goal_target, 'done', goal_done,
                                      'met', goal_done >= goal_target, 'met_at', met_at)),
        'week', week,
        'weekly_streak', weekly_streak,
        'streak_status', status,
        'data_complete_through', complete,
        'reminders_paused', coalesce(p.reminders_paused, '{}')
    );
    frozen_since := pending_days;
    frozen_since_sources := pending_sources;
END
$fn$;
