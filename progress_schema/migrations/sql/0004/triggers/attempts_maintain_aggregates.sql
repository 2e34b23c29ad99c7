-- Every insert into attempts, whoever writes it, is folded into the aggregates once per statement.
CREATE OR REPLACE TRIGGER attempts_maintain_aggregates
AFTER INSERT ON attempts
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION progress_attempts_inserted();
