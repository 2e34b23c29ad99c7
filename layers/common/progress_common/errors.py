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


class ForbiddenError(ProgressError):
    """The caller is identified but its token lacks the scope the route needs."""

    code = "forbidden"


class ExportInProgressError(ProgressError):
    """The learner already has an export in progress (one at a time)."""

    code = "export_in_progress"

    def __init__(self, message: str, export_id: object) -> None:
        super().__init__(message)
        self.export_id = export_id


class ExportNotFoundError(ProgressError):
    """No export of this learner has that id (another learner's is not told apart from none)."""

    code = "export_not_found"


class ExportUnavailableError(ProgressError):
    """The export queue or object store cannot be reached right now; the caller may retry."""

    code = "export_unavailable"


class FreezesFullError(ProgressError):
    """A freeze grant found the learner holding the most freezes allowed: nothing was recorded."""

    code = "freezes_full"

    def __init__(self, message: str, freezes_held: int, freezes_max: int) -> None:
        super().__init__(message)
        self.freezes_held = freezes_held
        self.freezes_max = freezes_max


class RepairUnavailableError(ProgressError):
    """The learner asked for a streak repair that is not available (the reason says why)."""

    code = "repair_unavailable"

    def __init__(self, message: str, reason: str, repair: dict[str, object] | None) -> None:
        super().__init__(message)
        self.reason = reason
        self.repair = repair
