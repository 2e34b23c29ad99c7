-- PUT /progress/settings, v2, one statement: the fields of v1 (a new settings version from the learner's next
-- local day, written only when the request names one of them) and `reminders` (validated by the layer:
-- kinds {kind: bool} merged into the learner's, reminder_time "HH:MM", quiet_hours {"from", "to"} or null).
-- Reminders apply at once and change no past figure: they are kept apart (user_reminders), and the
-- learner's signals are planned again at the next sweep (next_signal_at '-infinity').
CREATE OR REPLACE FUNCTION progress_settings_put_v2(p_user_id bigint, p_now timestamptz, p_changes jsonb)
RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    document jsonb;
    r jsonb;
    old jsonb;
BEGIN
    IF p_changes - 'reminders' <> '{}' OR NOT p_changes ? 'reminders' THEN
        document := progress_settings_put_v1(p_user_id, p_now, p_changes - 'reminders')::jsonb;
    ELSE
        -- the profile row is the learner's lock, as for every writer
        INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
        PERFORM 1 FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
        document := progress_settings_get_v1(p_user_id, p_now)::jsonb;
    END IF;
    IF p_changes ? 'reminders' THEN
        r := p_changes -> 'reminders';
        SELECT u.settings INTO old FROM user_reminders u WHERE u.user_id = p_user_id;
        old := coalesce(old, '{}');
        IF r ? 'kinds' THEN
            old := jsonb_set(old, '{kinds}', coalesce(old -> 'kinds', '{}') || (r -> 'kinds'));
        END IF;
        IF r ? 'reminder_time' THEN
            old := jsonb_set(old, '{reminder_time}', r -> 'reminder_time');
        END IF;
        IF r ? 'quiet_hours' THEN
            old := jsonb_set(old, '{quiet_hours}', r -> 'quiet_hours');
        END IF;
        INSERT INTO user_reminders AS u (user_id, settings, updated_at) VALUES (p_user_id, old, now())
        ON CONFLICT (user_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = EXCLUDED.updated_at;
    END IF;
    UPDATE user_profiles SET next_signal_at = '-infinity' WHERE user_id = p_user_id;
    RETURN (document || jsonb_build_object('reminders', progress_reminders_document(
               (SELECT u.settings FROM user_reminders u WHERE u.user_id = p_user_id))))::json;
END
$fn$;
