-- Reset: everything of one user, nothing of anyone else's, in one statement.
CREATE OR REPLACE FUNCTION progress_reset_user_v1(
    p_user_id bigint, OUT deleted_attempts bigint, OUT deleted_archived bigint, OUT deleted_sessions bigint
)
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM 1 FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
    DELETE FROM attempts WHERE user_id = p_user_id;
    GET DIAGNOSTICS deleted_attempts = ROW_COUNT;
    DELETE FROM attempts_archive WHERE user_id = p_user_id;
    GET DIAGNOSTICS deleted_archived = ROW_COUNT;
    DELETE FROM sessions WHERE user_id = p_user_id;
    GET DIAGNOSTICS deleted_sessions = ROW_COUNT;
    DELETE FROM user_daily_stats WHERE user_id = p_user_id;
    DELETE FROM user_exercise_stats WHERE user_id = p_user_id;
    DELETE FROM user_covered_days WHERE user_id = p_user_id;
    -- The profile row stays (it holds the timezone preference and the lock); its figures go to zero.
    UPDATE user_profiles
       SET current_streak = 0, longest_streak = 0, last_practice_date = NULL, first_practice_date = NULL,
           practice_days = 0, total_attempts = 0, correct_attempts = 0, session_count = 0,
           session_nonempty_count = 0, session_exercises_sum = 0, session_accuracy_sum = 0,
           legacy_longest_streak = 0, streak_run_end = NULL, updated_at = now()
     WHERE user_id = p_user_id;
END
$fn$;
