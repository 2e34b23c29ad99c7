-- ISO weekdays (1 = Monday .. 7 = Sunday) as a bit mask: bit (d - 1) for weekday d.
CREATE OR REPLACE FUNCTION progress_weekday_mask(p_weekdays smallint[]) RETURNS integer
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT coalesce(sum(DISTINCT 1 << (d - 1)), 0)::integer FROM unnest(p_weekdays) AS d
$fn$;
