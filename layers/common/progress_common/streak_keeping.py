"""Keeping a streak, the HTTP side (docs/design.md "Keeping a streak", docs/streaks.md): the learner's settings
(GET/PUT /progress/settings), freeze grants by the app's backend (POST /progress/freezes) and the learner's
streak repair (POST /progress/streak/repair). The rules live in SQL (progress_schema/sql/functions); each call
here is one statement with its values written into the text (sqltext), so one round trip.

Apart from models.py and queries.py: the learner's GET functions import none of this.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
)
from sqlalchemy import Engine

from progress_common import clock
from progress_common.db import get_engine, run_idempotent, unavailable_as_typed_error
from progress_common.errors import FreezesFullError, RepairUnavailableError
from progress_common.identity import parse_user_id
from progress_common.models import WEEKDAY_NAMES, WeekdayName
from progress_common.sqltext import JsonDocument, render_sql

GoalUnit = Literal["attempts", "correct"]
REST_WEEKDAYS_MAX = 2
DAY_START_MINUTES_MAX = 360
DAILY_GOAL_TARGET_MAX = 500
GRANT_COUNT_MAX = 2
GRANT_KEY_MAX_LENGTH = 200

SETTINGS_GET_SQL = "SELECT progress_settings_get_v2(CAST({user_id} AS bigint), CAST({now} AS timestamptz))"
SETTINGS_PUT_SQL = (
    "SELECT progress_settings_put_v2(CAST({user_id} AS bigint), CAST({now} AS timestamptz), {changes})"
)
GRANT_SQL = "SELECT progress_freezes_grant_v1(CAST({user_id} AS bigint), CAST({now} AS timestamptz), {grant})"
REPAIR_SQL = "SELECT progress_streak_repair_v1(CAST({user_id} AS bigint), CAST({now} AS timestamptz))"


# ---- settings ------------------------------------------------------------------------------------------


class DailyGoalSetting(BaseModel):
    """A daily goal: `target` attempts, or `target` correct attempts, a day."""

    model_config = ConfigDict(extra="forbid", strict=True)

    unit: GoalUnit = Field(description="what counts: every attempt, or correct ones only")
    target: StrictInt = Field(ge=1, le=DAILY_GOAL_TARGET_MAX, description="how many a day meets the goal")


# a local wall time, "HH:MM" (24 h)
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _local_time(value: str) -> str:
    """A local time as the API takes it; the 422 says so in words (the dashboard shows it next to the field)."""
    if re.fullmatch(LOCAL_TIME_PATTERN, value) is None:
        raise ValueError("must be a local time as HH:MM, from 00:00 to 23:59")
    return value


LocalTime = Annotated[
    StrictStr,
    AfterValidator(_local_time),
    Field(examples=["20:00"], json_schema_extra={"pattern": LOCAL_TIME_PATTERN}),
]


class SignalKinds(BaseModel):
    """Which signal kinds the app's notifier receives for the learner (docs/signals.md); a kind left out keeps
    its value (every kind is on until turned off). A kind turned off is never written."""

    model_config = ConfigDict(extra="forbid", strict=True)

    streak_saver: StrictBool | None = None
    weekly_goal_at_risk: StrictBool | None = None
    milestone: StrictBool | None = None
    freeze_used: StrictBool | None = None
    streak_lost: StrictBool | None = None


class QuietHours(BaseModel):
    """Local hours in which no signal goes out: a signal due inside them is moved to their end. `from` after
    `to` wraps midnight (22:00-07:00)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    from_: LocalTime = Field(alias="from", description="local start, HH:MM")
    to: LocalTime = Field(description="local end, HH:MM (the moved signals go out then)")


