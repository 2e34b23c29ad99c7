-- Reset: everything of one user, nothing of anyone else's, in one statement. v2: the learner's exports
-- too (deleted_exports: the caller then deletes their objects, after the commit). v3: the learner's live
-- tickets and connections too (connection_ids: the caller closes them at API Gateway, after the commit,
-- so the learner's open pages learn of the reset and a ticket issued before it opens nothing). v4 (Keeping
-- a streak): the learner's freeze grants, repairs and frozen days too, and the profile's walk checkpoint
-- back to its defaults (no freezes held, a perfect run, starter freezes not given, no break), so the next
-- first attempt gives the starter freezes again, and has_grants false (no grant is left); the settings
-- versions (user_settings) and has_settings stay: a reset keeps the learner's settings (docs/design.md).
-- The answer is v3's. 0015 (signals): the learner's signals go too (the reminders settings stay, like the
-- other settings), the pause ends and nothing is due until the next attempt.
CREATE OR REPLACE FUNCTION progress_reset_user_v4(
    p_user_id bigint, OUT deleted_attempts bigint, OUT deleted_archived bigint, OUT deleted_sessions bigint,
    OUT deleted_exports bigint, OUT connection_ids text[]
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
    DELETE FROM freeze_grants WHERE user_id = p_user_id;
    DELETE FROM streak_repairs WHERE user_id = p_user_id;
    DELETE FROM user_frozen_days WHERE user_id = p_user_id;
    DELETE FROM signal_outbox WHERE user_id = p_user_id;
    DELETE FROM exports WHERE user_id = p_user_id;
    GET DIAGNOSTICS deleted_exports = ROW_COUNT;
    DELETE FROM live_tickets WHERE user_id = p_user_id;
    WITH gone AS (DELETE FROM live_connections c WHERE c.user_id = p_user_id RETURNING c.connection_id)
    SELECT coalesce(array_agg(gone.connection_id ORDER BY gone.connection_id), '{}') INTO connection_ids FROM gone;
    -- The profile row stays (it holds the timezone preference and the lock); its figures go to zero, its
    -- walk checkpoint to the column defaults, and the next attempt that names a timezone sets it, however
    -- old. The settings versions stay (not deleted above).
    UPDATE user_profiles
       SET current_streak = 0, longest_streak = 0, last_practice_date = NULL, first_practice_date = NULL,
           practice_days = 0, total_attempts = 0, correct_attempts = 0, session_count = 0,
           session_nonempty_count = 0, session_exercises_sum = 0, session_accuracy_sum = 0,
           legacy_longest_streak = 0, streak_run_end = NULL, timezone_set_at = NULL,
           freezes = '{}', run_perfect = true, starter_given = false, break_from = NULL, break_to = NULL,
           break_run = NULL, has_grants = false, weekly_chain = 0, weekly_chain_week = NULL,
           next_signal_at = NULL, reminders_paused = '{}',
           updated_at = now()
     WHERE user_id = p_user_id;
END
$fn$;
