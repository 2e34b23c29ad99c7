-- The export worker takes an export: the run p_run_id holds it from now on (a redelivered message of a
-- worker that died takes it over; the older run can then no longer finish it). user_id is NULL when there
-- is nothing to do: the export is done, failed, stale, or gone (erased or reset meanwhile).
CREATE OR REPLACE FUNCTION progress_export_claim_v1(
    p_export_id uuid, p_run_id uuid, p_stale_seconds integer, OUT user_id bigint
)
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE exports e SET status = 'running', run_id = p_run_id, started_at = now()
     WHERE e.id = p_export_id AND e.status IN ('pending', 'running')
       AND NOT progress_export_stale(e.status, e.created_at, p_stale_seconds)
    RETURNING e.user_id INTO user_id;
END
$fn$;
