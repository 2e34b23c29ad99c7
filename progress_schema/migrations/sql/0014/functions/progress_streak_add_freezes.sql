-- Freezes held are a list of their sources, oldest first; one that does not fit (p_max held) is lost.
CREATE OR REPLACE FUNCTION progress_streak_add_freezes(p_freezes text[], p_source text, p_count integer, p_max integer)
RETURNS text[]
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT p_freezes || array_fill(p_source, ARRAY[greatest(0, least(p_count, p_max - cardinality(p_freezes)))])
$fn$;
