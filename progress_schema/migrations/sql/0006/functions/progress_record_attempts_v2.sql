-- The shared write path: a batch of attempts (a JSON array of messages) in one statement, with one outcome
-- per message, in array order (ord counts from 0):
--   written                  the attempt is stored (attempt_id), its aggregates and session updated
--   duplicate                its attempt_uid is known (live, archived, or earlier in this batch): nothing
--                            is written or changed, not even the profile or its timezone
--   session_of_another_user  it names a session that belongs to another user: nothing of it is written
-- Locks: the profiles of the batch's users first, in user_id order (the same order the attempts trigger
-- takes them), then new sessions in id order; so concurrent batches serialize per user without deadlocks.
-- A message's practice day: the local date in its own timezone, else in the profile's timezone at that
-- point of the batch (the newest by created_at that named one, as if the messages were written one by one).
-- Residual race: a retry arriving while archival moves its original (deleted from attempts, not yet
-- committed to attempts_archive) passes both checks. Retries come within SQS retention (days) and
-- archival takes rows older than the retention period (a year), so the two do not meet in practice.
CREATE OR REPLACE FUNCTION progress_record_attempts_v2(p_batch jsonb)
RETURNS TABLE (ord integer, attempt_uid uuid, outcome text, attempt_id bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    items progress_attempt_in[];
    created_profiles bigint[];
    written_uids uuid[];
    written_ids bigint[];
BEGIN
    -- 1. The messages; a uid seen before (here or earlier in the batch) is a duplicate.
    items := ARRAY(
        SELECT ROW((e.n - 1)::int, r.attempt_uid, r.user_id, r.exercise_id, r.is_correct,
                   coalesce(r.user_answer, ''), coalesce(r.created_at, now()), r.session_id, r.timezone,
                   CASE WHEN row_number() OVER (PARTITION BY r.attempt_uid ORDER BY e.n) > 1
                          OR EXISTS (SELECT 1 FROM attempts a WHERE a.attempt_uid = r.attempt_uid)
                          OR EXISTS (SELECT 1 FROM attempts_archive z WHERE z.attempt_uid = r.attempt_uid)
                        THEN 'duplicate' END)::progress_attempt_in
          FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(doc, n)
         CROSS JOIN LATERAL jsonb_populate_record(NULL::progress_attempt_in, e.doc) AS r
         ORDER BY e.n);

    -- 2. Lock the profiles of users with something to write, creating missing ones, in user_id order.
    WITH created AS (
        INSERT INTO user_profiles (user_id)
        SELECT DISTINCT i.user_id FROM unnest(items) i WHERE i.outcome IS NULL ORDER BY 1
        ON CONFLICT (user_id) DO NOTHING
        RETURNING user_id
    )
    SELECT array_agg(c.user_id) INTO created_profiles FROM created c;
    PERFORM 1 FROM user_profiles p
     WHERE p.user_id IN (SELECT i.user_id FROM unnest(items) i WHERE i.outcome IS NULL)
     ORDER BY p.user_id
       FOR UPDATE;

    -- 3. Claim new sessions for the user of their first attempt (by created_at, then position). The insert
    -- waits for a concurrent claim of the same id; the next statement, on a new snapshot, sees the owner.
    INSERT INTO sessions (id, user_id, started_at, ended_at)
    SELECT DISTINCT ON (i.session_id) i.session_id, i.user_id, i.created_at, i.created_at
      FROM unnest(items) i
     WHERE i.outcome IS NULL AND i.session_id IS NOT NULL
     ORDER BY i.session_id, i.created_at, i.ord
    ON CONFLICT (id) DO NOTHING;
    items := ARRAY(
        SELECT ROW(i.ord, i.attempt_uid, i.user_id, i.exercise_id, i.is_correct, i.user_answer, i.created_at,
                   i.session_id, i.timezone,
                   CASE WHEN i.outcome IS NULL AND i.session_id IS NOT NULL
                             AND s.user_id IS DISTINCT FROM i.user_id THEN 'session_of_another_user'
                        ELSE i.outcome END)::progress_attempt_in
          FROM unnest(items) i LEFT JOIN sessions s ON s.id = i.session_id
         ORDER BY i.ord);

    -- 4. Insert, each with its practice day; the attempts trigger folds them into the aggregates.
    WITH pending AS (
        SELECT i.* FROM unnest(items) i WHERE i.outcome IS NULL
    ), dated AS (
        SELECT d.*, (d.created_at AT TIME ZONE coalesce(d.timezone, (
                   SELECT z.timezone
                     FROM (SELECT p.timezone, p.timezone_set_at AS named_at, -1 AS ord
                             FROM user_profiles p WHERE p.user_id = d.user_id
                           UNION ALL
                           SELECT e.timezone, e.created_at, e.ord
                             FROM pending e
                            WHERE e.user_id = d.user_id AND e.ord < d.ord AND e.timezone IS NOT NULL) z
                    ORDER BY z.named_at DESC NULLS LAST, z.ord
                    LIMIT 1), 'UTC'))::date AS local_day
          FROM pending d
    ), inserted AS (
        INSERT INTO attempts AS a (attempt_uid, user_id, exercise_id, is_correct, user_answer, created_at,
                                   session_id, local_day)
        SELECT d.attempt_uid, d.user_id, d.exercise_id, d.is_correct, d.user_answer, d.created_at,
               d.session_id, d.local_day
          FROM dated d
         ORDER BY d.ord
        ON CONFLICT ON CONSTRAINT attempts_attempt_uid_key DO NOTHING
        RETURNING a.attempt_uid, a.id
    )
    SELECT array_agg(w.attempt_uid), array_agg(w.id) INTO written_uids, written_ids FROM inserted w;

    -- 5. The profile's timezone: the one of the newest attempt (by created_at) that named one. Older
    -- attempts, retries and late deliveries never move it back.
    UPDATE user_profiles p
       SET timezone = t.timezone, timezone_set_at = t.created_at, updated_at = now()
      FROM (SELECT DISTINCT ON (i.user_id) i.user_id, i.timezone, i.created_at
              FROM unnest(items) i
             WHERE i.outcome IS NULL AND i.timezone IS NOT NULL AND i.attempt_uid = ANY (written_uids)
             ORDER BY i.user_id, i.created_at DESC, i.ord) t
     WHERE p.user_id = t.user_id
       AND (p.timezone_set_at IS NULL OR p.timezone_set_at < t.created_at);

    -- 6. A profile this call created for a user with nothing written (lost a race to a concurrent
    -- duplicate, or rejected) goes again: a message that writes nothing leaves no trace.
    IF created_profiles IS NOT NULL THEN
        DELETE FROM user_profiles p
         WHERE p.user_id = ANY (created_profiles)
           AND NOT EXISTS (SELECT 1 FROM unnest(items) i
                            WHERE i.user_id = p.user_id AND i.attempt_uid = ANY (written_uids))
           AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = p.user_id);
    END IF;

    RETURN QUERY
    SELECT i.ord, i.attempt_uid,
           coalesce(i.outcome, CASE WHEN w.id IS NULL THEN 'duplicate' ELSE 'written' END),
           w.id
      FROM unnest(items) i
      LEFT JOIN unnest(written_uids, written_ids) AS w(uid, id) ON w.uid = i.attempt_uid AND i.outcome IS NULL
     ORDER BY i.ord;
END
$fn$;
