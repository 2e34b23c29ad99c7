-- A batch of attempts, all or nothing: the rows written (uid and id); a known uid is skipped. When any
-- attempt names a session of another user, nothing is written and PR001 is raised (the importer and
-- demo-data want a file to commit whole). The SQS consumer uses progress_record_attempts_v2.
CREATE OR REPLACE FUNCTION progress_record_attempts_v1(p_batch jsonb)
RETURNS TABLE (attempt_uid uuid, attempt_id bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    result record;
BEGIN
    FOR result IN SELECT * FROM progress_record_attempts_v2(p_batch) LOOP
        IF result.outcome = 'session_of_another_user' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'PR001',
                MESSAGE = 'an attempt names a session that belongs to another user';
        END IF;
        IF result.outcome = 'written' THEN
            attempt_uid := result.attempt_uid;
            attempt_id := result.attempt_id;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$fn$;
