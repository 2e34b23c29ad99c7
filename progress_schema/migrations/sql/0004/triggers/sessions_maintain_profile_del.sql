-- Sessions deleted (a reset) leave the profile's session sums.
CREATE OR REPLACE TRIGGER sessions_maintain_profile_del
AFTER DELETE ON sessions REFERENCING OLD TABLE AS old_sessions
FOR EACH STATEMENT EXECUTE FUNCTION progress_sessions_changed();
