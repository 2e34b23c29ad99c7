-- The sweep's step on the ingest watermark (docs/signals.md "Settled days"), at the sweep's instant p_now:
-- p_candidate is what SQS's ApproximateAgeOfOldestMessage proves (every message sent before it is deleted,
-- or received 3 times and held), p_queue_empty whether the queue's three counts were all 0 on this reading.
-- Two empty readings in a row (at most 150 s apart) prove everything sent a minute before the first one
-- deleted (the counts lag by up to a minute). The watermark never moves back and never passes p_now.
-- Then: holds whose attempt is recorded (a duplicate, a redriven message) are released; an incident opens
-- when the watermark has not advanced for INCIDENT_STALL_MINUTES (15; its one definition), starting at the
-- watermark (complete through there), and closes once the watermark has passed the instant it opened
-- (progress_incident_cover_v1 then covers the learners it affected). One row lock serializes sweeps.
CREATE OR REPLACE FUNCTION progress_watermark_advance_v1(
    p_now timestamptz, p_candidate timestamptz, p_queue_empty boolean, p_evidence jsonb
) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    stall CONSTANT interval := interval '15 minutes';
    w ingest_watermark;
    -- least() and greatest() skip NULLs: a missing proof must stay missing
    proven timestamptz := CASE WHEN p_candidate IS NOT NULL THEN least(p_candidate, p_now) END;
    mark timestamptz;
    moved boolean;
    incident ingest_incidents;
    opened bigint;
    closed bigint;
    released integer;
BEGIN
    INSERT INTO ingest_watermark (singleton, advanced_at) VALUES (true, p_now) ON CONFLICT DO NOTHING;
    SELECT * INTO w FROM ingest_watermark FOR UPDATE;
    IF p_queue_empty AND w.empty_reading_at < p_now AND p_now - w.empty_reading_at <= interval '150 seconds' THEN
        proven := greatest(proven, w.empty_reading_at - interval '60 seconds');
    END IF;
    mark := greatest(w.watermark, proven);  -- greatest() skips NULLs
    moved := mark IS NOT NULL AND (w.watermark IS NULL OR mark > w.watermark);
    UPDATE ingest_watermark
       SET watermark = mark,
           advanced_at = CASE WHEN moved THEN greatest(advanced_at, p_now) ELSE advanced_at END,
           checked_at = p_now,
           empty_reading_at = CASE WHEN p_queue_empty THEN greatest(empty_reading_at, p_now) END,
           evidence = p_evidence
     RETURNING * INTO w;

    DELETE FROM ingest_holds h
     WHERE EXISTS (SELECT 1 FROM attempts a WHERE a.attempt_uid = h.attempt_uid)
        OR EXISTS (SELECT 1 FROM attempts_archive z WHERE z.attempt_uid = h.attempt_uid);
    GET DIAGNOSTICS released = ROW_COUNT;

    SELECT * INTO incident FROM ingest_incidents WHERE closed_at IS NULL FOR UPDATE;
    IF FOUND THEN
        IF w.watermark >= incident.opened_at THEN
            UPDATE ingest_incidents SET closed_at = p_now, watermark_at_close = w.watermark WHERE id = incident.id;
            closed := incident.id;
        END IF;
    ELSIF p_now - w.advanced_at > stall THEN
        INSERT INTO ingest_incidents (started_at, opened_at)
        VALUES (coalesce(w.watermark, w.advanced_at), p_now)
        RETURNING id INTO opened;
    END IF;

    RETURN json_build_object(
        'watermark', w.watermark,
        'advanced', moved,
        'advanced_at', w.advanced_at,
        'holds_released', released,
        'holds', (SELECT count(*) FROM ingest_holds),
        'incident_opened', opened,
        'incident_closed', closed,
        'open_incident', (SELECT i.id FROM ingest_incidents i WHERE i.closed_at IS NULL));
END
$fn$;
