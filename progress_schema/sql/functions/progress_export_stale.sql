-- Whether an export that was asked for has stopped counting as in progress: it was created longer ago than
-- the worker can take, retries included (p_stale_seconds), so its worker died. The one definition of the
-- rule for the request (a stale export no longer blocks a new one), the status and the worker's claim.
CREATE OR REPLACE FUNCTION progress_export_stale(p_status text, p_created_at timestamptz, p_stale_seconds integer)
RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT p_status IN ('pending', 'running') AND p_created_at < now() - make_interval(secs => p_stale_seconds)
$fn$;
