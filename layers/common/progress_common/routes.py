"""The routes of the HTTP API, one Router each, so each function serves only its own route
and the OpenAPI document can be generated from all of them at once.

No `from __future__ import annotations` here: Powertools reads these annotations at run time.
"""

import datetime as dt
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from progress_common.cursor import MAX_CURSOR_LENGTH
from progress_common.http import current_user_id, responses_for
from progress_common.live_management import close_after_reset
from progress_common.live_tickets import issue_ticket
from progress_common.models import (
    PLAIN_DIGITS,
    LiveTicketResponse,
    ProgressResponse,
    ResetResponse,
    StatisticsResponse,
    StreakExplainResponse,
)
from progress_common.observability import metrics
from progress_common.queries import (
    DAILY_SERIES_DAYS_DEFAULT,
    DAILY_SERIES_DAYS_MAX,
    EXPLAIN_DAYS_DEFAULT,
    EXPLAIN_DAYS_MAX,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    explain_streak,
    get_progress,
    get_statistics,
)
from progress_common.writes import delete_export_files_after_reset, reset_user

progress_router = APIGatewayHttpRouter()
statistics_router = APIGatewayHttpRouter()
reset_router = APIGatewayHttpRouter()
live_ticket_router = APIGatewayHttpRouter()
streak_explain_router = APIGatewayHttpRouter()
# a local day in a query (GET /progress/streak/explain): ISO digits only, checked as a date afterwards
LOCAL_DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@progress_router.get(
    "/progress",
    summary="How am I doing",
    description="Totals, accuracy, streaks in the user's timezone and a page of recent attempts, newest first.",
    tags=["progress"],
    responses=responses_for(ProgressResponse, "The caller's progress"),
)
def read_progress(
    limit: Annotated[
        int, Field(ge=1, le=PAGE_SIZE_MAX), PLAIN_DIGITS, Query(description="page size")
    ] = PAGE_SIZE_DEFAULT,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
    ] = None,
) -> ProgressResponse:
    user_id = current_user_id(progress_router)
    return get_progress(user_id, limit=limit, cursor=cursor)


@statistics_router.get(
    "/progress/statistics",
    summary="My statistics",
    description="Totals, streaks, sessions, the 100 most attempted exercises and a daily series.",
    tags=["progress"],
    responses=responses_for(StatisticsResponse, "The caller's statistics"),
)
def read_statistics(
    days: Annotated[
        int,
        Field(ge=1, le=DAILY_SERIES_DAYS_MAX),
        PLAIN_DIGITS,
        Query(description="length of the daily series, in local days"),
    ] = DAILY_SERIES_DAYS_DEFAULT,
) -> StatisticsResponse:
    user_id = current_user_id(statistics_router)
    return get_statistics(user_id, days=days)


@streak_explain_router.get(
    "/progress/streak/explain",
    summary="Why my streak is what it is",
    description=(
        f"Each local day from `from` to `to` (both or neither; at most {EXPLAIN_DAYS_MAX} days; default: the"
        f" last {EXPLAIN_DAYS_DEFAULT} local days to today) with its kind, the kind of GET /progress/statistics"
        " (`none` for its null), or `pending` for a day of no kind whose attempts may not all be in yet, and"
        " why: the attempts of a practice day, the reason (and incident) of a covered day, the settings"
        " version of a rest day, the source of a frozen day's freeze, the repair of a repaired day; and the"
        " timezone, day start and daily goal in force that day."
    ),
    tags=["streak"],
    responses=responses_for(StreakExplainResponse, "The caller's days, explained"),
)
def read_streak_explain(
    from_day: Annotated[
        str | None, Query(alias="from", pattern=LOCAL_DAY_PATTERN, description="first local day, YYYY-MM-DD")
    ] = None,
    to_day: Annotated[
        str | None, Query(alias="to", pattern=LOCAL_DAY_PATTERN, description="last local day, YYYY-MM-DD")
    ] = None,
) -> StreakExplainResponse:
    user_id = current_user_id(streak_explain_router)
    first_day, last_day = _explain_range(from_day, to_day)
    return explain_streak(user_id, first_day=first_day, last_day=last_day)


def _explain_range(from_day: str | None, to_day: str | None) -> tuple[dt.date | None, dt.date | None]:
    """The days `from` and `to` name, checked: both or neither, real dates, in order, at most
    EXPLAIN_DAYS_MAX days; otherwise the 422 of a query parameter, the parameter named in `details`."""

    def invalid(name: str, message: str, kind: str) -> RequestValidationError:
        return RequestValidationError([{"loc": ("query", name), "msg": message, "type": kind}])

    if from_day is None and to_day is None:
        return None, None
    if from_day is None or to_day is None:
        raise invalid("from" if from_day is None else "to", "give both from and to, or neither", "missing")
    days = {}
    for name, value in (("from", from_day), ("to", to_day)):
        try:
            days[name] = dt.date.fromisoformat(value)
        except ValueError:
            raise invalid(name, "not a date (YYYY-MM-DD)", "date_parsing") from None
    if days["from"] > days["to"]:
        raise invalid("to", "to is before from", "range_order")
    if (days["to"] - days["from"]).days + 1 > EXPLAIN_DAYS_MAX:
        raise invalid("to", f"at most {EXPLAIN_DAYS_MAX} days from from to to", "range_too_long")
    return days["from"], days["to"]


@reset_router.post(
    "/progress/reset",
    summary="Start over",
    description=(
        "Deletes every attempt (live and archived), session, aggregate, streak and export (with its file) of"
        ' the caller, and its live-update tickets and connections: each open page gets `{"type": "reset",'
        ' "reason": "progress_reset"}` and its connection is closed.'
    ),
    tags=["progress"],
    responses=responses_for(ResetResponse, "What was deleted"),
)
def reset() -> ResetResponse:
    user_id = current_user_id(reset_router)
    result, connection_ids = reset_user(user_id)
    metrics.add_metric(name="ProgressResets", unit="Count", value=1)
    # after the commit: the learner's open pages are told and closed (bounded, best effort)
    close_after_reset(connection_ids)
    if result.deleted.exports:
        # after the commit, and only when there were exports: the files of the exports the reset removed
        delete_export_files_after_reset(user_id)
    return result


@live_ticket_router.post(
    "/progress/live-ticket",
    summary="Open live updates",
    description=(
        "A single-use ticket, valid 60 s, and `url`, the WebSocket URL to open with it. Each attempt "
        'counted afterwards sends `{"type": "progress", "progress": {...}}` (the GET /progress fields '
        "without `recent_attempts` and `next_cursor`) to the caller's open connections (at most 5)."
    ),
    tags=["live"],
    responses=responses_for(LiveTicketResponse, "A ticket and the WebSocket URL to open"),
)
def live_ticket() -> LiveTicketResponse:
    user_id = current_user_id(live_ticket_router)
    result = issue_ticket(user_id)
    metrics.add_metric(name="LiveTicketsIssued", unit="Count", value=1)
    return result
