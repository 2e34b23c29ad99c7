-- Repair, run by migration 0007 before it validates the created_at constraints (an operator may run it
-- again): attempts stored before those constraints existed with a time no read can show (before 2000,
-- from 2200 on, BC, infinity) move to attempts_quarantine, and every aggregate of their users is recounted
-- from the attempts that remain (a reset removes the quarantined rows too). One statement, so the move and
-- the recount commit together. Returns the number of attempts moved.
CREATE OR REPLACE FUNCTION progress_quarantine_unreadable_attempts() RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    affected bigint[];
    moved bigint;
    uid bigint;
BEGIN
    WITH live AS (
        DELETE FROM attempts
         WHERE created_at < TIMESTAMPTZ '2000-01-01 00:00 UTC' OR created_at >= TIMESTAMPTZ '2200-01-01 00:00 UTC'
        RETURNING id, user_id, exercise_id, is_correct, user_answer, created_at, session_id, attempt_uid, local_day
    ), archived AS (
        DELETE FROM attempts_archive
         WHERE created_at < TIMESTAMPTZ '2000-01-01 00:00 UTC' OR created_at >= TIMESTAMPTZ '2200-01-01 00:00 UTC'
        RETURNING id, user_id, exercise_id, is_correct, user_answer, created_at, session_id, attempt_uid, local_day
    ), kept AS (
        INSERT INTO attempts_quarantine (id, user_id, exercise_id, is_correct, user_answer, created_at, session_id,
                                         attempt_uid, local_day)
        SELECT * FROM live UNION ALL SELECT * FROM archived
        RETURNING user_id
    )
    SELECT array_agg(DISTINCT k.user_id ORDER BY k.user_id), count(*) INTO affected, moved FROM kept k;
    IF affected IS NULL THEN
        RETURN 0;
    END IF;

    PERFORM 1 FROM user_profiles WHERE user_id = ANY (affected) ORDER BY user_id FOR UPDATE;
    DELETE FROM user_daily_stats WHERE user_id = ANY (affected);
    INSERT INTO user_daily_stats (user_id, day, attempts, correct)
    SELECT r.user_id, r.local_day, count(*), count(*) FILTER (WHERE r.is_correct)
      FROM (SELECT user_id, local_day, is_correct FROM attempts WHERE user_id = ANY (affected)
            UNION ALL
            SELECT user_id, local_day, is_correct FROM attempts_archive WHERE user_id = ANY (affected)) r
     GROUP BY 1, 2;
    DELETE FROM user_exercise_stats WHERE user_id = ANY (affected);
    INSERT INTO user_exercise_stats (user_id, exercise_id, attempts, correct, last_attempt_at)
    SELECT r.user_id, r.exercise_id, count(*), count(*) FILTER (WHERE r.is_correct), max(r.created_at)
      FROM (SELECT user_id, exercise_id, is_correct, created_at FROM attempts WHERE user_id = ANY (affected)
            UNION ALL
            SELECT user_id, exercise_id, is_correct, created_at FROM attempts_archive
             WHERE user_id = ANY (affected)) r
     GROUP BY 1, 2;
    UPDATE user_profiles p
       SET total_attempts = t.attempts, correct_attempts = t.correct, updated_at = now()
      FROM (SELECT a.user_id, count(r.user_id) AS attempts, count(*) FILTER (WHERE r.is_correct) AS correct
              FROM unnest(affected) AS a(user_id)
              LEFT JOIN (SELECT user_id, is_correct FROM attempts WHERE user_id = ANY (affected)
                         UNION ALL
                         SELECT user_id, is_correct FROM attempts_archive WHERE user_id = ANY (affected)) r
                ON r.user_id = a.user_id
             GROUP BY a.user_id) t
     WHERE p.user_id = t.user_id;
    -- the sessions trigger moves the profiles' session sums by the difference
    UPDATE sessions s
       SET total_exercises = coalesce(c.attempts, 0), correct_answers = coalesce(c.correct, 0),
           started_at = coalesce(c.first_at, s.started_at), ended_at = coalesce(c.last_at, s.ended_at)
      FROM sessions mine
      LEFT JOIN (SELECT r.session_id, count(*)::int AS attempts, (count(*) FILTER (WHERE r.is_correct))::int AS correct,
                        min(r.created_at) AS first_at, max(r.created_at) AS last_at
                   FROM (SELECT session_id, is_correct, created_at FROM attempts
                          WHERE user_id = ANY (affected) AND session_id IS NOT NULL
                         UNION ALL
                         SELECT session_id, is_correct, created_at FROM attempts_archive
                          WHERE user_id = ANY (affected) AND session_id IS NOT NULL) r
                  GROUP BY r.session_id) c ON c.session_id = mine.id
     WHERE s.id = mine.id AND mine.user_id = ANY (affected);
    FOREACH uid IN ARRAY affected LOOP
        PERFORM progress_refresh_day_summary(uid);
    END LOOP;
    RETURN moved;
END
$fn$;
