-- ISO weekdays (1 = Monday .. 7 = Sunday) as a bit mask: bit (d - 1) for weekday d. PL/pgSQL, a loop: an
-- SQL function with a FROM would be planned on every call.
CREATE OR REPLACE FUNCTION progress_weekday_mask(p_weekdays smallint[]) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    mask integer := 0;
BEGIN
    FOR i IN 1..coalesce(cardinality(p_weekdays), 0) LOOP
        mask := mask | (1 << (p_weekdays[i] - 1));
    END LOOP;
    RETURN mask;
END
$fn$;
