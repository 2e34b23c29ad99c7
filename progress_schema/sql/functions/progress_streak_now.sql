-- The streak figures of one profile at the instant p_now: progress_streak_state's JSON (docs/design.md
-- "Streaks" and "Keeping a streak"; docs/streaks.md step 4), for the callers that need only those. Never
-- writes.
CREATE OR REPLACE FUNCTION progress_streak_now(p user_profiles, p_now timestamptz) RETURNS json
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN (progress_streak_state(p, p_now)).figures;
END
$fn$;
