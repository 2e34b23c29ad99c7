-- The practice day of an attempt made at p_at by p_user_id in the timezone p_zone, fixed when it is
-- written (progress_shift_day with the settings version in force then). Also the learner's "today" for
-- writes that need it (a settings change applies from the next one).
CREATE OR REPLACE FUNCTION progress_local_day(p_user_id bigint, p_at timestamptz, p_zone text) RETURNS date
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN progress_shift_day(p_at AT TIME ZONE p_zone, (
        SELECT v.day_start_minutes FROM progress_settings_in_force(p_user_id, (p_at AT TIME ZONE p_zone)::date) v));
END
$fn$;
