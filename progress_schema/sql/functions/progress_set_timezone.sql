-- The previous release's name, kept while a deploy replaces that code: the same as progress_set_timezone_v1.
CREATE OR REPLACE FUNCTION progress_set_timezone(p_user_id bigint, p_timezone text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN progress_set_timezone_v1(p_user_id, p_timezone);
END
$fn$;
