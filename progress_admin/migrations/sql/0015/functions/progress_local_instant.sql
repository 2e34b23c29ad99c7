-- The instant of a local wall time in a zone, DST-correct for signals (docs/signals.md): a time in the
-- spring gap moves forward by the gap (PostgreSQL reads it with the offset before the change), and in the
-- repeated hour of the fall it is the first one (PostgreSQL reads the second: an earlier instant by the
-- change, 1 h or Lord Howe's 30 min, that shows the same wall time is taken instead).
CREATE OR REPLACE FUNCTION progress_local_instant(p_local timestamp, p_zone text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    t timestamptz := p_local AT TIME ZONE p_zone;
BEGIN
    IF ((t - interval '1 hour') AT TIME ZONE p_zone) = p_local THEN
        RETURN t - interval '1 hour';
    ELSIF ((t - interval '30 minutes') AT TIME ZONE p_zone) = p_local THEN
        RETURN t - interval '30 minutes';
    END IF;
    RETURN t;
END
$fn$;
