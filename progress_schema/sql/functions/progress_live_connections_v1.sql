-- Live updates: the open connections of some users (at most the p_keep newest each), for the push after a batch.
CREATE OR REPLACE FUNCTION progress_live_connections_v1(p_user_ids bigint[], p_keep integer)
RETURNS TABLE (user_id bigint, connection_id text)
LANGUAGE sql STABLE AS $fn$
    SELECT r.user_id, r.connection_id
      FROM (SELECT c.user_id, c.connection_id,
                   row_number() OVER (PARTITION BY c.user_id ORDER BY c.connected_at DESC) AS newest
              FROM live_connections c
             WHERE c.user_id = ANY (p_user_ids)) r
     WHERE r.newest <= p_keep
     ORDER BY r.user_id, r.newest
$fn$;
