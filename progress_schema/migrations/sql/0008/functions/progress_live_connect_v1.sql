-- Live updates, WebSocket $connect: consume the ticket (only an unexpired one; the DELETE makes it single
-- use, also under concurrent attempts) and bind the connection to the ticket's user, keeping that user's
-- p_keep newest connections; evicted: the connections that made room (the caller closes them). user_id
-- is NULL when the ticket is unknown, expired or used: the caller refuses.
CREATE OR REPLACE FUNCTION progress_live_connect_v1(
    p_ticket_hash bytea, p_connection_id text, p_keep integer, OUT user_id bigint, OUT evicted text[]
)
LANGUAGE plpgsql AS $fn$
BEGIN
    evicted := '{}';
    DELETE FROM live_tickets t WHERE t.ticket_hash = p_ticket_hash AND t.expires_at > now()
    RETURNING t.user_id INTO user_id;
    IF user_id IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO live_connections (connection_id, user_id) VALUES (p_connection_id, user_id)
    ON CONFLICT (connection_id) DO NOTHING;
    IF NOT FOUND THEN  -- a connection id API Gateway already gave to someone: never rebind it
        user_id := NULL;
        RETURN;
    END IF;
    WITH gone AS (
        DELETE FROM live_connections c WHERE c.connection_id IN (
            SELECT k.connection_id FROM live_connections k
             WHERE k.user_id = progress_live_connect_v1.user_id
             ORDER BY k.connected_at DESC, (k.connection_id = p_connection_id) DESC, k.connection_id DESC
             OFFSET p_keep)
        RETURNING c.connection_id)
    SELECT coalesce(array_agg(gone.connection_id), '{}') INTO evicted FROM gone;
END
$fn$;
