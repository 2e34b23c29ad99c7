-- Incidents cover themselves (docs/signals.md): once an incident has closed, each learner whose run was alive
-- at its start (in their timezone: the run up to the start's local day ends on that day or the day before)
-- gets every local day overlapping the incident (from its start to its close) that they did not practise
-- covered, as `progress-admin cover-days` covers days, with the incident as reason (incident_id). A batch of
-- at most p_limit such learners per call, in user_id order from where the last batch stopped, so each call
-- stays short; the sweep calls it until the incident says `covered`. A vetoed incident covers nothing more.
-- Profiles are locked in user_id order, as every writer locks them.
CREATE OR REPLACE FUNCTION progress_incident_cover_v1(p_limit integer) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    inc ingest_incidents;
    reason text;
    earliest_run_end date;
    uid bigint;
    zone text;
    first_day date;
    last_day date;
    alive_end date;
    alive_length integer;
    added integer;
    seen integer := 0;
    last_seen bigint;
    learners integer := 0;
    days integer := 0;
BEGIN
    SELECT * INTO inc FROM ingest_incidents
     WHERE closed_at IS NOT NULL AND NOT covered AND vetoed_at IS NULL
     ORDER BY id LIMIT 1
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    reason := 'ingest incident ' || inc.id || ' (' || to_char(inc.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
              || ' to ' || to_char(inc.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC)';
    -- A run alive at the start ends on the start's local day or the day before, anywhere on earth (UTC-12 has
    -- the earliest date): a cheap bound on the cached last run before the exact check.
    earliest_run_end := (inc.started_at AT TIME ZONE 'Etc/GMT+12')::date - 1;
    FOR uid, zone IN
        SELECT p.user_id, p.timezone FROM user_profiles p
         WHERE p.user_id > coalesce(inc.cover_after, -1) AND p.streak_run_end >= earliest_run_end
         ORDER BY p.user_id
         LIMIT p_limit
           FOR UPDATE OF p
    LOOP
        seen := seen + 1;
        last_seen := uid;
        first_day := (inc.started_at AT TIME ZONE zone)::date;
        last_day := (inc.closed_at AT TIME ZONE zone)::date;
        SELECT r.run_end, r.run_length INTO alive_end, alive_length FROM progress_streak_runs(uid, first_day) r;
        CONTINUE WHEN alive_end IS NULL OR alive_end < first_day - 1 OR alive_length < 1;
        INSERT INTO user_covered_days AS c (user_id, day, reason, incident_id)
        SELECT uid, d::date, reason, inc.id FROM generate_series(first_day, last_day, interval '1 day') AS d
         WHERE NOT EXISTS (SELECT 1 FROM user_daily_stats s WHERE s.user_id = uid AND s.day = d::date)
        ON CONFLICT ON CONSTRAINT user_covered_days_pkey DO NOTHING;
        GET DIAGNOSTICS added = ROW_COUNT;
        IF added > 0 THEN
            PERFORM progress_refresh_day_summary(uid);
            learners := learners + 1;
            days := days + added;
        END IF;
    END LOOP;
    UPDATE ingest_incidents
       SET cover_after = coalesce(last_seen, cover_after),
           covered = seen < p_limit,
           learners_covered = learners_covered + learners,
           days_covered = days_covered + days
     WHERE id = inc.id
     RETURNING * INTO inc;
    RETURN json_build_object('incident', inc.id, 'learners', learners, 'days', days, 'covered', inc.covered);
END
$fn$;
