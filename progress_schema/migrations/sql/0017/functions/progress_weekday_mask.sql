-- ISO weekdays (1 = Monday .. 7 = Sunday) as a bit mask: bit (d - 1) for weekday d (a set holds each weekday
-- at most once, so at most 7 elements). A plain expression, inlined where it is called.
CREATE OR REPLACE FUNCTION progress_weekday_mask(p_weekdays smallint[]) RETURNS integer
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT coalesce(1 << (p_weekdays[1] - 1), 0) | coalesce(1 << (p_weekdays[2] - 1), 0)
         | coalesce(1 << (p_weekdays[3] - 1), 0) | coalesce(1 << (p_weekdays[4] - 1), 0)
         | coalesce(1 << (p_weekdays[5] - 1), 0) | coalesce(1 << (p_weekdays[6] - 1), 0)
         | coalesce(1 << (p_weekdays[7] - 1), 0)
$fn$;
