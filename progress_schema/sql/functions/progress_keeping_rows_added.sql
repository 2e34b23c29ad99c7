-- AFTER INSERT ON user_settings and freeze_grants, once per statement: the profile's flags say the learner
-- has such rows, so the reads query those tables only for learners who do (most have neither). A flag is a
-- hint that is never wrong when false: set by whoever writes the rows, plain SQL included.
CREATE OR REPLACE FUNCTION progress_keeping_rows_added() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_TABLE_NAME = 'user_settings' THEN
        INSERT INTO user_profiles AS p (user_id, has_settings)
        SELECT DISTINCT user_id, true FROM new_rows ORDER BY user_id
        ON CONFLICT (user_id) DO UPDATE SET has_settings = true WHERE NOT p.has_settings;
    ELSE
        INSERT INTO user_profiles AS p (user_id, has_grants)
        SELECT DISTINCT user_id, true FROM new_rows ORDER BY user_id
        ON CONFLICT (user_id) DO UPDATE SET has_grants = true WHERE NOT p.has_grants;
    END IF;
    RETURN NULL;
END
$fn$;
