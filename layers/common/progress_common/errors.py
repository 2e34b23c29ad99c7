"""Domain errors. The HTTP layer maps each to a status code and the project's JSON error body."""


class ProgressError(Exception):
    """Base class of every error this package raises on purpose."""

    code = "error"


class InvalidUserIdError(ProgressError, ValueError):
    """A user id that is not `user_<n>`, `<n>` or a non-negative integer within bigint."""

    code = "invalid_user_id"


class UnauthorizedError(ProgressError):
    """The request carries no usable identity (no verified JWT claim, or one we cannot parse)."""

    code = "unauthorized"


class InvalidCursorError(ProgressError, ValueError):
    """A pagination cursor we did not issue, or one that was altered."""

    code = "invalid_cursor"


class InvalidTimezoneError(ProgressError, ValueError):
    """Not an IANA time zone name known to both Python and PostgreSQL."""

    code = "invalid_timezone"


class SessionOwnershipError(ProgressError):
    """An attempt names a session that belongs to another user."""

    code = "session_owned_by_other_user"


class DatabaseUnavailableError(ProgressError):
    """The database cannot be reached or did not answer in time; the caller may retry."""

    code = "database_unavailable"


class ConfigurationError(ProgressError):
    """Settings that cannot work (no database configured, malformed secret)."""

    code = "configuration_error"


class SchemaOutdatedError(DatabaseUnavailableError):
    """The database's schema is older than the revision this code needs (a deploy whose migration has
    not run, or failed): retry once the stack's migration has brought it up to date."""

    code = "schema_outdated"
