"""Reads: GET /progress and GET /progress/statistics, each one SQL statement on the aggregates.

Cost does not grow with history: the profile row holds totals and streak runs, the per-day and
per-exercise tables are read by primary key ranges, and the recent list is a keyset page on an index.
JSON is built by PostgreSQL so pg8000 parses no timestamps in Python.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine

from progress_common import clock
from progress_common.cursor import decode_cursor, encode_cursor
from progress_common.db import get_engine, run_idempotent
from progress_common.errors import InvalidCursorError
from progress_common.identity import BIGINT_MAX
from progress_common.models import WEEKDAY_NAMES, ProgressResponse, StatisticsResponse, StreakExplainResponse
from progress_common.sqltext import UnrenderableValueError, render_sql

# One short statement each, its values written into the text (sqltext): a simple Query, one round trip.
# The queries live in the read functions (progress_schema/sql/functions); pg8000 rewrites the paramstyle
# of every parameterized statement in Python, so a long statement text costs more than the query.
# Without a cursor (NULL) the page starts after every attempt.
# Each takes "now" from the layer's clock; the streak rules themselves (runs, today, expiry) live in the
# database only (progress_streak_walk, progress_streak_now; docs/streaks.md).
# GET /progress's page size and GET /progress/statistics's daily series (DESIGN, HTTP API): the routes'
# bounds and defaults, and these functions' defaults.
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 20, 100
DAILY_SERIES_DAYS_DEFAULT, DAILY_SERIES_DAYS_MAX = 30, 366
# Both read functions carry the streak of progress_streak_now: freezes, repair, goals, and (GET /progress)
# how complete the data behind it is (streak_status, data_complete_through). v4: the page of attempts and
# the daily series come by column (one array per field; _rows makes the rows).
PROGRESS_SQL = (
    "SELECT progress_read_progress_v4(CAST({user_id} AS bigint), CAST({now} AS timestamptz),"
    " coalesce(CAST({cursor_at} AS timestamptz), 'infinity'), CAST({cursor_id} AS bigint),"
    " CAST({fetch} AS integer))"
)
STATISTICS_SQL = (
    "SELECT progress_read_statistics_v4(CAST({user_id} AS bigint), CAST({now} AS timestamptz),"
    " CAST({days} AS integer))"
)


def _accuracy(correct: int, total: int) -> float | None:
    return round(correct / total, 6) if total else None


def _in_zone(instant: str, zone: str) -> dt.datetime:
    """The instant with the offset of the user's zone, so local midnight reads as midnight."""
    moment = dt.datetime.fromisoformat(instant)
    try:
        return moment.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return moment  # a zone name PostgreSQL takes and Python does not (e.g. an abbreviation): as is


