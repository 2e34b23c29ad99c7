-- The settings version of p_user_id in force on p_day: the newest effective on or before it (none: no row,
-- the defaults). A plain SELECT, so a LATERAL join inlines it into an index probe (the write path's
-- per-attempt lookup); the reads, which hold all of a learner's versions already, use progress_settings_on,
-- the same rule over an array.
CREATE OR REPLACE FUNCTION progress_settings_in_force(p_user_id bigint, p_day date) RETURNS SETOF user_settings
LANGUAGE sql STABLE AS $fn$
    SELECT s.* FROM user_settings s
     WHERE s.user_id = p_user_id AND s.effective_from <= p_day
     ORDER BY s.effective_from DESC
     LIMIT 1
$fn$;
