-- Erasure (DELETE /progress/users/{user_id}, progress-admin erase): every row of one learner, in every
-- table, in one transaction; nothing of anyone else's. Unlike a reset, the profile and the learner's
-- settings go too. Answers what it removed per table (zeros the second time: idempotent) and the learner's
-- live connections, which the caller closes after the commit. tests/test_erasure.py enumerates the
-- schema's tables: a table with a user_id column that this function does not empty fails it. v2: the holds
-- of the learner's messages on their way to the DLQ (ingest_holds) too. v3 (Keeping a streak): the
-- learner's settings versions (user_settings), freeze grants, repairs and frozen days too. 0015 (signals):
-- the learner's signals (signal_outbox) and reminders settings (user_reminders) too.
CREATE OR REPLACE FUNCTION progress_erase_user_v3(p_user_id bigint, OUT deleted jsonb, OUT connection_ids text[])
LANGUAGE plpgsql AS $fn$
DECLARE
    n_profile bigint; n_attempts bigint; n_archived bigint; n_quarantined bigint; n_sessions bigint;
    n_covered bigint; n_daily bigint; n_exercise bigint; n_tickets bigint; n_exports bigint; n_holds bigint;
    n_settings bigint; n_grants bigint; n_repairs bigint; n_frozen bigint; n_signals bigint; n_reminders bigint;
BEGIN
    -- The profile row is the learner's lock, as for writers and reset: taken first (created when missing,
    -- so that a first write waiting on it cannot commit rows between the deletes below), removed last.
    INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
    GET DIAGNOSTICS n_profile = ROW_COUNT;  -- 1: the row is ours, not the learner's
    PERFORM 1 FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
    DELETE FROM attempts WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_attempts = ROW_COUNT;
    DELETE FROM attempts_archive WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_archived = ROW_COUNT;
    DELETE FROM attempts_quarantine WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_quarantined = ROW_COUNT;
    DELETE FROM sessions WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_sessions = ROW_COUNT;
    DELETE FROM user_covered_days WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_covered = ROW_COUNT;
    DELETE FROM user_daily_stats WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_daily = ROW_COUNT;
    DELETE FROM user_exercise_stats WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_exercise = ROW_COUNT;
    DELETE FROM live_tickets WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_tickets = ROW_COUNT;
    WITH gone AS (DELETE FROM live_connections c WHERE c.user_id = p_user_id RETURNING c.connection_id)
    SELECT coalesce(array_agg(gone.connection_id ORDER BY gone.connection_id), '{}') INTO connection_ids FROM gone;
    DELETE FROM exports WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_exports = ROW_COUNT;
    DELETE FROM ingest_holds WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_holds = ROW_COUNT;
    DELETE FROM user_settings WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_settings = ROW_COUNT;
    DELETE FROM freeze_grants WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_grants = ROW_COUNT;
    DELETE FROM streak_repairs WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_repairs = ROW_COUNT;
    DELETE FROM user_frozen_days WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_frozen = ROW_COUNT;
    DELETE FROM signal_outbox WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_signals = ROW_COUNT;
    DELETE FROM user_reminders WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_reminders = ROW_COUNT;
    DELETE FROM user_profiles WHERE user_id = p_user_id;
    deleted := jsonb_build_object(
        'profile', 1 - n_profile,
        'attempts', n_attempts,
        'archived_attempts', n_archived,
        'quarantined_attempts', n_quarantined,
        'sessions', n_sessions,
        'covered_days', n_covered,
        'daily_totals', n_daily,
        'exercise_totals', n_exercise,
        'live_tickets', n_tickets,
        'live_connections', cardinality(connection_ids),
        'exports', n_exports,
        'held_messages', n_holds,
        'settings_versions', n_settings,
        'freeze_grants', n_grants,
        'repairs', n_repairs,
        'frozen_days', n_frozen,
        'signals', n_signals,
        'reminders', n_reminders);
END
$fn$;
