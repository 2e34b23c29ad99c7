-- The profile's has_grants flag (progress_keeping_rows_added).
CREATE OR REPLACE TRIGGER freeze_grants_flag_profile
AFTER INSERT ON freeze_grants
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION progress_keeping_rows_added();
