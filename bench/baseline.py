"""The old design, as the baseline: load every attempt of the user, compute progress in Python.

This is what the old monolith did (with JSON files instead of a table): no aggregates, every read
walks the whole history. It runs on the same database and engine as the real handlers, and returns
the same figures, so the comparison is of designs, not of setups.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from progress_common import clock
from tests.streak_model import streak_figures

ALL_ATTEMPTS_SQL = text(
    "SELECT id, exercise_id, is_correct, user_answer, created_at, session_id FROM attempts WHERE user_id = :u"
    " UNION ALL SELECT id, exercise_id, is_correct, user_answer, created_at, session_id FROM attempts_archive"
    " WHERE user_id = :u"
)
TIMEZONE_SQL = text("SELECT coalesce((SELECT timezone FROM user_profiles WHERE user_id = :u), 'UTC')")
COVERED_SQL = text("SELECT day FROM user_covered_days WHERE user_id = :u")


def _load(engine: Engine, user_id: int) -> tuple[list[Any], ZoneInfo, set[dt.date]]:
    with engine.connect() as conn:
        tz = ZoneInfo(conn.execute(TIMEZONE_SQL, {"u": user_id}).scalar_one())
        rows = list(conn.execute(ALL_ATTEMPTS_SQL, {"u": user_id}).all())
        covered = set(conn.execute(COVERED_SQL, {"u": user_id}).scalars())
    return rows, tz, covered


def _totals(
    user_id: int, rows: list[Any], local_days: list[dt.date], tz: ZoneInfo, covered: set[dt.date]
) -> dict[str, Any]:
    # the streak rules in Python: the tests' reference model
    streaks = streak_figures(local_days, clock.utc_now(), tz.key, covered)
    correct = sum(1 for row in rows if row.is_correct)
    return {
        "user_id": user_id,
        "total_attempts": len(rows),
        "correct_attempts": correct,
        "accuracy": round(correct / len(rows), 6) if rows else None,
        **streaks,
    }


def old_progress(engine: Engine, user_id: int, limit: int = 20) -> dict[str, Any]:
    rows, tz, covered = _load(engine, user_id)
    local_days = [row.created_at.astimezone(tz).date() for row in rows]
    recent = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]
    return {
        **_totals(user_id, rows, local_days, tz, covered),
        "recent_attempts": [
            {
                "id": r.id,
                "exercise_id": r.exercise_id,
                "is_correct": r.is_correct,
                "user_answer": r.user_answer,
                "created_at": r.created_at.isoformat(),
                "session_id": r.session_id,
            }
            for r in recent
        ],
    }


def old_statistics(engine: Engine, user_id: int, days: int = 30) -> dict[str, Any]:
    rows, tz, covered = _load(engine, user_id)
    today = clock.utc_now().astimezone(tz).date()
    local_days = [row.created_at.astimezone(tz).date() for row in rows]
    per_day: Counter[dt.date] = Counter(local_days)
    correct_per_day: Counter[dt.date] = Counter(
        d for d, r in zip(local_days, rows, strict=True) if r.is_correct
    )
    exercises: dict[int, list[Any]] = defaultdict(lambda: [0, 0, None])
    sessions: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        e = exercises[row.exercise_id]
        e[0] += 1
        e[1] += int(row.is_correct)
        e[2] = row.created_at if e[2] is None else max(e[2], row.created_at)
        if row.session_id is not None:
            s = sessions[row.session_id]
            s[0] += 1
            s[1] += int(row.is_correct)
    top = sorted(exercises.items(), key=lambda kv: (-kv[1][0], kv[0]))[:100]
    series = [today - dt.timedelta(days=days - 1 - i) for i in range(days)]
    return {
        **_totals(user_id, rows, local_days, tz, covered),
        "practice_days": len(per_day),
        "sessions": {
            "total": len(sessions),
            "average_exercises": round(sum(s[0] for s in sessions.values()) / len(sessions), 6)
            if sessions
            else None,
            "average_accuracy": (
                round(sum(s[1] / s[0] for s in sessions.values()) / len(sessions), 6) if sessions else None
            ),
        },
        "by_exercise": [
            {
                "exercise_id": k,
                "attempts": v[0],
                "correct": v[1],
                "accuracy": round(v[1] / v[0], 6),
                "last_attempt_at": v[2].isoformat(),
            }
            for k, v in top
        ],
        "daily": [
            {
                "date": d.isoformat(),
                "attempts": per_day[d],
                "correct": correct_per_day[d],
                "covered": d in covered,
            }
            for d in series
        ],
    }
