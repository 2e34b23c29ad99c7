-- Whether p_day is a rest weekday under the settings version in force that day (the newest effective on or
-- before it; none: no rest days). p_rest_from/p_rest_masks: the versions, oldest first.
CREATE OR REPLACE FUNCTION progress_rest_day(p_day date, p_rest_from date[], p_rest_masks integer[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT coalesce(
        (SELECT (v.mask >> (extract(isodow FROM p_day)::integer - 1)) & 1 = 1
           FROM unnest(p_rest_from, p_rest_masks) AS v(effective_from, mask)
          WHERE v.effective_from <= p_day
          ORDER BY v.effective_from DESC
          LIMIT 1),
        false)
$fn$;
