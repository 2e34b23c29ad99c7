-- The previous release's name, kept while a deploy replaces that code: the same as progress_record_attempts_v1.
CREATE OR REPLACE FUNCTION progress_record_attempts(p_batch jsonb)
RETURNS TABLE (attempt_uid uuid, attempt_id bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN QUERY SELECT r.attempt_uid, r.attempt_id FROM progress_record_attempts_v1(p_batch) r;
END
$fn$;
