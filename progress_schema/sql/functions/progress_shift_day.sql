-- The one rule of a learner's day (docs/streaks.md, "Day start"): the date of the local time p_local less
-- the day start (minutes) of the settings version in force on p_local's calendar date (NULL: none, 0).
-- Attempts get their practice day by it when written (progress_record_attempts_v2, progress_local_day),
-- and the reads get "today" by it (progress_day_of).
CREATE OR REPLACE FUNCTION progress_shift_day(p_local timestamp, p_day_start integer) RETURNS date
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT (p_local - make_interval(mins => coalesce(p_day_start, 0)))::date
$fn$;
