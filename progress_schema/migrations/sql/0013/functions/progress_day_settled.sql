-- Settled days (docs/signals.md): a local day is settled when the learner's ingest watermark (every message
-- the attempts queue accepted before it is folded in, progress_complete_through) has passed the day's end
-- plus LATE_GRACE_MINUTES (60): an attempt made before midnight may reach the queue a little after it.
-- The one definition of LATE_GRACE_MINUTES. NULL watermark (never established): nothing is settled.
CREATE OR REPLACE FUNCTION progress_day_settled(p_day date, p_zone text, p_complete_through timestamptz)
RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(p_complete_through >= ((p_day + 1)::timestamp AT TIME ZONE p_zone) + interval '60 minutes',
                    false)
$fn$;
