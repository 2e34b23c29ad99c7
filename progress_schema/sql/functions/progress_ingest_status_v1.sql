-- GET /progress's data_complete_through and streak_status at the instant p_now (called in the same
-- statement as the read function: one round trip). streak_status: NULL without history, 'active' when the
-- current streak is at least 1, else 'pending' while the day that ended the last run (the first missed day
-- after it) is not settled (a message for it may still be in the queue), else 'broken'.
CREATE OR REPLACE FUNCTION progress_ingest_status_v1(p_user_id bigint, p_now timestamptz) RETURNS json
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    p user_profiles;
    complete timestamptz := progress_complete_through(p_user_id);
    streak json;
    run_end date;
    today date;
    status text;
BEGIN
    SELECT * INTO p FROM user_profiles WHERE user_id = p_user_id;
    IF FOUND AND p.practice_days > 0 THEN
        streak := progress_streak_at(p, p_now);
        today := (streak->>'today')::date;
        IF (streak->>'current_streak')::integer > 0 THEN
            status := 'active';
        ELSE
            run_end := p.streak_run_end;
            IF run_end IS NULL OR run_end > today THEN
                SELECT r.run_end INTO run_end FROM progress_streak_runs(p_user_id, today) r;
            END IF;
            IF run_end IS NOT NULL THEN
                status := CASE WHEN progress_day_settled(run_end + 1, streak->>'timezone', complete)
                               THEN 'broken' ELSE 'pending' END;
            END IF;
        END IF;
    END IF;
    RETURN json_build_object('data_complete_through', complete, 'streak_status', status);
END
$fn$;
