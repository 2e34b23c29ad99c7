-- A learner's local today at p_now: the date of (local time - day start) in p_timezone (UTC when null),
-- with the day start of the settings version in force on the local calendar date (docs/streaks.md, "Day
-- start"). The settings and grant writes use it: a change applies from today + 1, a grant counts from today.
CREATE OR REPLACE FUNCTION progress_learner_today(p_user_id bigint, p_timezone text, p_now timestamptz)
RETURNS date
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    local_time timestamp := p_now AT TIME ZONE coalesce(p_timezone, 'UTC');
    day_start integer;
BEGIN
    SELECT s.day_start_minutes INTO day_start
      FROM user_settings s
     WHERE s.user_id = p_user_id AND s.effective_from <= local_time::date
     ORDER BY s.effective_from DESC
     LIMIT 1;
    RETURN (local_time - make_interval(mins => coalesce(day_start, 0)))::date;
END
$fn$;
