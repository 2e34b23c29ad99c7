-- The export of one learner's data (docs/export.md): JSON Lines, one page of one kind per call, in keyset
-- order, so the worker's memory stays flat whatever the history. p_kind 0 is the manifest (format version,
-- counts per kind, generated_at); 1.. are the kinds below, each read after the key (p_after_at, p_after_id)
-- the previous page ended at (NULL: from the start). The answer names the next call: next_kind NULL means
-- the export is complete. Called inside one REPEATABLE READ transaction, so the counts of the manifest and
-- the rows of every page come from one snapshot (archival cannot move a row between two pages).
-- Keys: attempts and archived attempts (created_at, id), on their user indexes; quarantined attempts and
-- sessions id; days as the number of days since 1970-01-01; exercise totals exercise_id.
-- v2: covered days say which ingest incident covered them (incident_id, null for an operator's cover); a kind
-- 9, held_message: the learner's attempts whose messages are on their way to the DLQ (ingest_holds), all in
-- one page (a learner has as many as messages of theirs wait in the DLQ: a handful).
-- v3 (Keeping a streak): kinds 10 settings_version (user_settings, key effective_from as days since
-- 1970-01-01), 11 freeze_grant (freeze_grants, key id) and 12 repair (streak_repairs, key id). The frozen days
-- (user_frozen_days) and the profile's streak checkpoint are derived from these and the days: not exported.
-- v4 (signals): kinds 13 reminder_settings (user_reminders, 0 or 1 line, in one page: the learner's reminders
-- as GET /progress/settings shows them, progress_reminders_document, and updated_at) and 14 signal
-- (signal_outbox, key id). The settings_version line's `reminders` is user_settings.reminders, a column no
-- writer sets (reminders are kept apart, in user_reminders, since 0015): always null, kept so that no field
-- of format version 1 goes away. The profile's next_signal_at and reminders_paused are derived (from the
-- state and the signals): not exported.
-- Each line is row_to_json of a row whose columns are the line's fields, in order ("type" first).
CREATE OR REPLACE FUNCTION progress_export_page_v4(
    p_user_id bigint, p_kind integer, p_after_at timestamptz, p_after_id bigint, p_limit integer,
    OUT next_kind integer, OUT next_at timestamptz, OUT next_id bigint, OUT line_count integer, OUT lines text
)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    after_at timestamptz := coalesce(p_after_at, '-infinity');
    after_id bigint := coalesce(p_after_id, -9223372036854775808);
    after_day date;  -- the day kinds' key (days since 1970-01-01), set by their branches only
    last_kind CONSTANT integer := 14;
    weekdays CONSTANT text[] := ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
