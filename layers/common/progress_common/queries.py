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

_PROFILE_CTE = """
WITH profile AS (
    SELECT coalesce(p.total_attempts, 0) AS total_attempts,
           coalesce(p.correct_attempts, 0) AS correct_attempts,
           coalesce(p.current_streak, 0) AS run_at_last_day,
           coalesce(p.longest_streak, 0) AS longest_streak,
           p.last_practice_date,
           coalesce(p.practice_days, 0) AS practice_days,
           p.first_practice_date,
           coalesce(p.session_count, 0) AS session_count,
           coalesce(p.session_nonempty_count, 0) AS session_nonempty_count,
           coalesce(p.session_exercises_sum, 0) AS session_exercises_sum,
           coalesce(p.session_accuracy_sum, 0) AS session_accuracy_sum,
           coalesce(p.timezone, 'UTC') AS timezone,
           (now() AT TIME ZONE coalesce(p.timezone, 'UTC'))::date AS today
      FROM (SELECT 1) AS one
      LEFT JOIN user_profiles p ON p.user_id = :user_id
)
"""

PROGRESS_SQL = text(
    _PROFILE_CTE
    + """
SELECT total_attempts, correct_attempts, run_at_last_day, longest_streak,
       to_char(last_practice_date, 'YYYY-MM-DD') AS last_practice_date, timezone,
       to_char(today, 'YYYY-MM-DD') AS today,
       (SELECT coalesce(json_agg(r), '[]')::text
          FROM (SELECT id, exercise_id, is_correct, user_answer, created_at, session_id
                  FROM attempts
                 WHERE user_id = :user_id
                   AND (created_at, id) < (CAST(:cursor_at AS timestamptz), CAST(:cursor_id AS bigint))
                 ORDER BY created_at DESC, id DESC
                 LIMIT :fetch) r) AS recent
  FROM profile
"""
)

STATISTICS_SQL = text(
    _PROFILE_CTE
    + """
SELECT total_attempts, correct_attempts, run_at_last_day, longest_streak,
       to_char(last_practice_date, 'YYYY-MM-DD') AS last_practice_date,
       to_char(first_practice_date, 'YYYY-MM-DD') AS first_practice_date,
       practice_days, session_count, session_nonempty_count, session_exercises_sum, session_accuracy_sum,
       to_char(today, 'YYYY-MM-DD') AS today,
       (SELECT coalesce(json_agg(e), '[]')::text
          FROM (SELECT exercise_id, attempts, correct, last_attempt_at
                  FROM user_exercise_stats
                 WHERE user_id = :user_id
                 ORDER BY attempts DESC, exercise_id
                 LIMIT 100) e) AS by_exercise,
       (SELECT json_agg(json_build_array(to_char(series.day, 'YYYY-MM-DD'), coalesce(d.attempts, 0),
                                         coalesce(d.correct, 0)) ORDER BY series.day)::text
          FROM (SELECT profile.today - i AS day FROM generate_series(0, CAST(:days AS int) - 1) AS i) series
          LEFT JOIN user_daily_stats d ON d.user_id = :user_id AND d.day = series.day) AS daily
  FROM profile
"""
)

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


def get_progress(
    user_id: int, *, limit: int = 20, cursor: str | None = None, engine: Engine | None = None
) -> ProgressResponse:
    """Totals, streaks and one page of recent attempts (newest first) for one user."""
    cursor_at, cursor_id = decode_cursor(cursor) if cursor else NO_CURSOR
    with (engine or get_engine()).connect() as conn:
        row = conn.execute(
            PROGRESS_SQL,
            {"user_id": user_id, "cursor_at": cursor_at, "cursor_id": cursor_id, "fetch": limit + 1},
        ).one()
        today = dt.date.fromisoformat(row.today)
        last = _date(row.last_practice_date)
        current = _current_streak(conn, user_id, today, last, row.run_at_last_day)
    recent: list[dict[str, Any]] = json.loads(row.recent)
    next_cursor = None
    if len(recent) > limit:
        recent = recent[:limit]
        next_cursor = encode_cursor(recent[-1]["created_at"], recent[-1]["id"])
    return ProgressResponse.model_validate(
        {
            "user_id": user_id,
            "total_attempts": row.total_attempts,
            "correct_attempts": row.correct_attempts,
            "accuracy": _accuracy(row.correct_attempts, row.total_attempts),
            "current_streak": current,
            "longest_streak": max(row.longest_streak, current),
            "last_practice_date": last,
            "timezone": row.timezone,
            "recent_attempts": recent,
            "next_cursor": next_cursor,
        }
    )


def get_statistics(user_id: int, *, days: int = 30, engine: Engine | None = None) -> StatisticsResponse:
    """Totals, streaks, sessions, per-exercise figures and a daily series of `days` local days."""
    with (engine or get_engine()).connect() as conn:
        row = conn.execute(STATISTICS_SQL, {"user_id": user_id, "days": days}).one()
        today = dt.date.fromisoformat(row.today)
        last = _date(row.last_practice_date)
        current = _current_streak(conn, user_id, today, last, row.run_at_last_day)
    by_exercise = [
        {**e, "accuracy": round(e["correct"] / e["attempts"], 6)} for e in json.loads(row.by_exercise)
    ]
    daily = [{"date": d, "attempts": a, "correct": c} for d, a, c in json.loads(row.daily)]
    sessions = row.session_count
    return StatisticsResponse.model_validate(
        {
            "user_id": user_id,
            "total_attempts": row.total_attempts,
            "correct_attempts": row.correct_attempts,
            "accuracy": _accuracy(row.correct_attempts, row.total_attempts),
            "current_streak": current,
            "longest_streak": max(row.longest_streak, current),
            "practice_days": row.practice_days,
            "first_practice_date": _date(row.first_practice_date),
            "last_practice_date": last,
            "sessions": {
                "total": sessions,
                "average_exercises": round(row.session_exercises_sum / sessions, 6) if sessions else None,
                "average_accuracy": (
                    round(row.session_accuracy_sum / row.session_nonempty_count, 6)
                    if row.session_nonempty_count
                    else None
                ),
            },
            "by_exercise": by_exercise,
            "daily": daily,
        }
    )
