-- progress-admin cover-days: cover the days p_from..p_to for the users named (p_user_ids) or for the
-- users who practised on the local day p_active_on. Idempotent: a day already covered keeps its first
-- reason and time. Users without a profile (no history) are skipped. One row per user covered.
CREATE OR REPLACE FUNCTION progress_cover_days_v1(
    p_from date, p_to date, p_reason text, p_user_ids bigint[], p_active_on date
) RETURNS TABLE (user_id bigint, newly_covered integer, already_covered integer)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    uid bigint;
    added integer;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from > p_to OR p_to - p_from >= 366 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'the first day must be on or before the last, at most 366 days apart';
    END IF;
    IF (p_user_ids IS NULL) = (p_active_on IS NULL) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'name the users or the day they were active on';
    END IF;
    IF btrim(coalesce(p_reason, '')) = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a reason is required';
    END IF;
    -- Profiles locked in user_id order, as the writers lock them: a concurrent attempt waits for the refresh.
    FOR uid IN
        SELECT p.user_id FROM user_profiles p
         WHERE p.user_id = ANY (p_user_ids)
            OR p.user_id IN (SELECT d.user_id FROM user_daily_stats d WHERE d.day = p_active_on)
         ORDER BY p.user_id
           FOR UPDATE OF p
    LOOP
        INSERT INTO user_covered_days AS c (user_id, day, reason)
        SELECT uid, day::date, btrim(p_reason) FROM generate_series(p_from, p_to, interval '1 day') AS day
        ON CONFLICT ON CONSTRAINT user_covered_days_pkey DO NOTHING;
        GET DIAGNOSTICS added = ROW_COUNT;
        IF added > 0 THEN
            PERFORM progress_refresh_day_summary(uid);
        END IF;
        user_id := uid;
        newly_covered := added;
        already_covered := (p_to - p_from + 1) - added;
        RETURN NEXT;
    END LOOP;
END
$fn$;
