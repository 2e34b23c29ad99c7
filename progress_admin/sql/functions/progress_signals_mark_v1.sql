-- For the publisher, after PutEvents: the rows it published (status 'published', published_at p_now) and the
-- rows EventBridge refused (left pending for the next sweep); both count a publish attempt. A row already
-- published or suppressed is left as it is. Returns {"published", "failed"}: the rows changed.
CREATE OR REPLACE FUNCTION progress_signals_mark_v1(p_published bigint[], p_failed bigint[], p_now timestamptz)
RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    published integer;
    failed integer;
BEGIN
    UPDATE signal_outbox o
       SET status = 'published', published_at = p_now, publish_attempts = o.publish_attempts + 1
     WHERE o.id = ANY (coalesce(p_published, '{}')) AND o.status = 'pending';
    GET DIAGNOSTICS published = ROW_COUNT;
    UPDATE signal_outbox o
       SET publish_attempts = o.publish_attempts + 1
     WHERE o.id = ANY (coalesce(p_failed, '{}')) AND o.status = 'pending';
    GET DIAGNOSTICS failed = ROW_COUNT;
    RETURN json_build_object('published', published, 'failed', failed);
END
$fn$;
