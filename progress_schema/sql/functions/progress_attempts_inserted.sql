-- AFTER INSERT ON attempts, once per statement: fold the new rows into every aggregate.
CREATE OR REPLACE FUNCTION progress_attempts_inserted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    users_with_new_days bigint[];
    first_new_days date[];
BEGIN
    -- Profiles first, in user_id order: this row lock is what serializes one user's writers.
    INSERT INTO user_profiles (user_id)
    SELECT DISTINCT user_id FROM new_rows ORDER BY user_id
    ON CONFLICT (user_id) DO NOTHING;
    PERFORM 1 FROM user_profiles
     WHERE user_id IN (SELECT user_id FROM new_rows)
     ORDER BY user_id
       FOR UPDATE;

    -- Sessions: a new session belongs to the user of its first attempt. Claim each new one with an insert
    -- that does nothing on conflict (it waits for a concurrent claim of the same id to commit or roll back);
    -- the check below is a new statement, so under READ COMMITTED it sees a claim committed meanwhile.
    INSERT INTO sessions (id, user_id, started_at, ended_at)
    SELECT DISTINCT ON (session_id) session_id, user_id, created_at, created_at
      FROM new_rows
     WHERE session_id IS NOT NULL
     ORDER BY session_id, created_at, id
    ON CONFLICT (id) DO NOTHING;
    IF EXISTS (
        SELECT 1 FROM new_rows n LEFT JOIN sessions s ON s.id = n.session_id
         WHERE n.session_id IS NOT NULL AND s.user_id IS DISTINCT FROM n.user_id
    ) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PR001',
            MESSAGE = 'an attempt names a session that belongs to another user';
    END IF;

    WITH per_day AS (
        -- the practice day fixed when each attempt was written (see progress_attempt_local_day)
        SELECT user_id, local_day AS day,
               count(*)::int AS attempts, (count(*) FILTER (WHERE is_correct))::int AS correct
          FROM new_rows
         GROUP BY 1, 2
    ), upserted AS (
        INSERT INTO user_daily_stats AS s (user_id, day, attempts, correct)
        SELECT user_id, day, attempts, correct FROM per_day ORDER BY user_id, day
        ON CONFLICT (user_id, day) DO UPDATE
           SET attempts = s.attempts + EXCLUDED.attempts,
               correct = s.correct + EXCLUDED.correct
        RETURNING s.user_id, s.day, (xmax = 0) AS inserted
    )
    SELECT array_agg(n.user_id ORDER BY n.user_id), array_agg(n.first_new_day ORDER BY n.user_id)
      INTO users_with_new_days, first_new_days
      FROM (SELECT user_id, min(day) AS first_new_day FROM upserted WHERE inserted GROUP BY user_id) n;

    INSERT INTO user_exercise_stats AS s (user_id, exercise_id, attempts, correct, last_attempt_at)
    SELECT user_id, exercise_id, count(*)::int, (count(*) FILTER (WHERE is_correct))::int, max(created_at)
      FROM new_rows
     GROUP BY user_id, exercise_id
     ORDER BY user_id, exercise_id
    ON CONFLICT (user_id, exercise_id) DO UPDATE
       SET attempts = s.attempts + EXCLUDED.attempts,
           correct = s.correct + EXCLUDED.correct,
           last_attempt_at = GREATEST(s.last_attempt_at, EXCLUDED.last_attempt_at);

    -- Sessions are kept from attempts (all of them this user's, checked above); the sessions trigger folds
    -- them into the profile.
    UPDATE sessions s
       SET started_at = LEAST(s.started_at, t.first_at),
           ended_at = GREATEST(s.ended_at, t.last_at),
           total_exercises = s.total_exercises + t.attempts,
           correct_answers = s.correct_answers + t.correct
      FROM (SELECT session_id, min(created_at) AS first_at, max(created_at) AS last_at,
                   count(*)::int AS attempts, (count(*) FILTER (WHERE is_correct))::int AS correct
              FROM new_rows
             WHERE session_id IS NOT NULL
             GROUP BY session_id) t
     WHERE s.id = t.session_id;

    UPDATE user_profiles p
       SET total_attempts = p.total_attempts + t.attempts,
           correct_attempts = p.correct_attempts + t.correct,
           -- practice ends every pause of the learner's signals (docs/signals.md)
           reminders_paused = '{}',
           updated_at = now()
      FROM (SELECT user_id, count(*) AS attempts, count(*) FILTER (WHERE is_correct) AS correct
              FROM new_rows GROUP BY user_id) t
     WHERE p.user_id = t.user_id;

    IF users_with_new_days IS NOT NULL THEN
        -- from each user's first new day: usually after the walk's checkpoint, so only the new days are walked
        FOR i IN 1..cardinality(users_with_new_days) LOOP
            PERFORM progress_refresh_day_summary(users_with_new_days[i], first_new_days[i]);
        END LOOP;
    END IF;
    RETURN NULL;
END
$fn$;
