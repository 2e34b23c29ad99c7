-- Whether p_day is a rest weekday under the settings version in force that day (the newest effective on or
-- before it: width_bucket over the versions' first days, oldest first; none in force: no rest days).
-- p_rest_from/p_rest_masks: the versions (effective_from, progress_weekday_mask of rest_weekdays). A plain
-- expression, inlined where it is called (no plan of its own, no function call per day).
CREATE OR REPLACE FUNCTION progress_rest_day(p_day date, p_rest_from date[], p_rest_masks integer[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT coalesce((p_rest_masks[width_bucket(p_day, p_rest_from)] >> (extract(isodow FROM p_day)::integer - 1)) & 1 = 1,
                    false)
$fn$;
