-- Any change to sessions (from attempts, a reset, or a legacy writer) moves the profile's session sums.
CREATE OR REPLACE FUNCTION progress_sessions_changed() RETURNS trigger
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
