-- Sessions updated move the profile's session sums by the difference.
CREATE OR REPLACE TRIGGER sessions_maintain_profile_upd
AFTER UPDATE ON sessions REFERENCING OLD TABLE AS old_sessions NEW TABLE AS new_sessions
FOR EACH STATEMENT EXECUTE FUNCTION progress_sessions_changed();