def _rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The rows of a list the read functions send by column ({"field": [value per row], ...})."""
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _read(engine: Engine, user_id: int, sql: str) -> dict[str, Any]:
    """Run a read function; return its document with the fields both GETs share already worked out (and,
    when the statement has a second column, the ingest status under "ingest")."""
    ((document,),) = run_idempotent(sql, engine=engine)
    row: dict[str, Any] = json.loads(document)
    streak = row["streak"]
    expires = streak["streak_expires_at"]
    zone = streak["timezone"]
    repair = streak["repair"]
    goal = streak["day"]["goal"]
    row["common"] = {
        "user_id": user_id,
        "total_attempts": row["total_attempts"],
        "correct_attempts": row["correct_attempts"],
        "accuracy": _accuracy(row["correct_attempts"], row["total_attempts"]),
        "current_streak": streak["current_streak"],
        "longest_streak": streak["longest_streak"],
        "last_practice_date": _date(streak["last_practice_date"]),
        "practiced_today": streak["practiced_today"],
        "streak_expires_at": _in_zone(expires, streak["timezone"]) if expires else None,
        "timezone": zone,
        "current_streak_perfect": streak["current_streak_perfect"],
        "freezes_held": streak["freezes_held"],
        "freezes_max": streak["freezes_max"],
        "next_freeze_in": streak["next_freeze_in"],
        "rest_weekdays": [WEEKDAY_NAMES[day - 1] for day in sorted(streak["rest_weekdays"])],
        "repair": repair and {**repair, "deadline": _in_zone(repair["deadline"], zone)},
        "today": {
            **streak["day"],
            "goal": {**goal, "met_at": _in_zone(goal["met_at"], zone) if goal["met_at"] else None},
        },
        "week": streak["week"],
        "weekly_streak": streak["weekly_streak"],
    }
    return row


def _progress_sql(user_id: int, now: dt.datetime, fetch: int, cursor: str | None) -> str:
    if cursor is None:
        return render_sql(
            PROGRESS_SQL, user_id=user_id, now=now, fetch=fetch, cursor_at=None, cursor_id=BIGINT_MAX
        )
    cursor_at, cursor_id = decode_cursor(cursor)
    try:
        return render_sql(
            PROGRESS_SQL,
            user_id=user_id,
            now=now,
            fetch=fetch,
            cursor_at=dt.datetime.fromisoformat(cursor_at),
            cursor_id=cursor_id,
        )
    except UnrenderableValueError:
        # decode_cursor checked the shape; a value beyond what the columns hold was never issued by us
        raise InvalidCursorError("cursor is not valid") from None


def get_progress(
    user_id: int, *, limit: int = PAGE_SIZE_DEFAULT, cursor: str | None = None, engine: Engine | None = None
) -> ProgressResponse:
    """Totals, streaks and one page of recent attempts (newest first) for one user."""
    engine = engine or get_engine()
    row = _read(engine, user_id, _progress_sql(user_id, clock.utc_now(), limit + 1, cursor))
    recent = _rows(row["recent"])
    next_cursor = None
    if len(recent) > limit:
        recent = recent[:limit]
        next_cursor = encode_cursor(recent[-1]["created_at"], recent[-1]["id"])
    streak = row["streak"]
    complete = streak["data_complete_through"]
    return ProgressResponse.model_validate(
        {
            **row["common"],
            "streak_status": streak["streak_status"],
            "data_complete_through": _in_zone(complete, row["common"]["timezone"]) if complete else None,
            "reminders_paused": streak.get("reminders_paused", []),
            "recent_attempts": recent,
            "next_cursor": next_cursor,
        }
    )


def get_statistics(
    user_id: int, *, days: int = DAILY_SERIES_DAYS_DEFAULT, engine: Engine | None = None
) -> StatisticsResponse:
    """Totals, streaks, sessions, per-exercise figures and a daily series of `days` local days."""
    engine = engine or get_engine()
    row = _read(engine, user_id, render_sql(STATISTICS_SQL, user_id=user_id, now=clock.utc_now(), days=days))
    by_exercise = [{**e, "accuracy": round(e["correct"] / e["attempts"], 6)} for e in row["by_exercise"]]
    series = row["daily"]
    first_day = dt.date.fromisoformat(series.pop("from"))
    daily = [{"date": first_day + dt.timedelta(days=i), **day} for i, day in enumerate(_rows(series))]
    sessions = row["session_count"]
    return StatisticsResponse.model_validate(
        {
            **row["common"],
            "practice_days": row["practice_days"],
            "first_practice_date": _date(row["first_practice_date"]),
            "sessions": {
                "total": sessions,
                "average_exercises": round(row["session_exercises_sum"] / sessions, 6) if sessions else None,
                "average_accuracy": (
                    round(row["session_accuracy_sum"] / row["session_nonempty_count"], 6)
                    if row["session_nonempty_count"]
                    else None
                ),
            },
            "by_exercise": by_exercise,
            "daily": daily,
        }
    )


# GET /progress/streak/explain: its range (DESIGN, "Explaining a streak") and default (the last 30 local days)
EXPLAIN_DAYS_MAX, EXPLAIN_DAYS_DEFAULT = 366, 30
EXPLAIN_SQL = (
    "SELECT progress_read_streak_explain_v1(CAST({user_id} AS bigint), CAST({now} AS timestamptz),"
    " CAST({first} AS date), CAST({last} AS date))"
)


def explain_streak(
    user_id: int,
    *,
    first_day: dt.date | None = None,
    last_day: dt.date | None = None,
    engine: Engine | None = None,
) -> StreakExplainResponse:
    """Each local day from first_day to last_day (None, None: the last 30 local days) with its kind and why,
    one statement (progress_read_streak_explain_v1). The route checks the range."""
    engine = engine or get_engine()
    sql = render_sql(EXPLAIN_SQL, user_id=user_id, now=clock.utc_now(), first=first_day, last=last_day)
    ((document,),) = run_idempotent(sql, engine=engine)
    row: dict[str, Any] = json.loads(document)
    zone = row["timezone"]
    complete = row["data_complete_through"]
    days = [
        {
            **day,
            "covered": day["covered"]
            and {**day["covered"], "covered_at": _in_zone(day["covered"]["covered_at"], zone)},
            "repaired": day["repaired"]
            and {**day["repaired"], "created_at": _in_zone(day["repaired"]["created_at"], zone)},
        }
        for day in row["days"]
    ]
    return StreakExplainResponse.model_validate(
        {
            "user_id": user_id,
            "timezone": zone,
            "today": row["today"],
            "from_date": row["from"],
            "to_date": row["to"],
            "data_complete_through": _in_zone(complete, zone) if complete else None,
            "days": days,
        }
    )
