-- AFTER INSERT ON attempts, once per statement, whoever writes: an attempt that was held (its message failed
-- on its way to the DLQ, then was redriven or retried) is recorded now, so its hold goes in the same
-- transaction. Costs one probe of an (almost always empty) table when nothing is held.
CREATE OR REPLACE FUNCTION progress_attempts_release_holds() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM ingest_holds) THEN
        DELETE FROM ingest_holds h USING new_rows n WHERE h.attempt_uid = n.attempt_uid;
    END IF;
    RETURN NULL;
END
$fn$;
