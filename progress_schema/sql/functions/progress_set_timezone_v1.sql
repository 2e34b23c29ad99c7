-- Set a user's timezone (an operator or the importer; attempts carry their own). O(1): practice days are
-- fixed when attempts are written, so nothing is rebuilt. timezone_set_at is left alone: an attempt newer
-- than the last one that named a timezone still sets its own.
-- Returns true when the timezone changed. Raises 22023 for a name PostgreSQL does not know.
CREATE OR REPLACE FUNCTION progress_set_timezone_v1(p_user_id bigint, p_timezone text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    old_timezone text;
BEGIN
    PERFORM now() AT TIME ZONE p_timezone;
    INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
    SELECT timezone INTO old_timezone FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
    IF old_timezone = p_timezone THEN
        RETURN false;
    END IF;
    -- the signals' local times follow the new zone: planned again at the next sweep (docs/signals.md)
    UPDATE user_profiles SET timezone = p_timezone, next_signal_at = '-infinity', updated_at = now()
     WHERE user_id = p_user_id;
    RETURN true;
END
$fn$;
