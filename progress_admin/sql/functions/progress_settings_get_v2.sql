-- GET /progress/settings, v2: v1's document and the learner's `reminders` (progress_reminders_document).
-- Reads only.
CREATE OR REPLACE FUNCTION progress_settings_get_v2(p_user_id bigint, p_now timestamptz) RETURNS json
LANGUAGE sql STABLE AS $fn$
    SELECT (progress_settings_get_v1(p_user_id, p_now)::jsonb
            || jsonb_build_object('reminders', progress_reminders_document(
                   (SELECT r.settings FROM user_reminders r WHERE r.user_id = p_user_id))))::json
$fn$;