BEGIN
    IF p_kind = 0 THEN
        SELECT row_to_json(m)::text, 1 INTO lines, line_count
          FROM (SELECT 'manifest' AS type, 'progress-export' AS format, 1 AS format_version,
                       p_user_id AS user_id, now() AS generated_at,
                       (SELECT row_to_json(c) FROM (SELECT
                           (SELECT count(*) FROM user_profiles WHERE user_id = p_user_id) AS profile,
                           (SELECT count(*) FROM attempts WHERE user_id = p_user_id) AS attempt,
                           (SELECT count(*) FROM attempts_archive WHERE user_id = p_user_id) AS archived_attempt,
                           (SELECT count(*) FROM attempts_quarantine WHERE user_id = p_user_id)
                               AS quarantined_attempt,
                           (SELECT count(*) FROM sessions WHERE user_id = p_user_id) AS session,
                           (SELECT count(*) FROM user_covered_days WHERE user_id = p_user_id) AS covered_day,
                           (SELECT count(*) FROM user_daily_stats WHERE user_id = p_user_id) AS daily_total,
                           (SELECT count(*) FROM user_exercise_stats WHERE user_id = p_user_id) AS exercise_total,
                           (SELECT count(*) FROM ingest_holds WHERE user_id = p_user_id) AS held_message,
                           (SELECT count(*) FROM user_settings WHERE user_id = p_user_id) AS settings_version,
                           (SELECT count(*) FROM freeze_grants WHERE user_id = p_user_id) AS freeze_grant,
                           (SELECT count(*) FROM streak_repairs WHERE user_id = p_user_id) AS repair,
                           (SELECT count(*) FROM user_reminders WHERE user_id = p_user_id) AS reminder_settings,
                           (SELECT count(*) FROM signal_outbox WHERE user_id = p_user_id) AS signal
                       ) c) AS counts) m;
    ELSIF p_kind = 1 THEN
        SELECT row_to_json(r)::text, 1 INTO lines, line_count
          FROM (SELECT 'profile' AS type, p.user_id, p.timezone, p.timezone_set_at, p.total_attempts,
                       p.correct_attempts, p.practice_days, p.first_practice_date, p.last_practice_date,
                       p.longest_streak, p.legacy_longest_streak, p.created_at, p.updated_at
                  FROM user_profiles p WHERE p.user_id = p_user_id) r;
    ELSIF p_kind = 2 THEN
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.created_at, r.id),
               max(r.created_at), (array_agg(r.id ORDER BY r.created_at DESC, r.id DESC))[1]
          INTO line_count, lines, next_at, next_id
          FROM (SELECT 'attempt' AS type, a.id, a.attempt_uid, a.exercise_id, a.is_correct, a.user_answer,
                       a.created_at, a.local_day AS practice_day, a.session_id
                  FROM attempts a
                 WHERE a.user_id = p_user_id AND (a.created_at, a.id) > (after_at, after_id)
                 ORDER BY a.created_at, a.id
                 LIMIT p_limit) r;
    ELSIF p_kind = 3 THEN
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.created_at, r.id),
               max(r.created_at), (array_agg(r.id ORDER BY r.created_at DESC, r.id DESC))[1]
          INTO line_count, lines, next_at, next_id
          FROM (SELECT 'archived_attempt' AS type, a.id, a.attempt_uid, a.exercise_id, a.is_correct,
                       a.user_answer, a.created_at, a.local_day AS practice_day, a.session_id, a.archived_at
                  FROM attempts_archive a
                 WHERE a.user_id = p_user_id AND a.created_at >= after_at
                   AND (a.created_at, a.id) > (after_at, after_id)
                 ORDER BY a.created_at, a.id
                 LIMIT p_limit) r;
    ELSIF p_kind = 4 THEN
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.id), max(r.id)
          INTO line_count, lines, next_id
          FROM (SELECT 'quarantined_attempt' AS type, q.id, q.attempt_uid, q.exercise_id, q.is_correct,
                       q.user_answer, q.created_at, q.local_day AS practice_day, q.session_id, q.quarantined_at
                  FROM attempts_quarantine q
                 WHERE q.user_id = p_user_id AND q.id > after_id
                 ORDER BY q.id
                 LIMIT p_limit) r;
    ELSIF p_kind = 5 THEN
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.id), max(r.id)
          INTO line_count, lines, next_id
          FROM (SELECT 'session' AS type, s.id, s.started_at, s.ended_at, s.total_exercises, s.correct_answers
                  FROM sessions s
                 WHERE s.user_id = p_user_id AND s.id > after_id
                 ORDER BY s.id
                 LIMIT p_limit) r;
    ELSIF p_kind = 6 THEN
        after_day := coalesce(DATE '1970-01-01' + p_after_id::integer, '-infinity');
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.day), max(r.day) - DATE '1970-01-01'
          INTO line_count, lines, next_id
          FROM (SELECT 'covered_day' AS type, c.day, c.reason, c.covered_at, c.incident_id
                  FROM user_covered_days c
                 WHERE c.user_id = p_user_id AND c.day > after_day
                 ORDER BY c.day
                 LIMIT p_limit) r;
    ELSIF p_kind = 7 THEN
        after_day := coalesce(DATE '1970-01-01' + p_after_id::integer, '-infinity');
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.day), max(r.day) - DATE '1970-01-01'
          INTO line_count, lines, next_id
          FROM (SELECT 'daily_total' AS type, d.day, d.attempts, d.correct
                  FROM user_daily_stats d
                 WHERE d.user_id = p_user_id AND d.day > after_day
                 ORDER BY d.day
                 LIMIT p_limit) r;
    ELSIF p_kind = 8 THEN
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.exercise_id), max(r.exercise_id)
          INTO line_count, lines, next_id
          FROM (SELECT 'exercise_total' AS type, x.exercise_id, x.attempts, x.correct, x.last_attempt_at
                  FROM user_exercise_stats x
                 WHERE x.user_id = p_user_id AND x.exercise_id > after_id
                 ORDER BY x.exercise_id
                 LIMIT p_limit) r;
    ELSIF p_kind = 9 THEN
        -- few rows (a message held is one on its way to the DLQ): one page, in time order
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.held_from, r.attempt_uid)
          INTO line_count, lines
          FROM (SELECT 'held_message' AS type, h.attempt_uid, h.held_from, h.message_id, h.receive_count,
                       h.reason, h.created_at
                  FROM ingest_holds h
                 WHERE h.user_id = p_user_id) r;
    ELSIF p_kind = 10 THEN
        -- as GET /progress/settings names them: weekdays by name, the daily goal null when the learner chose
        -- none (the deployment's DAILY_GOAL applies)
        after_day := coalesce(DATE '1970-01-01' + p_after_id::integer, '-infinity');
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.effective_from),
               max(r.effective_from) - DATE '1970-01-01'
          INTO line_count, lines, next_id
          FROM (SELECT 'settings_version' AS type, s.effective_from,
                       ARRAY(SELECT weekdays[d] FROM unnest(s.rest_weekdays) AS d ORDER BY d) AS rest_weekdays,
                       s.day_start_minutes,
                       (SELECT row_to_json(g)
                          FROM (SELECT s.daily_goal_unit AS unit, s.daily_goal_target AS target) g
                         WHERE s.daily_goal_unit IS NOT NULL) AS daily_goal,
                       s.weekly_goal_days, weekdays[s.week_start] AS week_start, s.reminders, s.changed_at
                  FROM user_settings s
                 WHERE s.user_id = p_user_id AND s.effective_from > after_day
                 ORDER BY s.effective_from
                 LIMIT p_limit) r;
    ELSIF p_kind = 11 THEN
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.id), max(r.id)
          INTO line_count, lines, next_id
          FROM (SELECT 'freeze_grant' AS type, g.id, g.grant_key AS key, g.source, g.requested, g.added,
                       g.freezes_held, g.freezes_max, g.local_day AS day, g.created_at
                  FROM freeze_grants g
                 WHERE g.user_id = p_user_id AND g.id > after_id
                 ORDER BY g.id
                 LIMIT p_limit) r;
    ELSIF p_kind = 12 THEN
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.id), max(r.id)
          INTO line_count, lines, next_id
          FROM (SELECT 'repair' AS type, sr.id, sr.gap_from, sr.gap_to, sr.attempts_done, sr.created_at
                  FROM streak_repairs sr
                 WHERE sr.user_id = p_user_id AND sr.id > after_id
                 ORDER BY sr.id
                 LIMIT p_limit) r;
    ELSIF p_kind = 13 THEN
        -- one row a learner at most (user_reminders' key): one page
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n')
          INTO line_count, lines
          FROM (SELECT 'reminder_settings' AS type, progress_reminders_document(u.settings) AS reminders,
                       u.updated_at
                  FROM user_reminders u
                 WHERE u.user_id = p_user_id) r;
    ELSIF p_kind = 14 THEN
        SELECT count(*), string_agg(row_to_json(r)::text, E'\n' ORDER BY r.id), max(r.id)
          INTO line_count, lines, next_id
          FROM (SELECT 'signal' AS type, o.id, o.kind, o.local_day, o.due_at, o.created_at, o.detail, o.status,
                       o.suppressed_reason, o.published_at, o.publish_attempts
                  FROM signal_outbox o
                 WHERE o.user_id = p_user_id AND o.id > after_id
                 ORDER BY o.id
                 LIMIT p_limit) r;
    ELSE
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'no such export kind';
    END IF;
    line_count := coalesce(line_count, 0);
    IF p_kind BETWEEN 2 AND last_kind AND p_kind NOT IN (9, 13) AND line_count = p_limit THEN
        next_kind := p_kind;  -- the kind may go on: read after this page's last key
    ELSE
        next_kind := CASE WHEN p_kind < last_kind THEN p_kind + 1 END;
        next_at := NULL;
        next_id := NULL;
    END IF;
END
$fn$;
