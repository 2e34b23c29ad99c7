-- The first day of the week holding p_day, weeks starting on ISO weekday p_week_start (1 = Monday; NULL: 1).
CREATE OR REPLACE FUNCTION progress_week_start(p_day date, p_week_start integer) RETURNS date
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT p_day - mod(extract(isodow FROM p_day)::integer - coalesce(p_week_start, 1) + 7, 7)
$fn$;
