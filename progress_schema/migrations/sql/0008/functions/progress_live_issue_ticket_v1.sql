-- Live updates: store a new single-use ticket (its SHA-256 only), valid p_ttl_seconds, and clean up a
-- bounded number (p_cleanup) of expired tickets and of connections older than p_max_age_seconds (API
-- Gateway's 2-hour limit: their $disconnect was missed). Returns when the ticket expires.
CREATE OR REPLACE FUNCTION progress_live_issue_ticket_v1(
    p_ticket_hash bytea, p_user_id bigint, p_ttl_seconds integer, p_max_age_seconds integer, p_cleanup integer
)
RETURNS timestamptz
LANGUAGE plpgsql AS $fn$
DECLARE
    expires timestamptz;
BEGIN
    DELETE FROM live_tickets WHERE ticket_hash IN (
        SELECT ticket_hash FROM live_tickets WHERE expires_at < now() LIMIT p_cleanup FOR UPDATE SKIP LOCKED);
    DELETE FROM live_connections WHERE connection_id IN (
        SELECT connection_id FROM live_connections WHERE connected_at < now() - make_interval(secs => p_max_age_seconds)
         LIMIT p_cleanup FOR UPDATE SKIP LOCKED);
    INSERT INTO live_tickets (ticket_hash, user_id, expires_at)
    VALUES (p_ticket_hash, p_user_id, now() + make_interval(secs => p_ttl_seconds))
    RETURNING expires_at INTO expires;
    RETURN expires;
END
$fn$;
