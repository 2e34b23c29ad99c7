-- The practice day of an attempt made at p_at by p_user_id in the timezone p_zone, fixed when it is
-- written (progress_day_of, with the learner's settings versions). Also the learner's "today" for writes
-- that need it (a settings change applies from the next one).
CREATE OR REPLACE FUNCTION progress_local_day(p_user_id bigint, p_at timestamptz, p_zone text) RETURNS date
LANGUAGE sql STABLE AS $fn$
    SELECT progress_day_of(p_at AT TIME ZONE p_zone,
                           ARRAY(SELECT s FROM user_settings s WHERE s.user_id = p_user_id ORDER BY s.effective_from))
$fn$;
