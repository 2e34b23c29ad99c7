-- Reset: everything of one user, nothing of anyone else's, in one statement. v2: the learner's exports
-- too (deleted_exports: the caller then deletes their objects, after the commit).
CREATE OR REPLACE FUNCTION progress_reset_user_v2(
    p_user_id bigint, OUT deleted_attempts bigint, OUT deleted_archived bigint, OUT deleted_sessions bigint,
    OUT deleted_exports bigint
)
LANGUAGE plpgsql AS $fn$
BEGIN
    -- The profile row is the user's lock. Create it first when missing: FOR UPDATE alone locks nothing then,
    -- and a first write that creates it and commits between the statements below would keep its attempts
    -- while its aggregates are deleted. The insert waits for a concurrent first write of this user.
    INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
    PERFORM 1 FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
    DELETE FROM attempts WHERE user_id = p_user_id;
    GET DIAGNOSTICS deleted_attempts = ROW_COUNT;
    DELETE FROM attempts_archive WHERE user_id = p_user_id;
    GET DIAGNOSTICS deleted_archived = ROW_COUNT;
    DELETE FROM attempts_quarantine WHERE user_id = p_user_id;
    DELETE FROM sessions WHERE user_id = p_user_id;
    GET DIAGNOSTICS deleted_sessions = ROW_COUNT;
    DELETE FROM user_daily_stats WHERE user_id = p_user_id;
    DELETE FROM user_exercise_stats WHERE user_id = p_user_id;
    DELETE FROM user_covered_days WHERE user_id = p_user_id;
    DELETE FROM exports WHERE user_id = p_user_id;
    GET DIAGNOSTICS deleted_exports = ROW_COUNT;
    -- The profile row stays (it holds the timezone preference and the lock); its figures go to zero, and
    -- the next attempt that names a timezone sets it, however old.
    UPDATE user_profiles
       SET current_streak = 0, longest_streak = 0, last_practice_date = NULL, first_practice_date = NULL,
           practice_days = 0, total_attempts = 0, correct_attempts = 0, session_count = 0,
           session_nonempty_count = 0, session_exercises_sum = 0, session_accuracy_sum = 0,
           legacy_longest_streak = 0, streak_run_end = NULL, timezone_set_at = NULL,
           updated_at = now()
     WHERE user_id = p_user_id;
END
$fn$;
