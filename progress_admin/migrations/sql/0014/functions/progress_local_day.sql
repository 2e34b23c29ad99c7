-- The practice day of an attempt made at p_at by p_user_id in the timezone p_zone, fixed when it is
-- written: the local date less the learner's day start (docs/streaks.md: the day start of the settings
-- version in force on the attempt's local calendar date; none: 0).
CREATE OR REPLACE FUNCTION progress_local_day(p_user_id bigint, p_at timestamptz, p_zone text) RETURNS date
LANGUAGE sql STABLE AS $fn$
    SELECT ((p_at AT TIME ZONE p_zone) - make_interval(mins => coalesce(
               (SELECT s.day_start_minutes FROM user_settings s
                 WHERE s.user_id = p_user_id AND s.effective_from <= (p_at AT TIME ZONE p_zone)::date
                 ORDER BY s.effective_from DESC LIMIT 1), 0)))::date
$fn$;
