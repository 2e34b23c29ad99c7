-- BEFORE INSERT ON attempts, for rows that arrive without a local day (a legacy plain-SQL insert, the
-- importer's old path): the practice day is fixed now, in the timezone the profile holds at this moment
-- (UTC when the user has no profile yet), less the learner's day start (progress_local_day). progress_record_attempts_v2 computes the day itself.
CREATE OR REPLACE FUNCTION progress_attempt_local_day() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.local_day := progress_local_day(NEW.user_id, NEW.created_at, coalesce(
        (SELECT p.timezone FROM user_profiles p WHERE p.user_id = NEW.user_id), 'UTC'));
    RETURN NEW;
END
$fn$;
