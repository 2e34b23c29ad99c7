-- The shared write path: insert a batch of attempts (a JSON array), each counted once by attempt_uid,
-- live or archived. One statement, so one transaction. Returns the uid and id of each row written.
-- Residual race: a retry arriving while archival moves its original (deleted from attempts, not yet
-- committed to attempts_archive) passes both checks. Retries come within SQS retention (days) and
-- archival takes rows older than the retention period (a year), so the two do not meet in practice.
CREATE OR REPLACE FUNCTION progress_record_attempts_v1(p_batch jsonb)
RETURNS TABLE (attempt_uid uuid, attempt_id bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    tz record;
BEGIN
    RETURN QUERY
    WITH incoming AS (
        SELECT DISTINCT ON (r.attempt_uid) r.*
          FROM jsonb_to_recordset(p_batch) AS r(
               attempt_uid uuid, user_id bigint, exercise_id bigint, is_correct boolean,
               user_answer text, created_at timestamptz, session_id bigint, timezone text, ord int)
         ORDER BY r.attempt_uid, r.ord
    ), inserted AS (
        INSERT INTO attempts AS a (attempt_uid, user_id, exercise_id, is_correct, user_answer, created_at, session_id)
        SELECT i.attempt_uid, i.user_id, i.exercise_id, i.is_correct, coalesce(i.user_answer, ''),
               coalesce(i.created_at, now()), i.session_id
          FROM incoming i
         WHERE NOT EXISTS (SELECT 1 FROM attempts_archive z WHERE z.attempt_uid = i.attempt_uid)
         ORDER BY i.ord
        ON CONFLICT ON CONSTRAINT attempts_attempt_uid_key DO NOTHING
        RETURNING a.attempt_uid, a.id
    )
    SELECT inserted.attempt_uid, inserted.id FROM inserted;

    -- After the insert, so the profile lock is taken in the same order as plain inserts take it.
    FOR tz IN
        SELECT DISTINCT ON (r.user_id) r.user_id, r.timezone
          FROM jsonb_to_recordset(p_batch) AS r(user_id bigint, timezone text, ord int)
         WHERE r.timezone IS NOT NULL
         ORDER BY r.user_id, r.ord DESC
    LOOP
        PERFORM progress_set_timezone_v1(tz.user_id, tz.timezone);
    END LOOP;
END
$fn$;
