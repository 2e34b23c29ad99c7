-- GET /progress/export/{id}: the learner's export as JSON, or NULL when it is not one of theirs (the caller
-- answers 404 either way: another learner's export is never told apart from none). status is what the
-- learner sees: an in-progress export whose worker died reads 'failed' ('timed_out'), a ready one older
-- than p_retention_days reads 'expired' (the bucket's lifecycle rule has removed or will remove its object).
CREATE OR REPLACE FUNCTION progress_export_status_v1(
    p_user_id bigint, p_export_id uuid, p_stale_seconds integer, p_retention_days integer
) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN (SELECT json_build_object(
        'export_id', e.id,
        'status', CASE
            WHEN progress_export_stale(e.status, e.created_at, p_stale_seconds) THEN 'failed'
            WHEN e.status = 'ready' AND e.finished_at < now() - make_interval(days => p_retention_days)
                THEN 'expired'
            ELSE e.status END,
        'failure', CASE
            WHEN progress_export_stale(e.status, e.created_at, p_stale_seconds) THEN 'timed_out'
            ELSE e.failure END,
        'created_at', e.created_at,
        'started_at', e.started_at,
        'finished_at', e.finished_at,
        'format_version', e.format_version,
        'counts', e.counts,
        'size_bytes', e.size_bytes,
        'object_key', e.object_key)::text
      FROM exports e
     WHERE e.id = p_export_id AND e.user_id = p_user_id);
END
$fn$;
