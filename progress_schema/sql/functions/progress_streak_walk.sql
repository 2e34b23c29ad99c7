-- The one definition of runs, freezes and breaks (docs/design.md "Streaks" and "Keeping a streak";
-- docs/streaks.md, "A learner's days"): walks a learner's history days up to p_through (practice, covered,
-- repaired) in order, with the calendar days between them, and returns the state at the last one.
-- The write path keeps its result on the profile (progress_refresh_day_summary); progress_streak_now
-- continues it to today with progress_streak_gap_day, the same step for a day without history.
-- p_resume: a profile whose checkpoint (the state at its streak_run_end) the walk continues from, over the
-- history days after it only (the write path, when the days that changed all come after it); its
-- frozen_days are then only the new ones. NULL: from the first day.
CREATE OR REPLACE FUNCTION progress_streak_walk(
    p_user_id bigint, p_through date, p_resume user_profiles,
    OUT last_day date, OUT run_length integer, OUT run_perfect boolean, OUT longest integer,
    OUT freezes text[], OUT starter_given boolean,
    OUT break_from date, OUT break_to date, OUT break_run integer,
    OUT frozen_days date[], OUT frozen_sources text[]
)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    cfg streak_config;
    h record;
    gap_day date;
    step text;
    pending_days date[];
    pending_sources text[];
    grant_days date[];
    grant_added integer[];
    next_grant integer := 1;
    rest_from date[];
    rest_masks integer[];
BEGIN
    SELECT * INTO cfg FROM streak_config;
    frozen_days := '{}'; frozen_sources := '{}';
    IF p_resume.streak_run_end IS NULL THEN
        run_length := 0; run_perfect := true; longest := 0; freezes := '{}'; starter_given := false;
    ELSE
        last_day := p_resume.streak_run_end; run_length := p_resume.current_streak;
        run_perfect := p_resume.run_perfect; longest := p_resume.longest_streak; freezes := p_resume.freezes;
        starter_given := p_resume.starter_given; break_from := p_resume.break_from;
        break_to := p_resume.break_to; break_run := p_resume.break_run;
    END IF;
    SELECT coalesce(array_agg(g.local_day ORDER BY g.local_day, g.id), '{}'),
           coalesce(array_agg(g.added ORDER BY g.local_day, g.id), '{}')
      INTO grant_days, grant_added
      FROM freeze_grants g
     WHERE g.user_id = p_user_id AND g.local_day <= p_through AND g.local_day > coalesce(last_day, '-infinity');
    SELECT coalesce(array_agg(s.effective_from ORDER BY s.effective_from), '{}'),
           coalesce(array_agg(progress_weekday_mask(s.rest_weekdays) ORDER BY s.effective_from), '{}')
      INTO rest_from, rest_masks
      FROM user_settings s WHERE s.user_id = p_user_id;

    FOR h IN
        SELECT k.day, bool_or(k.kind = 'practice') AS practised, bool_or(k.kind = 'covered') AS covered,
               bool_or(k.kind = 'repaired') AS repaired
          FROM (SELECT d.day, 'practice' AS kind FROM user_daily_stats d
                 WHERE d.user_id = p_user_id AND d.day <= p_through AND d.day > coalesce(last_day, '-infinity')
                UNION ALL
                SELECT c.day, 'covered' FROM user_covered_days c
                 WHERE c.user_id = p_user_id AND c.day <= p_through AND c.day > coalesce(last_day, '-infinity')
                UNION ALL
                SELECT r.day::date, 'repaired'
                  FROM streak_repairs sr, generate_series(sr.gap_from, sr.gap_to, interval '1 day') AS r(day)
                 WHERE sr.user_id = p_user_id AND sr.gap_to > coalesce(last_day, '-infinity')
                   AND r.day <= p_through AND r.day > coalesce(last_day, '-infinity')) k
         GROUP BY k.day
         ORDER BY k.day
    LOOP
        -- the days between the previous history day and this one: they matter only to a living run
        IF run_length > 0 AND h.day > last_day + 1 THEN
            pending_days := '{}'; pending_sources := '{}';
            gap_day := last_day + 1;
            WHILE gap_day < h.day LOOP
                WHILE next_grant <= cardinality(grant_days) AND grant_days[next_grant] <= gap_day LOOP
                    freezes := progress_streak_add_freezes(freezes, 'granted', grant_added[next_grant],
                                                           cfg.freeze_max_held);
                    next_grant := next_grant + 1;
                END LOOP;
                step := progress_streak_gap_day(gap_day, cfg.rules_start, rest_from, rest_masks, freezes);
                IF step = 'rest' THEN
                    NULL;
                ELSIF step = 'frozen' THEN
                    pending_days := pending_days || gap_day;
                    pending_sources := pending_sources || freezes[1];
                    freezes := freezes[2:];
                ELSE
                    -- broken: what the gap set aside is given back, in its old place
                    break_from := coalesce(pending_days[1], gap_day);
                    -- the first missed day that was not a rest day
                    break_to := h.day - 1;
                    break_run := run_length;
                    freezes := (pending_sources || freezes)[1:cfg.freeze_max_held];
                    pending_days := '{}'; pending_sources := '{}';
                    run_length := 0;
                    run_perfect := true;
                    EXIT;
                END IF;
                gap_day := gap_day + 1;
            END LOOP;
            IF cardinality(pending_days) > 0 THEN
                frozen_days := frozen_days || pending_days;
                frozen_sources := frozen_sources || pending_sources;
                run_perfect := false;
            END IF;
        END IF;
        WHILE next_grant <= cardinality(grant_days) AND grant_days[next_grant] <= h.day LOOP
            freezes := progress_streak_add_freezes(freezes, 'granted', grant_added[next_grant], cfg.freeze_max_held);
            next_grant := next_grant + 1;
        END LOOP;
        IF h.practised THEN
            IF run_length = 0 THEN
                run_perfect := true;
            END IF;
            run_length := run_length + 1;
            longest := greatest(longest, run_length);
            -- after the day the rules start (for a database upgraded with attempts, its upgrade day: a
            -- practice day of it may predate the upgrade, and its figures stay as they were)
            IF h.day > cfg.rules_start THEN
                IF NOT starter_given THEN
                    freezes := progress_streak_add_freezes(freezes, 'starter', cfg.freeze_starter, cfg.freeze_max_held);
                    starter_given := true;
                END IF;
                IF cfg.freeze_earn_every > 0 AND mod(run_length, cfg.freeze_earn_every) = 0 THEN
                    freezes := progress_streak_add_freezes(freezes, 'earned', 1, cfg.freeze_max_held);
                END IF;
            END IF;
        ELSIF h.repaired AND NOT h.covered AND run_length > 0
              AND NOT (h.day >= cfg.rules_start AND progress_rest_day(h.day, rest_from, rest_masks)) THEN
            -- a repaired day that is also covered or a rest day is of that kind: the run stays perfect
            run_perfect := false;
        END IF;
        last_day := h.day;
    END LOOP;
    -- grants after the last history day are the read's (progress_streak_now)
END
$fn$;
