-- Add per-user session deltas to the profiles' session sums (used by progress_sessions_changed).
CREATE OR REPLACE FUNCTION progress_apply_session_delta(p_deltas progress_session_delta[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF p_deltas IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO user_profiles (user_id)
    SELECT DISTINCT d.user_id FROM unnest(p_deltas) d ORDER BY d.user_id
    ON CONFLICT (user_id) DO NOTHING;
    UPDATE user_profiles p
       SET session_count = p.session_count + d.sessions,
           session_nonempty_count = p.session_nonempty_count + d.nonempty,
           session_exercises_sum = p.session_exercises_sum + d.exercises,
           session_accuracy_sum = p.session_accuracy_sum + d.accuracy,
           updated_at = now()
      FROM unnest(p_deltas) d
     WHERE p.user_id = d.user_id;
END
$fn$;
