-- The profile's has_settings flag (progress_keeping_rows_added).
CREATE OR REPLACE TRIGGER user_settings_flag_profile
AFTER INSERT ON user_settings
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION progress_keeping_rows_added();
