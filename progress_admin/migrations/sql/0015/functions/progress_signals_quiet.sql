-- A signal's due instant moved out of the learner's quiet hours (reminders.quiet_hours {"from", "to"} local
-- "HH:MM", wrapping midnight when from > to): a due instant inside them moves to their end (the next local
-- `to`, DST-correct). NULL quiet hours, or from = to: unchanged.
CREATE OR REPLACE FUNCTION progress_signals_quiet(p_due timestamptz, p_zone text, p_quiet jsonb)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    local_due timestamp := p_due AT TIME ZONE p_zone;
    t time := local_due::time;
    q_from time;
    q_to time;
BEGIN
    IF p_quiet IS NULL OR jsonb_typeof(p_quiet) <> 'object' THEN
        RETURN p_due;
    END IF;
    q_from := (p_quiet ->> 'from')::time;
    q_to := (p_quiet ->> 'to')::time;
    IF q_from = q_to THEN
        RETURN p_due;
    ELSIF q_from < q_to AND t >= q_from AND t < q_to THEN
        RETURN progress_local_instant(local_due::date + q_to, p_zone);
    ELSIF q_from > q_to AND t >= q_from THEN
        RETURN progress_local_instant(local_due::date + 1 + q_to, p_zone);
    ELSIF q_from > q_to AND t < q_to THEN
        RETURN progress_local_instant(local_due::date + q_to, p_zone);
    END IF;
    RETURN p_due;
END
$fn$;
