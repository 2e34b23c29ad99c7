-- Every attempt gets its practice day when it is written, whoever writes it; it never changes afterwards.
CREATE OR REPLACE TRIGGER attempts_fix_local_day
BEFORE INSERT ON attempts
FOR EACH ROW WHEN (NEW.local_day IS NULL)
EXECUTE FUNCTION progress_attempt_local_day();
