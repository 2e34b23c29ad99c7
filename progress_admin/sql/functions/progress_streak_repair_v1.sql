-- POST /progress/streak/repair (the learner), one statement: when progress_streak_now at p_now offers a
-- repair that is available, records it (streak_repairs: the gap's days become repaired history days), walks
-- again and answers the repaired gap with the streak after it. Otherwise answers {"error":
-- "repair_unavailable", "reason", "message"} and records nothing. Reasons, the first that holds: no_gap (no
-- repairable gap), window_passed (its deadline is past), repaired_recently (a repair within the last
-- REPAIR_EVERY_DAYS days), not_enough_attempts (n of m since the gap began).
CREATE OR REPLACE FUNCTION progress_streak_repair_v1(p_user_id bigint, p_now timestamptz) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    prof user_profiles;
    every_days integer := (SELECT c.repair_every_days FROM streak_config c);
    state json;
    offer json;
    why text;
    message text;
BEGIN
    -- the profile row is the learner's lock, as for every writer: one repair at a time
    INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
    SELECT * INTO prof FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
    state := progress_streak_now(prof, p_now);
    offer := state -> 'repair';
    IF offer IS NULL OR json_typeof(offer) = 'null' THEN
        why := 'no_gap';
        message := 'there is no repairable gap';
    ELSIF coalesce((offer ->> 'available')::boolean, false) THEN
        INSERT INTO streak_repairs (user_id, gap_from, gap_to, attempts_done, created_at)
        VALUES (p_user_id, (offer ->> 'gap_from')::date, (offer ->> 'gap_to')::date,
                (offer ->> 'attempts_done')::integer, p_now);
        PERFORM progress_refresh_day_summary(p_user_id);
        SELECT * INTO prof FROM user_profiles WHERE user_id = p_user_id;
        state := progress_streak_now(prof, p_now);
        RETURN json_build_object(
            'gap_from', offer -> 'gap_from', 'gap_to', offer -> 'gap_to', 'attempts_done', offer -> 'attempts_done',
            'current_streak', state -> 'current_streak', 'freezes_held', state -> 'freezes_held');
    ELSIF p_now >= (offer ->> 'deadline')::timestamptz THEN
        why := 'window_passed';
        message := 'the repair window has passed (it closed at ' || (offer ->> 'deadline') || ')';
    ELSIF EXISTS (SELECT 1 FROM streak_repairs r
                   WHERE r.user_id = p_user_id AND r.created_at > p_now - make_interval(days => every_days)) THEN
        why := 'repaired_recently';
        message := 'a streak was repaired within the last ' || every_days || ' days';
    ELSIF (offer ->> 'attempts_done')::integer < (offer ->> 'attempts_required')::integer THEN
        why := 'not_enough_attempts';
        message := 'not enough attempts since the gap began (' || (offer ->> 'attempts_done') || ' of '
                   || (offer ->> 'attempts_required') || ')';
    ELSE
        why := 'unavailable';
        message := 'the repair is not available';
    END IF;
    RETURN json_build_object('error', 'repair_unavailable', 'reason', why, 'message', message, 'repair', offer);
END
$fn$;
