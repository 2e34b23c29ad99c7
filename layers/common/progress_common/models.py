"""Pydantic models of what the service takes in and gives out (the HTTP API and the SQS message)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    field_validator,
)
from pydantic_core import PydanticCustomError

from progress_common.identity import parse_user_id

MAX_ANSWER_LENGTH = 10_000


@lru_cache(maxsize=1)
def iana_timezones() -> frozenset[str]:
    """The Zone and Link names of the IANA tz database the layer ships (the tzdata package), without Factory
    (the placeholder for "local time unknown", not a place).

    Not "whatever ZoneInfo() loads": that takes any file of the system's zoneinfo folder too, such as
    localtime (the machine's own zone), posixrules and the posix/ and right/ copies, none of them an IANA name.
    """
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(names) - {"Factory"}


# IANA links that PostgreSQL reads as something else: `AT TIME ZONE 'CET'` takes the timezone abbreviation
# CET (a fixed +01:00, no summer time) before the tz database, where CET is a link to Europe/Brussels. The
# name is replaced by the link's target (tzdata 2024b and later), so that the database and Python apply the
# same rules (tests/test_timezones.py compares them for every accepted name).
POSTGRES_ABBREVIATION_LINKS = {
    "CET": "Europe/Brussels",
    "MET": "Europe/Brussels",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
}


def validate_timezone(name: str) -> str:
    """The IANA timezone name to store for `name` (itself, or the target of a link PostgreSQL would misread);
    ValueError when it is not an IANA timezone name."""
    if name not in iana_timezones():
        raise ValueError("unknown timezone; use an IANA name such as 'Europe/Berlin'")
    return POSTGRES_ABBREVIATION_LINKS.get(name, name)


TimezoneName = Annotated[str, AfterValidator(validate_timezone)]
# The largest integer every JSON reader keeps exactly (I-JSON, RFC 7493: JavaScript's numbers are
# doubles, so a browser shows 9007199254740993 as ...992). Ids the API returns as numbers stay within it.
JSON_SAFE_INT_MAX = 2**53 - 1
# A JSON integer only: not true, "42", "  42 " or 12.0 (pydantic's lax mode would take them all), and
# one every reader of our answers keeps exactly (the database column is a bigint; a CHECK holds legacy
# writers to the same bound).
JsonSafeId = Annotated[StrictInt, Field(ge=0, le=JSON_SAFE_INT_MAX)]

# An integer query parameter is spelled with the ASCII digits 0-9 and nothing else (DESIGN, HTTP API):
# pydantic's lax int alone would also take "+5", " 5", "1.0" and "5_0".
_PLAIN_DIGITS = re.compile(r"[0-9]+")


def plain_digits(value: Any) -> Any:
    """Pass a query value on to int parsing only when it is plain ASCII digits; refuse anything else."""
    if not isinstance(value, str) or not _PLAIN_DIGITS.fullmatch(value):
        raise PydanticCustomError(
            "int_parsing", "Input should be an integer written with the digits 0-9 only"
        )
    return value


# Every integer query parameter (routes.py): `Annotated[int, Field(ge=.., le=..), PLAIN_DIGITS, Query(..)]`.
# The bounds go before it: after a BeforeValidator pydantic writes them into the OpenAPI document as
# "ge"/"le" rather than "minimum"/"maximum".
PLAIN_DIGITS = BeforeValidator(plain_digits)

# The bounds of an attempt's created_at (DESIGN, Write path), for every writer that validates one:
# the SQS consumer, save_user_attempt_to_db() and the importer all go through AttemptMessage.
EARLIEST_CREATED_AT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
# An ISO 8601 calendar date and time; without it pydantic would read "1000000000" as a Unix time.
_ISO_DATETIME_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def check_created_at(value: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    """Return `value` when it lies within [EARLIEST_CREATED_AT, now + MAX_CLOCK_SKEW]; else ValueError."""
    if value < EARLIEST_CREATED_AT:
        raise ValueError(f"created_at must not be before {EARLIEST_CREATED_AT.isoformat()}")
    # A little clock skew is fine; an attempt from tomorrow would make today's streak wrong.
    if value > (now or dt.datetime.now(dt.UTC)) + MAX_CLOCK_SKEW:
        raise ValueError("created_at is in the future")
    return value


# ISO 8601 with a numeric offset ("+00:00"), as PostgreSQL writes it, rather than pydantic's "Z".
Timestamp = Annotated[
    AwareDatetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json")
]


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable error code")
    message: str = Field(description="what went wrong, for a person")
    details: list[dict[str, Any]] | None = Field(
        default=None, description="validation problems, one per field"
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


class RecentAttempt(BaseModel):
    id: int
    exercise_id: int
    is_correct: bool
    user_answer: str
    created_at: Timestamp
    session_id: int | None


CURRENT_STREAK = (
    "practice days in the run of consecutive days ending today, or yesterday when not yet practised"
    " today (covered days join a run without counting); 0 otherwise"
)
PRACTICED_TODAY = "whether today (in the user's timezone) is a practice day"
STREAK_EXPIRES_AT = (
    "when current_streak drops to 0 without practice: the local midnight ending today when the streak"
    " ends yesterday, ending tomorrow when it ends today; null when current_streak is 0"
)


STREAK_STATUS = (
    "null without history; active: current_streak >= 1; pending: current_streak is 0 but the day that ended the"
    " last run is not settled yet (a message for it may still be on its way: no streak_lost for it); broken"
)
DATA_COMPLETE_THROUGH = (
    "every attempt message the queue accepted before this instant is counted (the ingest watermark, held back"
    " while a message of this learner is on its way to the dead-letter queue); null until first known. A day is"
    " settled once this passes its end by 60 minutes"
)


# ISO weekday numbers (1 = Monday) as the API names them
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WeekdayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DayKind = Literal["practice", "covered", "rest", "frozen", "repaired"]


class RepairOffer(BaseModel):
    gap_from: dt.date = Field(description="the first missed day of the latest break")
    gap_to: dt.date = Field(description="its last day (yesterday while the learner has not come back)")
    deadline: Timestamp = Field(description="the repair is possible until this instant")
    attempts_required: int
    attempts_done: int = Field(description="attempts recorded since the start of `gap_from`")
    available: bool = Field(description="POST /progress/streak/repair would repair the gap now")


class DailyGoal(BaseModel):
    unit: Literal["attempts", "correct"]
    target: int
    done: int
    met: bool
    met_at: Timestamp | None = Field(description="when the attempt that reached the target was made")


class TodayFigures(BaseModel):
    date: dt.date = Field(description="the learner's local day (day start applied)")
    attempts: int
    correct: int
    goal: DailyGoal


class WeekFigures(BaseModel):
    start: dt.date
    end: dt.date
    target_days: int = Field(description="the weekly goal less the week's covered days")
    practised_days: int
    days_left: int = Field(description="the week's days after today, and today while it is not practised")
    required_left: int
    at_risk: bool = Field(description="required_left > 0 and required_left >= days_left")
    met: bool


class StreakKeeping(BaseModel):
    """What keeps a streak (docs/design.md "Keeping a streak"): both GETs and the live push carry it."""

    current_streak_perfect: bool = Field(description="no frozen or repaired day in the current run")
    freezes_held: int
    freezes_max: int
    next_freeze_in: int | None = Field(
        description="practice days until the next earned freeze; null when off or full"
    )
    rest_weekdays: list[WeekdayName]
    repair: RepairOffer | None = Field(description="the latest break while it can be repaired, else null")
    today: TodayFigures
    week: WeekFigures | None = Field(description="null without a weekly goal")
    weekly_streak: int = Field(description="consecutive met weeks ending this week if met, else last week")


SignalKind = Literal["streak_saver", "weekly_goal_at_risk", "milestone", "freeze_used", "streak_lost"]


class ProgressResponse(StreakKeeping):
    user_id: int
    total_attempts: int
    correct_attempts: int
    accuracy: float | None = Field(description="correct / total, 0..1; null when there are no attempts")
    current_streak: int = Field(description=CURRENT_STREAK)
    longest_streak: int
    last_practice_date: dt.date | None
    practiced_today: bool = Field(description=PRACTICED_TODAY)
    streak_expires_at: Timestamp | None = Field(description=STREAK_EXPIRES_AT)
    timezone: str
    streak_status: Literal["active", "pending", "broken"] | None = Field(description=STREAK_STATUS)
    data_complete_through: Timestamp | None = Field(description=DATA_COMPLETE_THROUGH)
    reminders_paused: list[SignalKind] = Field(
        default_factory=list,
        description="signal kinds paused after 3 signals with no practice within 2 h; practice ends the pause"
        " (docs/signals.md)",
    )
    recent_attempts: list[RecentAttempt]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class SessionSummary(BaseModel):
    total: int
    average_exercises: float | None
    average_accuracy: float | None


class ExerciseStatistics(BaseModel):
    exercise_id: int
    attempts: int
    correct: int
    accuracy: float
    last_attempt_at: Timestamp


class DailyCount(BaseModel):
    date: dt.date
    attempts: int
    correct: int
    covered: bool = Field(
        description="an operator covered this day: it keeps a streak unbroken without counting"
    )
    kind: DayKind | None = Field(description="practice > covered > rest > frozen > repaired; null: none")
    goal_met: bool = Field(description="the daily goal in force that day was met")


class StatisticsResponse(StreakKeeping):
    user_id: int
    total_attempts: int
    correct_attempts: int
    accuracy: float | None
    current_streak: int = Field(description=CURRENT_STREAK)
    longest_streak: int
    practiced_today: bool = Field(description=PRACTICED_TODAY)
    streak_expires_at: Timestamp | None = Field(description=STREAK_EXPIRES_AT)
    practice_days: int
    first_practice_date: dt.date | None
    last_practice_date: dt.date | None
    sessions: SessionSummary
    by_exercise: list[ExerciseStatistics] = Field(description="most attempted first, at most 100")
    daily: list[DailyCount] = Field(description="the last `days` local days, zeros included, oldest first")


class DeletedCounts(BaseModel):
    attempts: int
    archived_attempts: int
    sessions: int
    exports: int = Field(description="the caller's exports (records and their files)")
    live_connections: int = Field(
        description="the caller's open live-update connections, closed after the reset (their pages are told)"
    )


class ResetResponse(BaseModel):
    user_id: int
    deleted: DeletedCounts
    profile_reset: bool


class AttemptMessage(BaseModel):
    """One graded attempt, as the exercises service sends it on the queue."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    attempt_uid: uuid.UUID
    user_id: int
    exercise_id: JsonSafeId
    is_correct: StrictBool
    user_answer: str = Field(max_length=MAX_ANSWER_LENGTH)
    created_at: AwareDatetime | None = None
    session_id: JsonSafeId | None = None
    timezone: TimezoneName | None = None

    @field_validator("user_id", mode="before")
    @classmethod
    def _parse_user_id(cls, value: Any) -> int:
        return parse_user_id(value)

    @field_validator("user_answer")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # PostgreSQL text cannot hold NUL; every other character round-trips.
        if "\x00" in value:
            raise ValueError("user_answer must not contain NUL characters")
        return value

    @field_validator("created_at", mode="before")
    @classmethod
    def _an_iso_string(cls, value: Any) -> Any:
        # From JSON only a string: a number (1e9) is no timestamp here, whatever pydantic would make of it.
        if value is None or isinstance(value, dt.datetime):
            return value
        if not isinstance(value, str) or not _ISO_DATETIME_START.match(value):
            raise ValueError(
                "created_at must be an ISO 8601 string with an offset, e.g. 2026-11-25T10:00:00Z"
            )
        return value

    @field_validator("created_at")
    @classmethod
    def _within_bounds(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else check_created_at(value)

    def to_row(self) -> dict[str, Any]:
        """The JSON record progress_record_attempts_v2() takes (it numbers the records by their position)."""
        return {
            "attempt_uid": str(self.attempt_uid),
            "user_id": self.user_id,
            "exercise_id": self.exercise_id,
            "is_correct": self.is_correct,
            "user_answer": self.user_answer,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "session_id": self.session_id,
            "timezone": self.timezone,
        }


class LiveTicketResponse(BaseModel):
    ticket: str = Field(description="single use, valid until `expires_at`")
    expires_at: Timestamp
    url: str = Field(description="the WebSocket URL to open, ticket included")


ExportStatus = Literal["pending", "running", "ready", "failed", "expired"]


class ExportResponse(BaseModel):
    export_id: uuid.UUID
    status: ExportStatus = Field(
        description=(
            "pending (waiting for the worker), running, ready (download_url is set), failed (see `failure`),"
            " expired (older than 7 days: the file is gone; ask for a new export)"
        )
    )
    failure: str | None = Field(
        default=None, description="why an export failed, as a code (timed_out, database_unavailable, ...)"
    )
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    format_version: int | None = Field(default=None, description="of the file (docs/export.md); when ready")
    counts: dict[str, int] | None = Field(
        default=None, description="lines per kind in the file, as its manifest says; when ready"
    )
    size_bytes: int | None = Field(default=None, description="of the gzip file; when ready")
    download_url: str | None = Field(
        default=None, description="when ready: the file (gzip JSON Lines), valid until download_expires_at"
    )
    download_expires_at: Timestamp | None = None


class ExportMessage(BaseModel):
    """What POST /progress/export puts on the export queue for the worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    export_id: uuid.UUID


class ErasedCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a table progress_erase_user_v3 empties must be named here

    profile: int
    attempts: int
    archived_attempts: int
    quarantined_attempts: int
    sessions: int
    covered_days: int
    daily_totals: int
    exercise_totals: int
    live_tickets: int
    live_connections: int
    held_messages: int = Field(description="holds of the learner's messages on their way to the DLQ")
    settings_versions: int = Field(description="versions of the learner's settings (GET /progress/settings)")
    freeze_grants: int = Field(description="freezes granted by the app's backend (POST /progress/freezes)")
    repairs: int = Field(description="repaired breaks of the learner's streak")
    frozen_days: int = Field(description="days a freeze kept the learner's streak")
    signals: int = Field(default=0, description="signals written for the app's notifier (docs/signals.md)")
    reminders: int = Field(default=0, description="the learner's reminders settings (0 or 1)")
    exports: int
    export_files: int


class ErasureResponse(BaseModel):
    user_id: int
    erased: bool = Field(description="true: nothing of this learner is stored any more")
    deleted: ErasedCounts = Field(description="what this call removed (zeros when there was nothing left)")
