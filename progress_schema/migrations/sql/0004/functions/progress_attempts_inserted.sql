-- AFTER INSERT ON attempts, once per statement: fold the new rows into every aggregate.
CREATE OR REPLACE FUNCTION progress_attempts_inserted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    users_with_new_days bigint[];
    uid bigint;
BEGIN
    -- Profiles first, in user_id order: this row lock is what serializes one user's writers.
    INSERT INTO user_profiles (user_id)
    SELECT DISTINCT user_id FROM new_rows ORDER BY user_id
    ON CONFLICT (user_id) DO NOTHING;
    PERFORM 1 FROM user_profiles
     WHERE user_id IN (SELECT user_id FROM new_rows)
     ORDER BY user_id
       FOR UPDATE;

    IF EXISTS (
        SELECT 1 FROM new_rows n JOIN sessions s ON s.id = n.session_id WHERE s.user_id <> n.user_id
    ) OR EXISTS (
        SELECT 1 FROM new_rows WHERE session_id IS NOT NULL
         GROUP BY session_id HAVING count(DISTINCT user_id) > 1
    ) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PR001',
            MESSAGE = 'an attempt names a session that belongs to another user';
    END IF;

    WITH per_day AS (
        SELECT n.user_id, (n.created_at AT TIME ZONE p.timezone)::date AS day,
               count(*)::int AS attempts, (count(*) FILTER (WHERE n.is_correct))::int AS correct
          FROM new_rows n JOIN user_profiles p ON p.user_id = n.user_id
         GROUP BY 1, 2
    ), upserted AS (
        INSERT INTO user_daily_stats AS s (user_id, day, attempts, correct)
        SELECT user_id, day, attempts, correct FROM per_day ORDER BY user_id, day
        ON CONFLICT (user_id, day) DO UPDATE
           SET attempts = s.attempts + EXCLUDED.attempts,
               correct = s.correct + EXCLUDED.correct
        RETURNING s.user_id, (xmax = 0) AS inserted
    )
    SELECT array_agg(DISTINCT user_id) INTO users_with_new_days FROM upserted WHERE inserted;

    INSERT INTO user_exercise_stats AS s (user_id, exercise_id, attempts, correct, last_attempt_at)
    SELECT user_id, exercise_id, count(*)::int, (count(*) FILTER (WHERE is_correct))::int, max(created_at)
      FROM new_rows
     GROUP BY user_id, exercise_id
     ORDER BY user_id, exercise_id
    ON CONFLICT (user_id, exercise_id) DO UPDATE
       SET attempts = s.attempts + EXCLUDED.attempts,
           correct = s.correct + EXCLUDED.correct,
           last_attempt_at = GREATEST(s.last_attempt_at, EXCLUDED.last_attempt_at);

    -- Sessions are kept from attempts; the sessions trigger folds them into the profile.
    INSERT INTO sessions AS s (id, user_id, started_at, ended_at, total_exercises, correct_answers)
    SELECT session_id, min(user_id), min(created_at), max(created_at),
           count(*)::int, (count(*) FILTER (WHERE is_correct))::int
      FROM new_rows
     WHERE session_id IS NOT NULL
     GROUP BY session_id
     ORDER BY session_id
    ON CONFLICT (id) DO UPDATE
       SET started_at = LEAST(s.started_at, EXCLUDED.started_at),
           ended_at = GREATEST(s.ended_at, EXCLUDED.ended_at),
           total_exercises = s.total_exercises + EXCLUDED.total_exercises,
           correct_answers = s.correct_answers + EXCLUDED.correct_answers;

    UPDATE user_profiles p
       SET total_attempts = p.total_attempts + t.attempts,
           correct_attempts = p.correct_attempts + t.correct,
           updated_at = now()
      FROM (SELECT user_id, count(*) AS attempts, count(*) FILTER (WHERE is_correct) AS correct
              FROM new_rows GROUP BY user_id) t
     WHERE p.user_id = t.user_id;

    IF users_with_new_days IS NOT NULL THEN
        FOREACH uid IN ARRAY users_with_new_days LOOP
            PERFORM progress_refresh_day_summary(uid);
        END LOOP;
    END IF;
    RETURN NULL;
END
$fn$;
