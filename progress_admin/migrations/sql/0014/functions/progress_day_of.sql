-- The one rule of a learner's day (docs/streaks.md, "Day start"): the local date of p_local less the day
-- start of the settings version in force on that local calendar date (p_versions: the learner's, oldest
-- first; none: 0). Attempts get their practice day by it when written (progress_local_day), and the reads
-- get "today" by it.
CREATE OR REPLACE FUNCTION progress_day_of(p_local timestamp, p_versions user_settings[]) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    RETURN (p_local - make_interval(mins => coalesce(
        (progress_settings_on(p_versions, p_local::date)).day_start_minutes, 0)))::date;
END
$fn$;
