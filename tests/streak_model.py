"""The reference model of docs/design.md "Streaks", for the tests only: small, obvious, slow.

It walks calendar days one at a time and knows nothing of how the service stores or caches anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

ONE_DAY = dt.timedelta(days=1)


def runs(days: set[dt.date], covered: set[dt.date]) -> list[tuple[dt.date, int]]:
    """Every run of consecutive practised-or-covered days: (its last day, its practice days)."""
    found: list[tuple[dt.date, int]] = []
    marked = sorted(days | covered)
    for i, day in enumerate(marked):
        if i == 0 or marked[i - 1] != day - ONE_DAY:
            found.append((day, 0))
        found[-1] = (day, found[-1][1] + (day in days))
    return found


def streak_figures(
    practice_days: Iterable[dt.date],
    now: dt.datetime,
    timezone: str,
    covered_days: Iterable[dt.date] = (),
    legacy_longest: int = 0,
) -> dict[str, Any]:
    """current_streak, longest_streak, last_practice_date, practiced_today, streak_expires_at, as the API
    shows them (dates and instants as ISO strings)."""
    zone = ZoneInfo(timezone)
    days, covered = set(practice_days), set(covered_days)
    today = now.astimezone(zone).date()
    # walk back from today (or yesterday) over practised or covered days, counting practised ones
    start = today if today in days | covered else today - ONE_DAY
    current, day = 0, start
    while day in days | covered:
        current += day in days
        day -= ONE_DAY
    longest = max([length for _, length in runs(days, covered)] + [legacy_longest, 0])
    expires = None
    if current:
        # local midnight at the start of the second day after the run's last day
        end = start + 2 * ONE_DAY
        expires = dt.datetime(end.year, end.month, end.day, tzinfo=zone).isoformat()
    return {
        "current_streak": current,
        "longest_streak": longest,
        "last_practice_date": max(days).isoformat() if days else None,
        "practiced_today": today in days,
        "streak_expires_at": expires,
    }


def daily_series(
    counts: dict[dt.date, tuple[int, int]],
    covered: Iterable[dt.date],
    today: dt.date,
    length: int,
    daily_goal: int = 10,
) -> list[dict[str, Any]]:
    """The statistics `daily` list: `length` days ending today, oldest first, zeros included (no rest days,
    freezes or repairs: the kinds are practice, covered or none; the goal `daily_goal` attempts)."""
    covered = set(covered)
    series = []
    for back in range(length - 1, -1, -1):
        day = today - back * ONE_DAY
        attempts, correct = counts.get(day, (0, 0))
        kind = "practice" if day in counts else "covered" if day in covered else None
        series.append(
            {
                "date": day.isoformat(),
                "attempts": attempts,
                "correct": correct,
                "covered": day in covered,
                "kind": kind,
                "goal_met": attempts >= daily_goal,
            }
        )
    return series
