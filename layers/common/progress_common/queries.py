"""Reads: GET /progress and GET /progress/statistics, each one SQL statement on the aggregates.

Cost does not grow with history: the profile row holds totals and streak runs, the per-day and
per-exercise tables are read by primary key ranges, and the recent list is a keyset page on an index.
JSON is built by PostgreSQL so pg8000 parses no timestamps in Python.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, Engine, text

from progress_common.cursor import decode_cursor, encode_cursor
from progress_common.db import get_engine
from progress_common.models import ProgressResponse, StatisticsResponse
from progress_common.streaks import current_streak_at

NO_CURSOR = ("infinity", 2**63 - 1)

# One short statement each: the queries live in the read functions (progress_admin/sql/functions) (pg8000 rewrites the
# paramstyle of every statement in Python, so a long statement text costs more than the query).
PROGRESS_SQL = text(
    "SELECT progress_read_progress_v1(:user_id, CAST(:cursor_at AS timestamptz), CAST(:cursor_id AS bigint), :fetch)"
)
STATISTICS_SQL = text("SELECT progress_read_statistics_v1(:user_id, CAST(:days AS int))")

# Only when the last practice day lies after "today" (clock skew, or a timezone moved west): the run
# that ends at the latest practice day on or before today.
RUN_UP_TO_TODAY_SQL = text(
    """
SELECT to_char(max(day), 'YYYY-MM-DD'), count(*)
  FROM (SELECT day, day + (row_number() OVER (ORDER BY day DESC))::int AS grp
          FROM user_daily_stats WHERE user_id = :user_id AND day <= CAST(:today AS date)) numbered
 GROUP BY grp
 ORDER BY max(day) DESC
 LIMIT 1
"""
)


def _accuracy(correct: int, total: int) -> float | None:
    return round(correct / total, 6) if total else None


def _current_streak(conn: Connection, user_id: int, today: dt.date, last: dt.date | None, run: int) -> int:
    if last is not None and last > today:
        row = conn.execute(RUN_UP_TO_TODAY_SQL, {"user_id": user_id, "today": today.isoformat()}).first()
        if row is None:
            return 0
        return current_streak_at(today, dt.date.fromisoformat(row[0]), int(row[1]))
    return current_streak_at(today, last, run)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _read(conn: Connection, user_id: int, statement: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Run a read function; return its document with the fields both GETs share already worked out."""
    row: dict[str, Any] = json.loads(conn.execute(statement, {"user_id": user_id, **params}).scalar_one())
    today = dt.date.fromisoformat(row["today"])
    last = _date(row["last_practice_date"])
    current = _current_streak(conn, user_id, today, last, row["run_at_last_day"])
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


def get_progress(
    user_id: int, *, limit: int = 20, cursor: str | None = None, engine: Engine | None = None
) -> ProgressResponse:
    """Totals, streaks and one page of recent attempts (newest first) for one user."""
    cursor_at, cursor_id = decode_cursor(cursor) if cursor else NO_CURSOR
    with (engine or get_engine()).connect() as conn:
        row = _read(
            conn, user_id, PROGRESS_SQL, {"cursor_at": cursor_at, "cursor_id": cursor_id, "fetch": limit + 1}
        )
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
    with (engine or get_engine()).connect() as conn:
        row = _read(conn, user_id, STATISTICS_SQL, {"days": days})
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
