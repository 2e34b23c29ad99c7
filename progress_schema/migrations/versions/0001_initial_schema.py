"""Initial schema: attempts, sessions, profiles, archive, aggregates and the triggers that keep them.

Aggregates are maintained by statement-level triggers on `attempts` and `sessions`, so they stay right
whoever writes: the SQS consumer, the shared layer, the importer, or a legacy service that inserts
straight into `attempts` with plain SQL. Moving rows to `attempts_archive` fires nothing, so archival
changes no figure. Writes that touch a user lock that user's `user_profiles` row first (in user_id order),
which serializes concurrent writers of one user without lost updates or deadlocks.

No `%` and no `:name` appear in this SQL: it goes through SQLAlchemy text() to pg8000 (format paramstyle).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE user_profiles (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL UNIQUE CHECK (user_id >= 0),
    -- length of the run of practice days that ends at last_practice_date; "today" is applied at read time
    current_streak integer NOT NULL DEFAULT 0 CHECK (current_streak >= 0),
    longest_streak integer NOT NULL DEFAULT 0 CHECK (longest_streak >= current_streak),
    last_practice_date date,
    timezone text NOT NULL DEFAULT 'UTC',
    first_practice_date date,
    practice_days integer NOT NULL DEFAULT 0 CHECK (practice_days >= 0),
    total_attempts bigint NOT NULL DEFAULT 0 CHECK (total_attempts >= 0),
    correct_attempts bigint NOT NULL DEFAULT 0 CHECK (correct_attempts BETWEEN 0 AND total_attempts),
    session_count bigint NOT NULL DEFAULT 0,
    session_nonempty_count bigint NOT NULL DEFAULT 0,
    session_exercises_sum bigint NOT NULL DEFAULT 0,
    session_accuracy_sum double precision NOT NULL DEFAULT 0,
    -- a longest streak carried over from the old JSON files, kept when longer than the history shows
    legacy_longest_streak integer NOT NULL DEFAULT 0 CHECK (legacy_longest_streak >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL CHECK (user_id >= 0),
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    total_exercises integer NOT NULL DEFAULT 0 CHECK (total_exercises >= 0),
    correct_answers integer NOT NULL DEFAULT 0 CHECK (correct_answers BETWEEN 0 AND total_exercises)
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE attempts (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL CHECK (user_id >= 0),
    exercise_id bigint NOT NULL,
    is_correct boolean NOT NULL,
    user_answer text NOT NULL DEFAULT '' CHECK (char_length(user_answer) <= 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- deferred: the trigger creates the session row at the end of the inserting statement
    session_id bigint REFERENCES sessions (id) DEFERRABLE INITIALLY DEFERRED,
    -- the client's key: a retried write counts once; legacy inserts get a fresh one
    attempt_uid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE
);
CREATE INDEX attempts_user_recent_idx ON attempts (user_id, created_at DESC, id DESC);
CREATE INDEX attempts_created_at_idx ON attempts (created_at, id);
CREATE INDEX attempts_session_id_idx ON attempts (session_id) WHERE session_id IS NOT NULL;

CREATE TABLE attempts_archive (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL,
    exercise_id bigint NOT NULL,
    is_correct boolean NOT NULL,
    user_answer text NOT NULL,
    created_at timestamptz NOT NULL,
    session_id bigint,
    attempt_uid uuid NOT NULL UNIQUE,
    archived_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attempts_archive_user_id_idx ON attempts_archive (user_id, created_at);

-- per user per local day (in the user's timezone)
CREATE TABLE user_daily_stats (
    user_id bigint NOT NULL,
    day date NOT NULL,
    attempts integer NOT NULL CHECK (attempts > 0),
    correct integer NOT NULL CHECK (correct BETWEEN 0 AND attempts),
    PRIMARY KEY (user_id, day)
);

-- per user per exercise
CREATE TABLE user_exercise_stats (
    user_id bigint NOT NULL,
    exercise_id bigint NOT NULL,
    attempts integer NOT NULL CHECK (attempts > 0),
    correct integer NOT NULL CHECK (correct BETWEEN 0 AND attempts),
    last_attempt_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, exercise_id)
);
"""

