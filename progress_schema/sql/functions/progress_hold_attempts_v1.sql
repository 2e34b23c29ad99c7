-- The attempts consumer holds the days of messages on their way to the DLQ (docs/signals.md): a valid message
-- that failed on its third receive or later is no longer seen by SQS's ApproximateAgeOfOldestMessage, so
-- the watermark may pass it; its learner's days from its attempt's instant (held_from) stay unsettled until
-- its attempt_uid is recorded (attempts_release_holds, or the sweep for a duplicate) or an operator releases
-- it. p_holds: a JSON array of {attempt_uid, user_id, held_from, message_id, receive_count, reason}. An
-- attempt already recorded is not held; a second hold of the same attempt keeps the earliest instant.
CREATE OR REPLACE FUNCTION progress_hold_attempts_v1(p_holds jsonb) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    held integer;
BEGIN
    INSERT INTO ingest_holds AS h (attempt_uid, user_id, held_from, message_id, receive_count, reason)
    SELECT DISTINCT ON (r.attempt_uid) r.attempt_uid, r.user_id, r.held_from, r.message_id, r.receive_count,
           r.reason
      FROM jsonb_to_recordset(p_holds) AS r(attempt_uid uuid, user_id bigint, held_from timestamptz,
                                            message_id text, receive_count integer, reason text)
     WHERE NOT EXISTS (SELECT 1 FROM attempts a WHERE a.attempt_uid = r.attempt_uid)
       AND NOT EXISTS (SELECT 1 FROM attempts_archive z WHERE z.attempt_uid = r.attempt_uid)
     ORDER BY r.attempt_uid, r.held_from
    ON CONFLICT (attempt_uid) DO UPDATE
       SET held_from = least(h.held_from, EXCLUDED.held_from),
           receive_count = greatest(h.receive_count, EXCLUDED.receive_count),
           reason = EXCLUDED.reason,
           message_id = EXCLUDED.message_id;
    GET DIAGNOSTICS held = ROW_COUNT;
    RETURN held;
END
$fn$;
