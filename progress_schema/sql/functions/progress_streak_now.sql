-- The streak figures of one profile at the instant p_now, for every read: progress_streak_state's JSON
-- (docs/design.md "Streaks" and "Keeping a streak"; docs/streaks.md step 4). Never writes. Inlined where it
-- is called.
CREATE OR REPLACE FUNCTION progress_streak_now(p user_profiles, p_now timestamptz) RETURNS json
LANGUAGE sql STABLE AS $fn$
    SELECT (progress_streak_state(p, p_now)).figures
$fn$;