FUNCTIONS = r"""
-- Recompute the day-derived profile fields of one user from user_daily_stats.
-- Called only when a user gains a new practice day or changes timezone: O(practice days), not O(attempts).
CREATE FUNCTION progress_refresh_day_summary(p_user_id bigint) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    WITH days AS (
        SELECT day FROM user_daily_stats WHERE user_id = p_user_id
    ), runs AS (
        SELECT min(day) AS first_day, max(day) AS last_day, count(*)::int AS len
        FROM (SELECT day, day - (row_number() OVER (ORDER BY day))::int AS grp FROM days) numbered
        GROUP BY grp
    ), summary AS (
        SELECT (SELECT count(*)::int FROM days) AS practice_days,
               (SELECT min(day) FROM days) AS first_day,
               (SELECT max(day) FROM days) AS last_day,
               coalesce((SELECT len FROM runs ORDER BY last_day DESC LIMIT 1), 0) AS last_run,
               coalesce((SELECT max(len) FROM runs), 0) AS longest_run
    )
    UPDATE user_profiles p
       SET practice_days = s.practice_days,
           first_practice_date = s.first_day,
           last_practice_date = s.last_day,
           current_streak = s.last_run,
           longest_streak = GREATEST(s.longest_run, p.legacy_longest_streak),
           updated_at = now()
      FROM summary s
     WHERE p.user_id = p_user_id;
END
$fn$;

-- AFTER INSERT ON attempts, once per statement: fold the new rows into every aggregate.
CREATE FUNCTION progress_attempts_inserted() RETURNS trigger
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

CREATE TRIGGER attempts_maintain_aggregates
AFTER INSERT ON attempts
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION progress_attempts_inserted();

CREATE TYPE progress_session_delta AS (
    user_id bigint, sessions bigint, nonempty bigint, exercises bigint, accuracy double precision
);

CREATE FUNCTION progress_apply_session_delta(p_deltas progress_session_delta[]) RETURNS void
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

-- Any change to sessions (from attempts, a reset, or a legacy writer) moves the profile's session sums.
CREATE FUNCTION progress_sessions_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Each branch names only the transition tables its operation has.
    IF TG_OP = 'INSERT' THEN
        PERFORM progress_apply_session_delta(
            array_agg(ROW(d.user_id, d.sessions, d.nonempty, d.exercises, d.accuracy)::progress_session_delta)
        ) FROM (
            SELECT user_id, count(*) AS sessions, count(*) FILTER (WHERE total_exercises > 0) AS nonempty,
                   sum(total_exercises) AS exercises,
                   coalesce(sum(correct_answers::double precision / NULLIF(total_exercises, 0)), 0) AS accuracy
              FROM new_sessions GROUP BY user_id) d;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM progress_apply_session_delta(
            array_agg(ROW(d.user_id, d.sessions, d.nonempty, d.exercises, d.accuracy)::progress_session_delta)
        ) FROM (
            SELECT user_id, -count(*) AS sessions, -count(*) FILTER (WHERE total_exercises > 0) AS nonempty,
                   -sum(total_exercises) AS exercises,
                   -coalesce(sum(correct_answers::double precision / NULLIF(total_exercises, 0)), 0) AS accuracy
              FROM old_sessions GROUP BY user_id) d;
    ELSE
        PERFORM progress_apply_session_delta(
            array_agg(ROW(d.user_id, d.sessions, d.nonempty, d.exercises, d.accuracy)::progress_session_delta)
        ) FROM (
            SELECT user_id, sum(sessions) AS sessions, sum(nonempty) AS nonempty, sum(exercises) AS exercises,
                   sum(accuracy) AS accuracy
              FROM (SELECT user_id, 1 AS sessions, (total_exercises > 0)::int AS nonempty,
                           total_exercises AS exercises,
                           coalesce(correct_answers::double precision / NULLIF(total_exercises, 0), 0) AS accuracy
                      FROM new_sessions
                    UNION ALL
                    SELECT user_id, -1, -((total_exercises > 0)::int), -total_exercises,
                           -coalesce(correct_answers::double precision / NULLIF(total_exercises, 0), 0)
                      FROM old_sessions) both_sides
             GROUP BY user_id) d;
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER sessions_maintain_profile_ins
AFTER INSERT ON sessions REFERENCING NEW TABLE AS new_sessions
FOR EACH STATEMENT EXECUTE FUNCTION progress_sessions_changed();
CREATE TRIGGER sessions_maintain_profile_upd
AFTER UPDATE ON sessions REFERENCING OLD TABLE AS old_sessions NEW TABLE AS new_sessions
FOR EACH STATEMENT EXECUTE FUNCTION progress_sessions_changed();
CREATE TRIGGER sessions_maintain_profile_del
AFTER DELETE ON sessions REFERENCING OLD TABLE AS old_sessions
FOR EACH STATEMENT EXECUTE FUNCTION progress_sessions_changed();

-- Change a user's timezone and rebuild their per-day aggregates from live and archived attempts.
-- Returns true when the timezone changed. Raises 22023 for a name PostgreSQL does not know.
CREATE FUNCTION progress_set_timezone(p_user_id bigint, p_timezone text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    old_timezone text;
BEGIN
    PERFORM now() AT TIME ZONE p_timezone;
    INSERT INTO user_profiles (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
    SELECT timezone INTO old_timezone FROM user_profiles WHERE user_id = p_user_id FOR UPDATE;
    IF old_timezone = p_timezone THEN
        RETURN false;
    END IF;
    UPDATE user_profiles SET timezone = p_timezone, updated_at = now() WHERE user_id = p_user_id;
    DELETE FROM user_daily_stats WHERE user_id = p_user_id;
    INSERT INTO user_daily_stats (user_id, day, attempts, correct)
    SELECT p_user_id, (created_at AT TIME ZONE p_timezone)::date, count(*), count(*) FILTER (WHERE is_correct)
      FROM (SELECT created_at, is_correct FROM attempts WHERE user_id = p_user_id
            UNION ALL
            SELECT created_at, is_correct FROM attempts_archive WHERE user_id = p_user_id) every_attempt
     GROUP BY 2;
    PERFORM progress_refresh_day_summary(p_user_id);
    RETURN true;
END
$fn$;

-- The shared write path: insert a batch of attempts (a JSON array), each counted once by attempt_uid,
-- live or archived. One statement, so one transaction. Returns the uid and id of each row written.
-- Residual race: a retry arriving while archival moves its original (deleted from attempts, not yet
-- committed to attempts_archive) passes both checks. Retries come within SQS retention (days) and
-- archival takes rows older than the retention period (a year), so the two do not meet in practice.
CREATE FUNCTION progress_record_attempts(p_batch jsonb)
RETURNS TABLE (attempt_uid uuid, attempt_id bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    tz record;
BEGIN
    RETURN QUERY
    WITH incoming AS (
        SELECT DISTINCT ON (r.attempt_uid) r.*
          FROM jsonb_to_recordset(p_batch) AS r(
               attempt_uid uuid, user_id bigint, exercise_id bigint, is_correct boolean,
               user_answer text, created_at timestamptz, session_id bigint, timezone text, ord int)
         ORDER BY r.attempt_uid, r.ord
    ), inserted AS (
        INSERT INTO attempts AS a (attempt_uid, user_id, exercise_id, is_correct, user_answer, created_at, session_id)
        SELECT i.attempt_uid, i.user_id, i.exercise_id, i.is_correct, coalesce(i.user_answer, ''),
               coalesce(i.created_at, now()), i.session_id
          FROM incoming i
         WHERE NOT EXISTS (SELECT 1 FROM attempts_archive z WHERE z.attempt_uid = i.attempt_uid)
         ORDER BY i.ord
        ON CONFLICT ON CONSTRAINT attempts_attempt_uid_key DO NOTHING
        RETURNING a.attempt_uid, a.id
    )
    SELECT inserted.attempt_uid, inserted.id FROM inserted;

    -- After the insert, so the profile lock is taken in the same order as plain inserts take it.
    FOR tz IN
        SELECT DISTINCT ON (r.user_id) r.user_id, r.timezone
          FROM jsonb_to_recordset(p_batch) AS r(user_id bigint, timezone text, ord int)
         WHERE r.timezone IS NOT NULL
         ORDER BY r.user_id, r.ord DESC
    LOOP
        PERFORM progress_set_timezone(tz.user_id, tz.timezone);
    END LOOP;
END
$fn$;

-- Reset: everything of one user, nothing of anyone else's, in one statement.
CREATE FUNCTION progress_reset_user(
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
    -- The profile row stays (it holds the timezone preference and the lock); its figures go to zero.
    UPDATE user_profiles
       SET current_streak = 0, longest_streak = 0, last_practice_date = NULL, first_practice_date = NULL,
           practice_days = 0, total_attempts = 0, correct_attempts = 0, session_count = 0,
           session_nonempty_count = 0, session_exercises_sum = 0, session_accuracy_sum = 0,
           legacy_longest_streak = 0, updated_at = now()
     WHERE user_id = p_user_id;
END
$fn$;

-- Move up to p_batch_size attempts older than p_cutoff to the archive, in one statement.
-- SKIP LOCKED lets overlapping runs share the work; delete and insert commit together or not at all.
CREATE FUNCTION progress_archive_batch(p_cutoff timestamptz, p_batch_size integer) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    moved bigint;
BEGIN
    WITH picked AS (
        SELECT id FROM attempts
         WHERE created_at < p_cutoff
         ORDER BY created_at, id
         LIMIT p_batch_size
           FOR UPDATE SKIP LOCKED
    ), removed AS (
        DELETE FROM attempts a USING picked WHERE a.id = picked.id
        RETURNING a.id, a.user_id, a.exercise_id, a.is_correct, a.user_answer, a.created_at, a.session_id,
                  a.attempt_uid
    )
    INSERT INTO attempts_archive (id, user_id, exercise_id, is_correct, user_answer, created_at, session_id,
                                  attempt_uid)
    SELECT id, user_id, exercise_id, is_correct, user_answer, created_at, session_id, attempt_uid FROM removed;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END
$fn$;
"""

DROP_ALL = """
DROP FUNCTION IF EXISTS progress_archive_batch(timestamptz, integer);
DROP FUNCTION IF EXISTS progress_reset_user(bigint);
DROP FUNCTION IF EXISTS progress_record_attempts(jsonb);
DROP FUNCTION IF EXISTS progress_set_timezone(bigint, text);
DROP TABLE IF EXISTS user_exercise_stats, user_daily_stats, attempts_archive, attempts, sessions, user_profiles;
DROP FUNCTION IF EXISTS progress_sessions_changed();
DROP FUNCTION IF EXISTS progress_apply_session_delta(progress_session_delta[]);
DROP TYPE IF EXISTS progress_session_delta;
DROP FUNCTION IF EXISTS progress_attempts_inserted();
DROP FUNCTION IF EXISTS progress_refresh_day_summary(bigint);
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(DROP_ALL)
