-- Sessions inserted (by the attempts trigger or a legacy writer) move the profile's session sums.
CREATE OR REPLACE TRIGGER sessions_maintain_profile_ins
AFTER INSERT ON sessions REFERENCING NEW TABLE AS new_sessions
FOR EACH STATEMENT EXECUTE FUNCTION progress_sessions_changed();
