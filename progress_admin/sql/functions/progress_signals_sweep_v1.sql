-- The sweep's signals step (docs/signals.md "Signals"), one statement: the learners due at p_now, found by
-- the index on user_profiles.next_signal_at (never a scan of profiles), at most p_limit, oldest due first,
-- locked FOR UPDATE SKIP LOCKED (an overlapping sweep takes others; a learner's writer waits only for this
-- short transaction). For each: the signals due (progress_signals_plan) are written to the outbox unless the
-- kind is off or paused (ON CONFLICT DO NOTHING on (user_id, kind, local_day): each once), the kinds paused
-- are kept on the profile (reminders_paused, for GET) and next_signal_at is set to the next due instant.
-- Pause: a kind pauses when 3 signals of it written since the learner's last attempt have each had 2 h
-- without practice; any practice ends it (the write path clears reminders_paused, and the count restarts).
-- Returns {"evaluated", "written", "skipped_off", "skipped_paused", "more"}.
CREATE OR REPLACE FUNCTION progress_signals_sweep_v1(p_now timestamptz, p_limit integer) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    prof user_profiles;
    reminders jsonb;
    plan record;
    c jsonb;
    last_attempt timestamptz;
    paused text[];
    evaluated integer := 0;
    written integer := 0;
    skipped_off integer := 0;
    skipped_paused integer := 0;
    n integer;
BEGIN
    FOR prof IN
        SELECT p.* FROM user_profiles p
         WHERE p.next_signal_at <= p_now
         ORDER BY p.next_signal_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        evaluated := evaluated + 1;
        reminders := progress_reminders_document(
            (SELECT r.settings FROM user_reminders r WHERE r.user_id = prof.user_id));
        SELECT a.created_at INTO last_attempt FROM attempts a
         WHERE a.user_id = prof.user_id ORDER BY a.created_at DESC, a.id DESC LIMIT 1;
        paused := ARRAY(
            SELECT o.kind FROM signal_outbox o
             WHERE o.user_id = prof.user_id AND o.status <> 'suppressed'
               AND o.due_at > coalesce(last_attempt, '-infinity') AND o.due_at + interval '2 hours' <= p_now
             GROUP BY o.kind HAVING count(*) >= 3 ORDER BY o.kind);
        SELECT * INTO plan FROM progress_signals_plan(prof, p_now, reminders);
        FOR c IN SELECT * FROM jsonb_array_elements(plan.due) LOOP
            IF NOT (reminders -> 'kinds' ->> (c ->> 'kind'))::boolean THEN
                skipped_off := skipped_off + 1;
            ELSIF (c ->> 'kind') = ANY (paused) THEN
                skipped_paused := skipped_paused + 1;
            ELSE
                INSERT INTO signal_outbox (user_id, kind, local_day, due_at, detail, created_at)
                VALUES (prof.user_id, c ->> 'kind', (c ->> 'local_day')::date, (c ->> 'due_at')::timestamptz,
                        c -> 'detail', p_now)
                ON CONFLICT (user_id, kind, local_day) DO NOTHING;
                GET DIAGNOSTICS n = ROW_COUNT;
                written := written + n;
            END IF;
        END LOOP;
        UPDATE user_profiles p
           SET next_signal_at = plan.next_at, reminders_paused = paused
         WHERE p.user_id = prof.user_id;
    END LOOP;
    RETURN json_build_object('evaluated', evaluated, 'written', written, 'skipped_off', skipped_off,
                             'skipped_paused', skipped_paused, 'more', evaluated = p_limit);
END
$fn$;
