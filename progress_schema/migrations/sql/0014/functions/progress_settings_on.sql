-- The settings version in force on p_day: the newest of p_versions (a learner's, oldest first) effective
-- on or before it; NULL-filled (the defaults) before the first. A loop over a few rows, not a query.
CREATE OR REPLACE FUNCTION progress_settings_on(p_versions user_settings[], p_day date) RETURNS user_settings
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    none user_settings;
BEGIN
    FOR i IN REVERSE cardinality(p_versions)..1 LOOP
        IF (p_versions[i]).effective_from <= p_day THEN
            RETURN p_versions[i];
        END IF;
    END LOOP;
    RETURN none;
END
$fn$;
