-- Move up to p_batch_size attempts older than p_cutoff to the archive, in one statement.
-- SKIP LOCKED lets overlapping runs share the work; delete and insert commit together or not at all.
-- The practice day travels with the row (it was fixed when the attempt was written).
CREATE OR REPLACE FUNCTION progress_archive_batch_v1(p_cutoff timestamptz, p_batch_size integer) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    moved bigint;
BEGIN
    WITH picked AS (
        SELECT id FROM attempts
         WHERE created_at < p_cutoff
         ORDER BY created_at, id
         LIMIT p_batch_size
           FOR UPDATE SKIP LOCKED
    ), removed AS (
        DELETE FROM attempts a USING picked WHERE a.id = picked.id
        RETURNING a.id, a.user_id, a.exercise_id, a.is_correct, a.user_answer, a.created_at, a.session_id,
                  a.attempt_uid, a.local_day
    )
    INSERT INTO attempts_archive (id, user_id, exercise_id, is_correct, user_answer, created_at, session_id,
                                  attempt_uid, local_day)
    SELECT id, user_id, exercise_id, is_correct, user_answer, created_at, session_id, attempt_uid, local_day
      FROM removed;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END
$fn$;
