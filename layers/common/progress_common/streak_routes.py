"""The routes of keeping a streak: the learner's settings and repair (the learner's JWT) and freeze grants (the
app's backend, with its own scope). Apart from routes.py, so that the learner's GET functions import none of
this (docs/api.md, "Which function serves which route").

No `from __future__ import annotations` here: Powertools reads these annotations at run time.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from progress_common.http import current_user_id, require_scope, responses_for
from progress_common.observability import logger, metrics
from progress_common.settings import get_streak_settings
from progress_common.streak_keeping import (
    FreezeGrant,
    FreezeGrantResponse,
    RepairResponse,
    SettingsChange,
    SettingsResponse,
    change_settings,
    grant_freezes,
    read_settings,
    repair_streak,
)

settings_router = APIGatewayHttpRouter()
freeze_grant_router = APIGatewayHttpRouter()
repair_router = APIGatewayHttpRouter()


@settings_router.get(
    "/progress/settings",
    summary="My streak settings",
    description=(
        "Rest weekdays, day start, daily and weekly goal, week start: the newest version (`effective_from`"
        " says from which local day it applies; null: the defaults)."
    ),
    tags=["streak"],
    responses=responses_for(SettingsResponse, "The caller's settings"),
)
def read_my_settings() -> SettingsResponse:
    user_id = current_user_id(settings_router)
    return read_settings(user_id)


@settings_router.put(
    "/progress/settings",
    summary="Change my streak settings",
    description=(
        "Any subset of the fields; the others keep their value. The change applies from the caller's next"
        " local day (`effective_from`): today, and every day before, keep the settings they were lived under;"
        " a second change on the same day replaces the first. Strict: a number as a string, a boolean for a"
        " number, an unknown weekday or field, a third rest day are 422 with the field named in `details`."
    ),
    tags=["streak"],
    responses=responses_for(SettingsResponse, "The settings written, and from when they apply"),
)
def change_my_settings(change: Annotated[SettingsChange, Body()]) -> SettingsResponse:
    user_id = current_user_id(settings_router)
    result = change_settings(user_id, change)
    metrics.add_metric(name="SettingsChanged", unit="Count", value=1)
    return result


@freeze_grant_router.post(
    "/progress/freezes",
    summary="Grant streak freezes (the app's backend)",
    description=(
        "For the app's backend, with a token carrying the grant scope (`progress/grant` by default): adds"
        " `min(count, freezes_max - freezes_held)` freezes to the learner, counted from their local today."
        " Idempotent by (`user_id`, `key`): a repeat answers what the first grant answered. 409 `freezes_full`"
        " when none fits (nothing is recorded; a later retry of the key may fit)."
    ),
    tags=["streak"],
    responses=responses_for(
        FreezeGrantResponse,
        "The freezes added",
        errors={403: "The token lacks the grant scope", 409: "The learner holds the most freezes allowed"},
    ),
)
def grant(body: Annotated[FreezeGrant, Body()]) -> FreezeGrantResponse:
    require_scope(freeze_grant_router, get_streak_settings().grant_scope)
    result = grant_freezes(body)
    logger.append_keys(user_id=body.user_id)
    metrics.add_metric(name="FreezesGranted", unit="Count", value=result.added)
    return result


@repair_router.post(
    "/progress/streak/repair",
    summary="Repair my streak",
    description=(
        "Marks the gap of the latest break `repaired` when GET /progress offers the repair as `available`"
        " (within the window after the gap, after enough attempts since it began, at most once per"
        " REPAIR_EVERY_DAYS days): the runs on both sides join. Otherwise 409 `repair_unavailable`, the reason"
        " in the message and in `details` (`no_gap`, `window_passed`, `repaired_recently`,"
        " `not_enough_attempts`)."
    ),
    tags=["streak"],
    responses=responses_for(
        RepairResponse, "The repaired gap and the streak now", errors={409: "No repair is available now"}
    ),
)
def repair() -> RepairResponse:
    user_id = current_user_id(repair_router)
    result = repair_streak(user_id)
    metrics.add_metric(name="StreakRepairs", unit="Count", value=1)
    return result
