-- GET /progress/settings: the learner's newest settings version (the one a PUT wrote last, in force from its
-- effective_from, which may be tomorrow), or the defaults. Reads only.
CREATE OR REPLACE FUNCTION progress_settings_get_v1(p_user_id bigint, p_now timestamptz) RETURNS json
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    newest user_settings;
BEGIN
    SELECT * INTO newest FROM user_settings s WHERE s.user_id = p_user_id ORDER BY s.effective_from DESC LIMIT 1;
    RETURN progress_settings_document(newest, (SELECT c.daily_goal FROM streak_config c));
END
$fn$;
