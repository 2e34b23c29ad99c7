"""Streaks (DESIGN.md, Streaks): practice days are local calendar dates with at least one attempt.

The database keeps, per user, the run of consecutive practice days that ends at the last practice day
(`current_streak` in user_profiles) and the longest run. "Today" is applied here, at read time, so a GET
never writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

ONE_DAY = dt.timedelta(days=1)


class Streaks(NamedTuple):
    current: int
    longest: int


def current_streak_at(today: dt.date, last_practice_date: dt.date | None, run_ending_at_last_day: int) -> int:
    """The current streak on `today`, given the run that ends at the last practice day.

    The run counts when it ends today, or yesterday (the user has not practised yet today); else 0.
    A last practice day after today (a clock ahead, a timezone moved west) is handled by the caller,
    which asks the database for the run ending today or yesterday instead.
    """
    if last_practice_date is None:
        return 0
    if last_practice_date in (today, today - ONE_DAY):
        return run_ending_at_last_day
    return 0


def compute_streaks(practice_days: Iterable[dt.date], today: dt.date) -> Streaks:
    """The reference definition, from the set of practice days (the benchmark baseline and the tests
    check the database's cached runs against it)."""
    days = sorted(set(practice_days))
    longest = run = 0
    previous: dt.date | None = None
    run_ending: dict[dt.date, int] = {}
    for day in days:
        run = run + 1 if previous is not None and day - previous == ONE_DAY else 1
        run_ending[day] = run
        longest = max(longest, run)
        previous = day
    current = run_ending.get(today) or run_ending.get(today - ONE_DAY) or 0
    return Streaks(current=current, longest=max(longest, current))
