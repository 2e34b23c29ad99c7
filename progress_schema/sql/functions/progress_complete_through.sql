-- The learner's ingest watermark: the global one (ingest_watermark, advanced by the sweep from what SQS
-- says), held back to the earliest attempt of theirs a message on its way to the DLQ carries
-- (ingest_holds). NULL while the global one was never established. PL/pgSQL: its plans are kept for the
-- session (an SQL function called from PL/pgSQL, as every read does, is planned per call).
CREATE OR REPLACE FUNCTION progress_complete_through(p_user_id bigint) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    watermark timestamptz := (SELECT w.watermark FROM ingest_watermark w);
BEGIN
    IF watermark IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN least(watermark, (SELECT min(h.held_from) FROM ingest_holds h WHERE h.user_id = p_user_id));
END
$fn$;
