-- progress-admin holds release: an operator lets go of holds (the message was discarded from the DLQ, or
-- will never be recorded): p_attempt_uids, or every hold of p_user_id. Answers the holds released.
CREATE OR REPLACE FUNCTION progress_hold_release_v1(p_attempt_uids uuid[], p_user_id bigint)
RETURNS TABLE (attempt_uid uuid, user_id bigint, held_from timestamptz)
LANGUAGE sql AS $fn$
    DELETE FROM ingest_holds h
     WHERE h.attempt_uid = ANY (p_attempt_uids) OR h.user_id = p_user_id
    RETURNING h.attempt_uid, h.user_id, h.held_from
$fn$;
