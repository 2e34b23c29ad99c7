-- For the publisher: the pending outbox rows, oldest first (at most p_limit), each re-checked at p_now
-- (progress_signals_recheck): a row whose condition no longer holds is marked suppressed with its reason and
-- not returned; the rest are returned for publishing (then progress_signals_mark_v1). Rows another publisher
-- is re-checking are skipped (SKIP LOCKED). p_now defaults to the transaction's clock.
CREATE OR REPLACE FUNCTION progress_signals_pending_v1(p_limit integer, p_now timestamptz DEFAULT now())
RETURNS TABLE (id bigint, user_id bigint, kind text, local_day date, due_at timestamptz, detail jsonb)
LANGUAGE plpgsql AS $fn$
DECLARE
    o signal_outbox;
    reason text;
BEGIN
    FOR o IN
        SELECT * FROM signal_outbox x WHERE x.status = 'pending' ORDER BY x.id LIMIT p_limit FOR UPDATE SKIP LOCKED
    LOOP
        reason := progress_signals_recheck(o, p_now);
        IF reason IS NOT NULL THEN
            UPDATE signal_outbox x SET status = 'suppressed', suppressed_reason = reason WHERE x.id = o.id;
        ELSE
            id := o.id; user_id := o.user_id; kind := o.kind; local_day := o.local_day; due_at := o.due_at;
            detail := o.detail;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$fn$;
