-- POST /progress/freezes (the app's backend), one statement. p_grant: {"key", "count"} (validated by the
-- layer). Idempotent by (learner, key): a key seen before answers what its first grant answered, and changes
-- nothing. Otherwise adds min(count, freezes_max - freezes_held) freezes, the figures of progress_streak_now
-- at p_now, as a grant row of the learner's local today (progress_streak_now's; the walk counts it from that
-- day on), then walks again. When none fits: {"error": "freezes_full"} and nothing is recorded (a later retry
-- of the key may fit).
CREATE OR REPLACE FUNCTION progress_freezes_grant_v1(p_user_id bigint, p_now timestamptz, p_grant jsonb)
RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    prof user_profiles;
    earlier freeze_grants;
    state json;
    requested integer := (p_grant ->> 'count')::integer;
    fits integer;
BEGIN
    -- the profile row is the learner's lock, as for every writer: a key is checked and recorded under it
    INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
    SELECT * INTO prof FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
    SELECT * INTO earlier FROM freeze_grants g WHERE g.user_id = p_user_id AND g.grant_key = p_grant ->> 'key';
    state := CASE WHEN NOT FOUND OR earlier.freezes_held IS NULL THEN progress_streak_now(prof, p_now) END;
    IF earlier.id IS NOT NULL THEN
        -- a grant recorded other than by this function has no answer kept: the figures of now
        RETURN json_build_object(
            'added', earlier.added,
            'freezes_held', coalesce(earlier.freezes_held, (state ->> 'freezes_held')::integer),
            'freezes_max', coalesce(earlier.freezes_max, (state ->> 'freezes_max')::integer));
    END IF;
    fits := least(requested, (state ->> 'freezes_max')::integer - (state ->> 'freezes_held')::integer);
    IF fits <= 0 THEN
        RETURN json_build_object('error', 'freezes_full', 'freezes_held', (state ->> 'freezes_held')::integer,
                                 'freezes_max', (state ->> 'freezes_max')::integer);
    END IF;
    INSERT INTO freeze_grants (user_id, grant_key, requested, added, source, local_day, freezes_held, freezes_max,
                               created_at)
    VALUES (p_user_id, p_grant ->> 'key', requested, fits, 'granted',
            (state ->> 'today')::date,
            (state ->> 'freezes_held')::integer + fits, (state ->> 'freezes_max')::integer, p_now)
    RETURNING * INTO earlier;
    PERFORM progress_refresh_day_summary(p_user_id, earlier.local_day);
    RETURN json_build_object('added', earlier.added, 'freezes_held', earlier.freezes_held,
                             'freezes_max', earlier.freezes_max);
END
$fn$;
