-- A learner's day at the local time p_local, their settings versions in hand (p_versions, oldest first):
-- progress_shift_day with the day start of the version in force on p_local's calendar date. A plain
-- expression, inlined where it is called.
CREATE OR REPLACE FUNCTION progress_day_of(p_local timestamp, p_versions user_settings[]) RETURNS date
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT progress_shift_day(p_local, (progress_settings_on(p_versions, p_local::date)).day_start_minutes)
$fn$;
