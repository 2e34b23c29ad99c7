-- Change a user's timezone and rebuild their per-day aggregates from live and archived attempts.
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
    UPDATE user_profiles SET timezone = p_timezone, updated_at = now() WHERE user_id = p_user_id;
    DELETE FROM user_daily_stats WHERE user_id = p_user_id;
    INSERT INTO user_daily_stats (user_id, day, attempts, correct)
    SELECT p_user_id, (created_at AT TIME ZONE p_timezone)::date, count(*), count(*) FILTER (WHERE is_correct)
      FROM (SELECT created_at, is_correct FROM attempts WHERE user_id = p_user_id
            UNION ALL
            SELECT created_at, is_correct FROM attempts_archive WHERE user_id = p_user_id) every_attempt
     GROUP BY 2;
    PERFORM progress_refresh_day_summary(p_user_id);
    RETURN true;
END
$fn$;
