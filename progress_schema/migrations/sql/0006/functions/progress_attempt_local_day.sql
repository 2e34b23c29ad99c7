-- BEFORE INSERT ON attempts, for rows that arrive without a local day (a legacy plain-SQL insert, the
-- importer's old path): the practice day is fixed now, in the timezone the profile holds at this moment
-- (UTC when the user has no profile yet). progress_record_attempts_v2 computes the day itself.
CREATE OR REPLACE FUNCTION progress_attempt_local_day() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.local_day := (NEW.created_at AT TIME ZONE coalesce(
        (SELECT p.timezone FROM user_profiles p WHERE p.user_id = NEW.user_id), 'UTC'))::date;
    RETURN NEW;
END
$fn$;
