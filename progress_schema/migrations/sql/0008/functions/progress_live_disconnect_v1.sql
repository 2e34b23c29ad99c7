-- Live updates: forget connections (WebSocket $disconnect, or the management API said they are gone).
CREATE OR REPLACE FUNCTION progress_live_disconnect_v1(p_connection_ids text[]) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    removed integer;
BEGIN
    DELETE FROM live_connections WHERE connection_id = ANY (p_connection_ids);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$fn$;
