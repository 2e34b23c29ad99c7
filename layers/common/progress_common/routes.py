"""The routes of the HTTP API, one Router each, so each function serves only its own route
and the OpenAPI document can be generated from all of them at once.

No `from __future__ import annotations` here: Powertools reads these annotations at run time.
"""

from typing import Annotated

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
)
from progress_common.observability import metrics
from progress_common.queries import (
    DAILY_SERIES_DAYS_DEFAULT,
    DAILY_SERIES_DAYS_MAX,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    get_progress,
    get_statistics,
)
from progress_common.writes import delete_export_files_after_reset, reset_user

progress_router = APIGatewayHttpRouter()
statistics_router = APIGatewayHttpRouter()
reset_router = APIGatewayHttpRouter()
live_ticket_router = APIGatewayHttpRouter()


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
