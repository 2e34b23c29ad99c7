-- The kind of one local day, for the statistics' daily series and GET /progress/streak/explain (the one
-- definition of the order practice > covered > rest > frozen > repaired; NULL: none). p_rest: the day is a
-- rest weekday of the settings version in force that day (progress_rest_day); it counts from the rules'
-- start. A plain expression: inlined where it is called.
CREATE OR REPLACE FUNCTION progress_day_kind(p_day date, p_practised boolean, p_covered boolean,
                                             p_rules_start date, p_rest boolean,
                                             p_frozen boolean, p_repaired boolean)
RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN p_practised THEN 'practice'
                WHEN p_covered THEN 'covered'
                WHEN p_day >= p_rules_start AND p_rest THEN 'rest'
                WHEN p_frozen THEN 'frozen'
                WHEN p_repaired THEN 'repaired'
           END
$fn$;
