-- POST /progress/streak/repair (the learner), one statement: when progress_streak_now at p_now offers a
-- repair that is available, records it (streak_repairs: the gap's days become repaired history days), walks
-- again and answers the repaired gap with the streak after it. Otherwise answers {"error":
-- "repair_unavailable", "reason", "message", "repair"} and records nothing. Reasons: no_gap (no repairable
-- gap), window_passed (the latest break, short enough to repair, is past its deadline: the offer is gone),
-- repaired_recently (a repair within the last REPAIR_EVERY_DAYS days), not_enough_attempts (n of m since the
-- gap began); the last two as the offer's unavailable_because says.
CREATE OR REPLACE FUNCTION progress_streak_repair_v1(p_user_id bigint, p_now timestamptz) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    prof user_profiles;
    cfg streak_config;
    state json;
    offer json;
    why text;
    message text;
BEGIN
    -- the profile row is the learner's lock, as for every writer: one repair at a time
    INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
    SELECT * INTO prof FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
    SELECT * INTO cfg FROM streak_config;
    state := progress_streak_now(prof, p_now);
    offer := state -> 'repair';
    IF offer IS NOT NULL AND json_typeof(offer) <> 'null' AND coalesce((offer ->> 'available')::boolean, false) THEN
        INSERT INTO streak_repairs (user_id, gap_from, gap_to, attempts_done, created_at)
        VALUES (p_user_id, (offer ->> 'gap_from')::date, (offer ->> 'gap_to')::date,
                (offer ->> 'attempts_done')::integer, p_now);
        PERFORM progress_refresh_day_summary(p_user_id, (offer ->> 'gap_from')::date);
        SELECT * INTO prof FROM user_profiles WHERE user_id = p_user_id;
        state := progress_streak_now(prof, p_now);
        RETURN json_build_object(
            'gap_from', offer -> 'gap_from', 'gap_to', offer -> 'gap_to', 'attempts_done', offer -> 'attempts_done',
            'current_streak', state -> 'current_streak', 'freezes_held', state -> 'freezes_held');
    END IF;
    IF offer IS NULL OR json_typeof(offer) = 'null' THEN
        -- no offer: the break the walk kept on the profile was short enough to repair, so its window passed
        IF prof.break_from IS NOT NULL AND prof.break_from >= cfg.rules_start
           AND prof.break_to - prof.break_from < cfg.repair_max_gap_days THEN
            why := 'window_passed';
            message := 'the repair window of the gap ' || prof.break_from || ' to ' || prof.break_to || ' has passed';
        ELSE
            why := 'no_gap';
            message := 'there is no repairable gap';
        END IF;
    ELSIF offer ->> 'unavailable_because' = 'repaired_recently' THEN
        why := 'repaired_recently';
        message := 'a streak was repaired within the last ' || cfg.repair_every_days || ' days';
    ELSIF offer ->> 'unavailable_because' = 'not_enough_attempts' THEN
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
