-- A held attempt that is recorded releases its hold, in the statement that records it.
CREATE OR REPLACE TRIGGER attempts_release_holds
AFTER INSERT ON attempts
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION progress_attempts_release_holds();
