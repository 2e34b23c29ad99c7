-- The one definition of a met week: a weekly goal was in force (its last day lived), and the practised
-- days reach it less the week's covered days.
CREATE OR REPLACE FUNCTION progress_week_met(p_goal integer, p_practised integer, p_covered integer) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT p_goal IS NOT NULL AND p_practised >= greatest(p_goal - p_covered, 0)
$fn$;
