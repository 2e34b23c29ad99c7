-- Recompute the day-derived profile fields of one user. Called when a user's days change: a new practice
-- day, a covered day, a legacy longest streak, a freeze grant, a repair, a settings change. The streak
-- walk's state at the last history day is kept on the profile (the read continues it to today), and the
-- days it found frozen in user_frozen_days. p_changed_from: the earliest day that changed; when it comes
-- after the profile's checkpoint (the usual case: today's first attempt) the walk continues from there,
-- O(new days); else it walks the whole history again, O(history days), never O(attempts).
CREATE OR REPLACE FUNCTION progress_refresh_day_summary(p_user_id bigint, p_changed_from date DEFAULT '-infinity')
RETURNS void
LANGUAGE plpgsql AS $fn$
<<refresh>>
DECLARE
    checkpoint user_profiles;
    w record;
    resumed boolean;
    versions user_settings[] := '{}';
    weekly_goals boolean := false;
    chain_week date;
    chain integer := 0;
    week_practised integer;
    week_covered integer;
BEGIN
    SELECT * INTO checkpoint FROM user_profiles WHERE user_id = p_user_id;
    resumed := checkpoint.streak_run_end IS NOT NULL AND p_changed_from > checkpoint.streak_run_end;
    SELECT * INTO w FROM progress_streak_walk(p_user_id, 'infinity', CASE WHEN resumed THEN checkpoint END);
    -- the weekly chain: consecutive met weeks ending the week before the last history day's, so a read
    -- counts at most this week and last week (progress_streak_now); only learners who set weekly goals
    IF checkpoint.has_settings THEN
        versions := ARRAY(SELECT s FROM user_settings s WHERE s.user_id = p_user_id ORDER BY s.effective_from);
        FOR i IN 1..cardinality(versions) LOOP
            weekly_goals := weekly_goals OR (versions[i]).weekly_goal_days IS NOT NULL;
        END LOOP;
    END IF;
    IF weekly_goals AND w.last_day IS NOT NULL THEN
        chain_week := progress_week_start(w.last_day, (progress_settings_on(versions, w.last_day)).week_start);
        IF resumed AND checkpoint.weekly_chain_week = chain_week THEN
            chain := checkpoint.weekly_chain;  -- the new days are in the same week: earlier weeks unchanged
        ELSIF resumed AND mod(chain_week - checkpoint.weekly_chain_week, 7) = 0
              AND chain_week > checkpoint.weekly_chain_week THEN
            -- the weeks since the kept one's, then the kept chain if they all were met
            chain := progress_weekly_chain(p_user_id, chain_week - 7, versions, checkpoint.weekly_chain_week);
            IF chain = (chain_week - checkpoint.weekly_chain_week) / 7 THEN
                chain := chain + checkpoint.weekly_chain;
            END IF;
        ELSE
            chain := progress_weekly_chain(p_user_id, chain_week - 7, versions, '-infinity');
        END IF;
        -- and that week's counts, which a read takes instead of counting while it is the current week
        SELECT c.practised, c.covered INTO week_practised, week_covered
          FROM progress_week_counts(p_user_id, chain_week) c;
    END IF;
    UPDATE user_profiles p
       SET practice_days = d.practice_days,
           first_practice_date = d.first_day,
           last_practice_date = d.last_day,
           streak_run_end = w.last_day,
           current_streak = w.run_length,
           longest_streak = GREATEST(w.longest, p.legacy_longest_streak),
           freezes = w.freezes,
           run_perfect = w.run_perfect,
           starter_given = w.starter_given,
           break_from = w.break_from,
           break_to = w.break_to,
           break_run = w.break_run,
           weekly_chain = chain,
           weekly_chain_week = chain_week,
           week_practised = refresh.week_practised,
           week_covered = refresh.week_covered,
           -- the reads query the grants only when one comes after the checkpoint (progress_streak_now); the
           -- profile's lock, taken by every writer of grants and days first, orders this with a new grant
           has_grants = p.has_grants AND EXISTS (
               SELECT 1 FROM freeze_grants g
                WHERE g.user_id = p_user_id AND g.local_day > coalesce(w.last_day, d.last_day, '-infinity')),
           -- the learner's signals are planned again at the next sweep (docs/signals.md, the due index)
           next_signal_at = '-infinity',
           updated_at = now()
      FROM (SELECT count(*)::int AS practice_days, min(day) AS first_day, max(day) AS last_day
              FROM user_daily_stats WHERE user_id = p_user_id) d
     WHERE p.user_id = p_user_id;
    IF NOT resumed THEN
        DELETE FROM user_frozen_days f
         WHERE f.user_id = p_user_id AND f.day <> ALL (w.frozen_days);
    END IF;
    INSERT INTO user_frozen_days (user_id, day, source)
    SELECT p_user_id, f.day, f.source FROM unnest(w.frozen_days, w.frozen_sources) AS f(day, source)
    ON CONFLICT (user_id, day) DO UPDATE SET source = EXCLUDED.source
     WHERE user_frozen_days.source IS DISTINCT FROM EXCLUDED.source;
END
$fn$;