class RemindersChange(BaseModel):
    """The `reminders` of PUT /progress/settings: any subset; they apply at once (no past figure changes)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kinds: SignalKinds | None = Field(default=None, description="kinds on (true) or off (false)")
    reminder_time: LocalTime | None = Field(
        default=None, description="local time of the streak_saver, HH:MM (default 20:00)"
    )
    quiet_hours: QuietHours | None = Field(default=None, description="null: none")

    @field_validator("kinds", "reminder_time")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null")
        return value

    def changes(self) -> dict[str, Any]:
        given: dict[str, Any] = {}
        if "kinds" in self.model_fields_set and self.kinds is not None:
            given["kinds"] = self.kinds.model_dump(exclude_none=True)
        if "reminder_time" in self.model_fields_set:
            given["reminder_time"] = self.reminder_time
        if "quiet_hours" in self.model_fields_set:
            given["quiet_hours"] = self.quiet_hours.model_dump(by_alias=True) if self.quiet_hours else None
        return given


class SettingsChange(BaseModel):
    """The body of PUT /progress/settings: any subset of the fields; a field left out keeps its value. Strict:
    a number written as a string, a boolean for a number, an unknown weekday or field are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    rest_weekdays: list[WeekdayName] = Field(
        default_factory=list,
        max_length=REST_WEEKDAYS_MAX,
        description="at most 2 weekdays, no duplicates: an unpractised one keeps the streak unbroken ([] none)",
    )
    day_start_minutes: StrictInt = Field(
        default=0,
        ge=0,
        le=DAY_START_MINUTES_MAX,
        description="minutes after local midnight at which the learner's day starts (an attempt before it"
        " counts for the previous date)",
    )
    daily_goal: DailyGoalSetting | None = Field(
        default=None, description="null: the deployment's default (DAILY_GOAL attempts)"
    )
    weekly_goal_days: StrictInt | None = Field(
        default=None, ge=1, le=7, description="practice days a week; null: no weekly goal"
    )
    week_start: WeekdayName = Field(default="mon", description="the first day of the learner's weeks")
    reminders: RemindersChange | None = Field(
        default=None,
        description="the signals for the app's notifier (docs/signals.md): apply at once, change no past figure",
    )

    @field_validator("reminders")
    @classmethod
    def _reminders_not_null(cls, value: RemindersChange | None) -> RemindersChange | None:
        if value is None:
            raise ValueError("reminders must be an object")
        return value

    @field_validator("rest_weekdays")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("rest_weekdays must not name a weekday twice")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the request gave, as progress_settings_put_v1 takes them (weekdays as ISO numbers)."""
        given = self.model_dump(include=self.model_fields_set - {"reminders"})
        if self.reminders is not None:
            given["reminders"] = self.reminders.changes()
        if "rest_weekdays" in given:
            given["rest_weekdays"] = sorted(WEEKDAY_NAMES.index(day) + 1 for day in given["rest_weekdays"])
        if "week_start" in given:
            given["week_start"] = WEEKDAY_NAMES.index(given["week_start"]) + 1
        return given


class DailyGoalInForce(BaseModel):
    """The daily goal a settings version sets (the deployment's default when the learner chose none)."""

    unit: GoalUnit
    target: int


class SignalKindsInForce(BaseModel):
    streak_saver: bool
    weekly_goal_at_risk: bool
    milestone: bool
    freeze_used: bool
    streak_lost: bool


class QuietHoursInForce(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str


class RemindersInForce(BaseModel):
    kinds: SignalKindsInForce
    reminder_time: str = Field(description="local HH:MM of the streak_saver")
    quiet_hours: QuietHoursInForce | None


class SettingsResponse(BaseModel):
    rest_weekdays: list[WeekdayName] = Field(description="in week order, Monday first")
    day_start_minutes: int
    daily_goal: DailyGoalInForce = Field(description="the learner's goal, or the deployment's default")
    daily_goal_default: bool = Field(
        description="true: the learner chose no goal, the deployment's default applies (and follows it)"
    )
    weekly_goal_days: int | None
    week_start: WeekdayName
    effective_from: dt.date | None = Field(
        description="the learner's local day from which these settings apply (a change applies from the next"
        " local day; the days before keep the settings they were lived under); null: the defaults, never changed"
    )
    reminders: RemindersInForce = Field(
        description="the signals for the app's notifier: in force at once (they change no past figure)"
    )


def _document(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


def read_settings(user_id: int, *, engine: Engine | None = None) -> SettingsResponse:
    """The learner's newest settings (in force from effective_from), or the defaults."""
    ((document,),) = run_idempotent(
        render_sql(SETTINGS_GET_SQL, user_id=user_id, now=clock.utc_now()), engine=engine or get_engine()
    )
    return SettingsResponse.model_validate(_document(document))


def change_settings(
    user_id: int, change: SettingsChange, *, engine: Engine | None = None
) -> SettingsResponse:
    """Write the learner's settings, changed by `change`, as the version effective from their next local day.

    Retried once on a connection that died while idle (run_idempotent): writing the same version twice is
    writing it once."""
    sql = render_sql(
        SETTINGS_PUT_SQL, user_id=user_id, now=clock.utc_now(), changes=JsonDocument(change.changes())
    )
    with unavailable_as_typed_error():
        ((document,),) = run_idempotent(sql, engine=engine or get_engine())
    return SettingsResponse.model_validate(_document(document))


# ---- freeze grants (the app's backend) ---------------------------------------------------------------


class FreezeGrant(BaseModel):
    """The body of POST /progress/freezes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: StrictInt | StrictStr = Field(description="the learner: `user_7`, `7` or 7")
    key: Annotated[StrictStr, Field(min_length=1, max_length=GRANT_KEY_MAX_LENGTH)] = Field(
        description="the grant's idempotency key: a repeat for the same learner answers the first grant's answer"
    )
    count: StrictInt = Field(ge=1, le=GRANT_COUNT_MAX, description="freezes to add")
    source: Literal["granted"] = Field(default="granted", description="the only source the app grants")

    @field_validator("user_id")
    @classmethod
    def _a_user_id(cls, value: int | str) -> int:
        return parse_user_id(value)

    @field_validator("key")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise ValueError("key must not contain NUL characters")
        return value


class FreezeGrantResponse(BaseModel):
    added: int = Field(description="freezes added: the count asked for, or what fitted below freezes_max")
    freezes_held: int = Field(description="freezes the learner holds after the grant")
    freezes_max: int = Field(description="the most a learner may hold (FREEZE_MAX_HELD)")


def grant_freezes(grant: FreezeGrant, *, engine: Engine | None = None) -> FreezeGrantResponse:
    """Add min(count, freezes_max - freezes_held) freezes to the learner, once per key; FreezesFullError when
    none fits (nothing recorded). Retried once on a connection that died while idle: idempotent by key."""
    user_id = parse_user_id(grant.user_id)
    sql = render_sql(
        GRANT_SQL,
        user_id=user_id,
        now=clock.utc_now(),
        grant=JsonDocument({"key": grant.key, "count": grant.count}),
    )
    with unavailable_as_typed_error():
        ((document,),) = run_idempotent(sql, engine=engine or get_engine())
    answer = _document(document)
    if answer.get("error") == "freezes_full":
        raise FreezesFullError(
            f"the learner holds {answer['freezes_held']} of {answer['freezes_max']} freezes: none fits",
            answer["freezes_held"],
            answer["freezes_max"],
        )
    return FreezeGrantResponse.model_validate(answer)


# ---- repair (the learner) ------------------------------------------------------------------------------


class RepairResponse(BaseModel):
    gap_from: dt.date = Field(description="the first repaired day")
    gap_to: dt.date = Field(description="the last repaired day")
    attempts_done: int = Field(description="attempts since the gap began, the work that earned the repair")
    current_streak: int = Field(description="the streak after the repair (the runs on both sides joined)")
    freezes_held: int


def repair_streak(user_id: int, *, engine: Engine | None = None) -> RepairResponse:
    """Repair the learner's latest break when the repair is available; RepairUnavailableError (with the
    reason) otherwise, recording nothing.

    Retried once on a connection that died while idle (run_idempotent): such a connection never delivered
    the statement. Were a reply lost after the commit, the retry would answer 409 (no repairable gap): the
    repair is stored once either way."""
    sql = render_sql(REPAIR_SQL, user_id=user_id, now=clock.utc_now())
    with unavailable_as_typed_error():
        ((document,),) = run_idempotent(sql, engine=engine or get_engine())
    answer = _document(document)
    if answer.get("error") == "repair_unavailable":
        raise RepairUnavailableError(answer["message"], answer["reason"], answer.get("repair"))
    return RepairResponse.model_validate(answer)
