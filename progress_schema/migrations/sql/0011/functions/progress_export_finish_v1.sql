-- The worker's run p_run_id has written the export's object: the export is ready. false when the run no
-- longer holds it (erased, reset or taken over meanwhile): the caller deletes the object it wrote.
CREATE OR REPLACE FUNCTION progress_export_finish_v1(
    p_export_id uuid, p_run_id uuid, p_object_key text, p_size_bytes bigint, p_format_version integer,
    p_counts jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE exports e
       SET status = 'ready', object_key = p_object_key, size_bytes = p_size_bytes,
           format_version = p_format_version, counts = p_counts, finished_at = now()
     WHERE e.id = p_export_id AND e.run_id = p_run_id AND e.status = 'running';
    RETURN FOUND;
END
$fn$;
