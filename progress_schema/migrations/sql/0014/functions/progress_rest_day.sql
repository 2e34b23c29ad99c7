-- Whether p_day is a rest weekday under the settings version in force that day (the newest effective on or
-- before it; none: no rest days). p_rest_from/p_rest_masks: the versions, oldest first (a few per learner:
-- a loop over the arrays costs less than a query).
CREATE OR REPLACE FUNCTION progress_rest_day(p_day date, p_rest_from date[], p_rest_masks integer[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    FOR i IN REVERSE cardinality(p_rest_from)..1 LOOP
        IF p_rest_from[i] <= p_day THEN
            RETURN (p_rest_masks[i] >> (extract(isodow FROM p_day)::integer - 1)) & 1 = 1;
        END IF;
    END LOOP;
    RETURN false;
END
$fn$;
