-- GET /progress/streak/explain at the instant p_now: each local day from p_from to p_to (NULL: the last 30
-- local days to today) with its kind and why. The kind is the statistics' (progress_day_kind over the same
-- inputs: progress_streak_now, progress_frozen_days, the covered days, the repairs, the settings version in
-- force, progress_settings_on), or 'pending' for a day of no kind not settled yet (progress_day_settled
-- with the learner's watermark, progress_complete_through as progress_streak_now reads it).
CREATE OR REPLACE FUNCTION progress_read_streak_explain_v1(p_user_id bigint, p_now timestamptz, p_from date,
                                                           p_to date)
RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    p user_profiles;
    state record;
    streak json;
    today date;
    zone text;
    complete timestamptz;
    cfg streak_config;
    versions user_settings[];
    version_from date[];
    version_masks integer[];
    frozen record;
    last_day date;
    first_day date;
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = p_user_id;
    p.user_id := p_user_id;
    state := progress_streak_state(p, p_now);
    streak := state.figures;
    today := state.today;
    cfg := state.cfg;  -- the limits and settings versions the streak state read (not read again)
    versions := state.versions;
    zone := streak ->> 'timezone';
    complete := (streak ->> 'data_complete_through')::timestamptz;
    last_day := coalesce(p_to, today);
    first_day := coalesce(p_from, last_day - 29);
    version_from := '{}'; version_masks := '{}';
    FOR i IN 1..cardinality(versions) LOOP
        version_from := version_from || (versions[i]).effective_from;
        version_masks := version_masks || progress_weekday_mask((versions[i]).rest_weekdays);
    END LOOP;
    frozen := progress_frozen_days(p_user_id, today, state.frozen_since, state.frozen_since_sources, first_day);
    RETURN json_build_object(
        'timezone', zone,
        'today', today,
        'from', first_day,
        'to', last_day,
        'data_complete_through', complete,
        'days', (
            SELECT coalesce(json_agg(json_build_object(
                       'date', x.day,
                       'kind', CASE WHEN x.kind IS NOT NULL THEN x.kind
                                    WHEN NOT x.settled THEN 'pending' ELSE 'none' END,
                       'settled', x.settled,
                       'attempts', x.attempts,
                       'correct', x.correct,
                       'covered', CASE WHEN x.covered_reason IS NOT NULL THEN json_build_object(
                                      'reason', x.covered_reason, 'incident_id', x.incident_id::text,
                                      'covered_at', x.covered_at) END,
                       'rest', CASE WHEN x.kind = 'rest' THEN json_build_object(
                                   'settings_effective_from', x.effective_from, 'rest_weekdays', x.rest_weekdays) END,
                       'frozen', CASE WHEN x.frozen_at IS NOT NULL THEN json_build_object(
                                     'source', frozen.sources[x.frozen_at],
                                     'stored', x.frozen_at <= cardinality(frozen.days)
                                               - cardinality(state.frozen_since)) END,
                       'repaired', CASE WHEN x.repair_id IS NOT NULL THEN json_build_object(
                                       'repair_id', x.repair_id::text, 'created_at', x.repair_at,
                                       'gap_from', x.gap_from, 'gap_to', x.gap_to) END,
                       'day_start_minutes', coalesce(x.day_start_minutes, 0),
                       'settings_effective_from', x.effective_from,
                       'goal', json_build_object('unit', x.goal_unit, 'target', x.goal_target,
                                                 'met', CASE WHEN x.goal_unit = 'correct' THEN x.correct
                                                             ELSE x.attempts END >= x.goal_target))
                   ORDER BY x.day), '[]')
              FROM (SELECT series.day,
                           progress_day_kind(series.day, d.day IS NOT NULL, c.day IS NOT NULL, cfg.rules_start,
                                             progress_rest_day(series.day, version_from, version_masks),
                                             fa.at IS NOT NULL, r.id IS NOT NULL) AS kind,
                           progress_day_settled(series.day, zone, complete) AS settled,
                           coalesce(d.attempts, 0) AS attempts, coalesce(d.correct, 0) AS correct,
                           c.reason AS covered_reason, c.incident_id, c.covered_at,
                           fa.at AS frozen_at,
                           r.id AS repair_id, r.created_at AS repair_at, r.gap_from, r.gap_to,
                           (sv.v).effective_from, (sv.v).rest_weekdays, (sv.v).day_start_minutes,
                           coalesce((sv.v).daily_goal_unit, 'attempts') AS goal_unit,
                           coalesce((sv.v).daily_goal_target, cfg.daily_goal) AS goal_target
                      FROM generate_series(first_day, last_day, interval '1 day') AS g(at)
                      CROSS JOIN LATERAL (SELECT g.at::date AS day) series
                      CROSS JOIN LATERAL (SELECT progress_settings_on(versions, series.day) AS v) sv
                      LEFT JOIN user_daily_stats d ON d.user_id = p_user_id AND d.day = series.day
                      LEFT JOIN user_covered_days c ON c.user_id = p_user_id AND c.day = series.day
                      LEFT JOIN LATERAL (SELECT array_position(frozen.days, series.day) AS at) fa ON true
                      LEFT JOIN LATERAL (SELECT sr.id, sr.created_at, sr.gap_from, sr.gap_to
                                           FROM streak_repairs sr
                                          WHERE sr.user_id = p_user_id AND sr.gap_from <= series.day
                                            AND sr.gap_to >= series.day
                                          ORDER BY sr.id DESC LIMIT 1) r ON true) x
        )
    )::text;
END
$fn$;
