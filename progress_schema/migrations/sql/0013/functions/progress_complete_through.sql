-- The learner's ingest watermark: the global one (ingest_watermark, advanced by the sweep from what SQS
-- says), held back to the earliest attempt of theirs a message on its way to the DLQ carries
-- (ingest_holds). NULL while the global one was never established.
CREATE OR REPLACE FUNCTION progress_complete_through(p_user_id bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN w.watermark IS NOT NULL
                THEN least(w.watermark, (SELECT min(h.held_from) FROM ingest_holds h WHERE h.user_id = p_user_id))
           END
      FROM (SELECT (SELECT watermark FROM ingest_watermark) AS watermark) w
$fn$;
