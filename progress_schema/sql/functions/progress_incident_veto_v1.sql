-- progress-admin incidents veto: an operator undoes an incident's covers within 24 hours of its close (or
-- before it closes: then it will cover nothing). Removes the days it covered (only those: a day an operator
-- had covered before keeps its own reason) and refreshes those learners' streaks. Answers how many learners
-- and days it touched; 'not_found', 'already_vetoed' or 'too_late' when it does nothing.
CREATE OR REPLACE FUNCTION progress_incident_veto_v1(p_id bigint, p_now timestamptz) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    inc ingest_incidents;
    uid bigint;
    learners integer := 0;
    days integer := 0;
BEGIN
    SELECT * INTO inc FROM ingest_incidents WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN json_build_object('outcome', 'not_found');
    ELSIF inc.vetoed_at IS NOT NULL THEN
        RETURN json_build_object('outcome', 'already_vetoed', 'vetoed_at', inc.vetoed_at);
    ELSIF inc.closed_at IS NOT NULL AND p_now > inc.closed_at + interval '24 hours' THEN
        RETURN json_build_object('outcome', 'too_late', 'closed_at', inc.closed_at);
    END IF;
    -- the learners' locks in user_id order, as writers take them, before their covered days go
    FOR uid IN
        SELECT p.user_id FROM user_profiles p
         WHERE p.user_id IN (SELECT c.user_id FROM user_covered_days c WHERE c.incident_id = p_id)
         ORDER BY p.user_id
           FOR UPDATE OF p
    LOOP
        DELETE FROM user_covered_days c WHERE c.user_id = uid AND c.incident_id = p_id;
        GET DIAGNOSTICS days = ROW_COUNT;
        PERFORM progress_refresh_day_summary(uid);
        learners := learners + 1;
        inc.veto_days := coalesce(inc.veto_days, 0) + days;
    END LOOP;
    UPDATE ingest_incidents
       SET vetoed_at = p_now, veto_learners = learners, veto_days = coalesce(inc.veto_days, 0), covered = true
     WHERE id = p_id;
    RETURN json_build_object('outcome', 'vetoed', 'learners', learners, 'days', coalesce(inc.veto_days, 0));
END
$fn$;
