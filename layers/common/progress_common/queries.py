"""Reads: GET /progress and GET /progress/statistics, each one SQL statement on the aggregates.

Cost does not grow with history: the profile row holds totals and streak runs, the per-day and
per-exercise tables are read by primary key ranges, and the recent list is a keyset page on an index.
JSON is built by PostgreSQL so pg8000 parses no timestamps in Python.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine

from progress_common.cursor import decode_cursor, encode_cursor
from progress_common.db import get_engine, run_idempotent
from progress_common.errors import InvalidCursorError
from progress_common.identity import BIGINT_MAX
from progress_common.models import ProgressResponse, StatisticsResponse
from progress_common.sqltext import UnrenderableValueError, render_sql
from progress_common.streaks import current_streak_at

# One short statement each, its values written into the text (sqltext): a simple Query, one round trip.
# The queries live in the read functions (progress_admin/sql/functions); pg8000 rewrites the paramstyle
# of every parameterized statement in Python, so a long statement text costs more than the query.
# Without a cursor (NULL) the page starts after every attempt.
PROGRESS_SQL = (
    "SELECT progress_read_progress_v1(CAST({user_id} AS bigint),"
    " coalesce(CAST({cursor_at} AS timestamptz), 'infinity'), CAST({cursor_id} AS bigint),"
    " CAST({fetch} AS integer))"
)
STATISTICS_SQL = "SELECT progress_read_statistics_v1(CAST({user_id} AS bigint), CAST({days} AS integer))"

# Only when the last practice day lies after "today" (clock skew, or a timezone moved west): the run
# that ends at the latest practice day on or before today.
RUN_UP_TO_TODAY_SQL = """
SELECT to_char(max(day), 'YYYY-MM-DD'), count(*)
  FROM (SELECT day, day + (row_number() OVER (ORDER BY day DESC))::int AS grp
          FROM user_daily_stats WHERE user_id = CAST({user_id} AS bigint) AND day <= {today}) numbered
 GROUP BY grp
 ORDER BY max(day) DESC
 LIMIT 1
"""


def _accuracy(correct: int, total: int) -> float | None:
    return round(correct / total, 6) if total else None


def _current_streak(engine: Engine, user_id: int, today: dt.date, last: dt.date | None, run: int) -> int:
    if last is not None and last > today:
        rows = run_idempotent(render_sql(RUN_UP_TO_TODAY_SQL, user_id=user_id, today=today), engine=engine)
        if not rows:
            return 0
        row = rows[0]
        return current_streak_at(today, dt.date.fromisoformat(row[0]), int(row[1]))
    return current_streak_at(today, last, run)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _read(engine: Engine, user_id: int, sql: str) -> dict[str, Any]:
    """Run a read function; return its document with the fields both GETs share already worked out."""
    ((document,),) = run_idempotent(sql, engine=engine)
    row: dict[str, Any] = json.loads(document)
    today = dt.date.fromisoformat(row["today"])
    last = _date(row["last_practice_date"])
    current = _current_streak(engine, user_id, today, last, row["run_at_last_day"])
    row["common"] = {
        "user_id": user_id,
        "total_attempts": row["total_attempts"],
        "correct_attempts": row["correct_attempts"],
        "accuracy": _accuracy(row["correct_attempts"], row["total_attempts"]),
        "current_streak": current,
        "longest_streak": max(row["longest_streak"], current),
        "last_practice_date": last,
    }
    return row


def _progress_sql(user_id: int, fetch: int, cursor: str | None) -> str:
    if cursor is None:
        return render_sql(PROGRESS_SQL, user_id=user_id, fetch=fetch, cursor_at=None, cursor_id=BIGINT_MAX)
    cursor_at, cursor_id = decode_cursor(cursor)
    try:
        return render_sql(
            PROGRESS_SQL,
            user_id=user_id,
            fetch=fetch,
            cursor_at=dt.datetime.fromisoformat(cursor_at),
            cursor_id=cursor_id,
        )
    except UnrenderableValueError:
        # decode_cursor checked the shape; a value beyond what the columns hold was never issued by us
        raise InvalidCursorError("cursor is not valid") from None


def get_progress(
    user_id: int, *, limit: int = 20, cursor: str | None = None, engine: Engine | None = None
) -> ProgressResponse:
    """Totals, streaks and one page of recent attempts (newest first) for one user."""
    engine = engine or get_engine()
    row = _read(engine, user_id, _progress_sql(user_id, limit + 1, cursor))
    recent: list[dict[str, Any]] = row["recent"]
    next_cursor = None
    if len(recent) > limit:
        recent = recent[:limit]
        next_cursor = encode_cursor(recent[-1]["created_at"], recent[-1]["id"])
    return ProgressResponse.model_validate(
        {
            **row["common"],
            "timezone": row["timezone"],
            "recent_attempts": recent,
            "next_cursor": next_cursor,
        }
    )


def get_statistics(user_id: int, *, days: int = 30, engine: Engine | None = None) -> StatisticsResponse:
    """Totals, streaks, sessions, per-exercise figures and a daily series of `days` local days."""
    engine = engine or get_engine()
    row = _read(engine, user_id, render_sql(STATISTICS_SQL, user_id=user_id, days=days))
    by_exercise = [{**e, "accuracy": round(e["correct"] / e["attempts"], 6)} for e in row["by_exercise"]]
    daily = [{"date": d, "attempts": a, "correct": c} for d, a, c in row["daily"]]
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
