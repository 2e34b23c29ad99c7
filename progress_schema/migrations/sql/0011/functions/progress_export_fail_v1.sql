-- An export that cannot be made: failed with a reason code (never a message: it could quote data). With
-- p_run_id, only while that run holds it; without (the request could not hand it to the worker), while it
-- is pending or running. false when nothing changed.
CREATE OR REPLACE FUNCTION progress_export_fail_v1(p_export_id uuid, p_run_id uuid, p_failure text)
RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE exports e SET status = 'failed', failure = p_failure, finished_at = now()
     WHERE e.id = p_export_id AND e.status IN ('pending', 'running')
       AND (p_run_id IS NULL OR e.run_id = p_run_id);
    RETURN FOUND;
END
$fn$;
