-- GET /progress/statistics at the instant p_now: everything from the profile and the aggregates.
-- The daily series and the streak come from the same per-day rows (and the same covered days): each day's
-- kind (practice > covered > rest > frozen > repaired > none, progress_day_kind) and whether its goal (the
-- settings in force that day) was met. v4: the daily series by column ({"from": the first day,
-- "attempts": [...], "correct": [...], "covered": [...], "kind": [...], "goal_met": [...]}, a value per
-- day from "from" on).
CREATE OR REPLACE FUNCTION progress_read_statistics_v4(p_user_id bigint, p_now timestamptz, p_days integer)
RETURNS text
LANGUAGE plpgsql STABLE
-- its statements planned once per session (generic plans): the series' generate_series(0, p_days - 1) makes a
-- generic plan look dearer than a custom one, and planning again on every call cost more than the read
SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
    p user_profiles;
    state record;
    cfg streak_config;
    versions user_settings[];
    streak json;
    today date;
    version_from date[];
    version_masks integer[];
    version_units text[];
    version_targets integer[];
    first_day date;
    practice_days date[];
    attempts integer[];
    correct integer[];
    covered date[];
    frozen date[];
    repaired date[];
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = p_user_id;
    p.user_id := p_user_id;
    state := progress_streak_state(p, p_now);
    streak := state.figures;
    today := state.today;
    cfg := state.cfg;  -- the limits and settings versions the streak state read (not read again)
    versions := state.versions;
    first_day := today - p_days + 1;
    -- the settings versions, oldest first, as arrays of the fields the series needs (a few rows; the series
    -- takes the one in force each day by width_bucket over their first days)
    version_from := '{}'; version_masks := '{}'; version_units := '{}'; version_targets := '{}';
    FOR i IN 1..cardinality(versions) LOOP
        version_from := version_from || (versions[i]).effective_from;
        version_masks := version_masks || progress_weekday_mask((versions[i]).rest_weekdays);
        version_units := version_units || (versions[i]).daily_goal_unit;
        version_targets := version_targets || (versions[i]).daily_goal_target;
    END LOOP;
    -- the series' days with practice and the covered ones, each one index range read into arrays; the series
    -- looks a day up in them (a join per day would cost an index probe, or a plan of many nodes, per day)
    SELECT array_agg(d.day), array_agg(d.attempts), array_agg(d.correct) INTO practice_days, attempts, correct
      FROM user_daily_stats d WHERE d.user_id = p_user_id AND d.day BETWEEN first_day AND today;
    covered := ARRAY(SELECT c.day FROM user_covered_days c
                      WHERE c.user_id = p_user_id AND c.day BETWEEN first_day AND today);
    -- the frozen days of the series (progress_frozen_days: stored before today, and since the last history day)
    frozen := (progress_frozen_days(p_user_id, today, state.frozen_since, state.frozen_since_sources, first_day)).days;
    repaired := ARRAY(SELECT r.day::date
                        FROM streak_repairs sr, generate_series(sr.gap_from, sr.gap_to, interval '1 day') AS r(day)
                       WHERE sr.user_id = p_user_id AND sr.gap_to >= first_day);
    RETURN json_build_object(
        'total_attempts', coalesce(p.total_attempts, 0),
        'correct_attempts', coalesce(p.correct_attempts, 0),
        'streak', streak,
        'first_practice_date', p.first_practice_date,
        'practice_days', coalesce(p.practice_days, 0),
        'session_count', coalesce(p.session_count, 0),
        'session_nonempty_count', coalesce(p.session_nonempty_count, 0),
        'session_exercises_sum', coalesce(p.session_exercises_sum, 0),
        'session_accuracy_sum', coalesce(p.session_accuracy_sum, 0),
        'by_exercise', (
            SELECT coalesce(json_agg(e), '[]')
              FROM (SELECT s.exercise_id, s.attempts, s.correct, s.last_attempt_at
                      FROM user_exercise_stats s
                     WHERE s.user_id = p_user_id
                     ORDER BY s.attempts DESC, s.exercise_id
                     LIMIT 100) e
        ),
        -- the series by column (one array per field, first_day first): each array's type is looked up once,
        -- where a list of rows looks up each value's type and writes each date again
        'daily', (
            SELECT json_build_object(
                       'from', first_day,
                       'attempts', array_agg(coalesce(attempts[x.k], 0)),
                       'correct', array_agg(coalesce(correct[x.k], 0)),
                       'covered', array_agg(x.is_covered),
                       'kind', array_agg(progress_day_kind(
                                   x.day, x.k IS NOT NULL, x.is_covered, cfg.rules_start,
                                   progress_rest_day(x.day, version_from, version_masks), x.day = ANY (frozen), x.day = ANY (repaired))),
                       'goal_met', array_agg(
                                   CASE WHEN coalesce(version_units[x.v], 'attempts') = 'correct'
                                        THEN coalesce(correct[x.k], 0) ELSE coalesce(attempts[x.k], 0) END
                                   >= coalesce(version_targets[x.v], cfg.daily_goal)))
              -- the series' days in order, first_day first; k: the day's place in the practice arrays (NULL:
              -- not practised); v: the settings version in force that day (the newest effective on or before
              -- it; 0: none, the defaults); is_covered: a covered day
              FROM (SELECT first_day + i AS day, array_position(practice_days, first_day + i) AS k,
                           width_bucket(first_day + i, version_from) AS v,
                           first_day + i = ANY (covered) AS is_covered
                      FROM generate_series(0, p_days - 1) AS i
                    OFFSET 0) x  -- each computed once a day (not pulled up: each is used more than once)
        )
    )::text;
END
$fn$;
