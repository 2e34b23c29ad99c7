-- POST /progress/export: a new export of the learner's data, unless one is in progress. created is false
-- (and export_id names the one in progress) when the learner already has a pending or running export: the
-- partial unique index exports_one_in_progress_idx decides, also between two requests at the same instant.
-- First, the learner's in-progress exports whose worker died are marked failed ('timed_out'), and the
-- learner's records older than p_keep_days (their objects expired long ago) are removed: bounded work.
CREATE OR REPLACE FUNCTION progress_export_request_v1(
    p_user_id bigint, p_stale_seconds integer, p_keep_days integer,
    OUT export_id uuid, OUT created boolean, OUT status text, OUT created_at timestamptz
)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
    UPDATE exports e SET status = 'failed', failure = 'timed_out', finished_at = now()
     WHERE e.user_id = p_user_id AND progress_export_stale(e.status, e.created_at, p_stale_seconds);
    DELETE FROM exports e
     WHERE e.user_id = p_user_id AND e.status IN ('ready', 'failed')
       AND e.created_at < now() - make_interval(days => p_keep_days);
    -- twice at most: a concurrent request whose export we waited for may have rolled back
    FOR attempt IN 1..2 LOOP
        INSERT INTO exports AS e (id, user_id) VALUES (gen_random_uuid(), p_user_id)
        ON CONFLICT (user_id) WHERE status IN ('pending', 'running') DO NOTHING
        RETURNING e.id, e.status, e.created_at INTO export_id, status, created_at;
        IF FOUND THEN
            created := true;
            RETURN;
        END IF;
        SELECT e.id, e.status, e.created_at INTO export_id, status, created_at
          FROM exports e WHERE e.user_id = p_user_id AND e.status IN ('pending', 'running');
        IF FOUND THEN
            created := false;
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'concurrent export requests did not settle; retry';
END
$fn$;
