"""Streaks as DESIGN.md defines them, from attempts inserted with chosen timestamps, read over HTTP."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from progress_common.streaks import compute_streaks, current_streak_at
from tests.conftest import insert_attempts_sql
from tests.events import call, http_event
from tests.helpers import aggregates_of


def local_today(engine: Engine, tz: str) -> dt.date:
    with engine.connect() as conn:
        return conn.execute(text("SELECT (now() AT TIME ZONE :tz)::date"), {"tz": tz}).scalar_one()


def set_timezone(engine: Engine, user: int, tz: str) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT progress_set_timezone_v1(:u, :tz)"), {"u": user, "tz": tz})


def practise(engine: Engine, user: int, tz: str, days: list[dt.date], *, at: dt.time = dt.time(0, 1)) -> None:
    zone = ZoneInfo(tz)
    insert_attempts_sql(
        engine,
        [
            {
                "user_id": user,
                "exercise_id": 1,
                "is_correct": i % 2 == 0,
                "created_at": dt.datetime.combine(day, at, tzinfo=zone),
            }
            for i, day in enumerate(days)
        ],
    )


def streaks_over_http(load_function, user: int) -> tuple[int, int, str | None]:
    _, _, progress = call(
        load_function("get_progress").lambda_handler,
        http_event("GET", "/progress", claims={"sub": str(user)}),
    )
    _, _, stats = call(
        load_function("get_statistics").lambda_handler,
        http_event("GET", "/progress/statistics", claims={"sub": str(user)}),
    )
    assert (progress["current_streak"], progress["longest_streak"]) == (
        stats["current_streak"],
        stats["longest_streak"],
    )
    assert progress["last_practice_date"] == stats["last_practice_date"]
    return progress["current_streak"], progress["longest_streak"], progress["last_practice_date"]


# The examples of DESIGN.md, as offsets from today: (practice days, expected (current, longest))
DESIGN_EXAMPLES = [
    ([], (0, 0)),
    ([0], (1, 1)),
    ([-1], (1, 1)),
    ([-2], (0, 1)),
    ([-3, -2, -1], (3, 3)),
    ([-10, -9, -8, -7, -6, -1, 0], (2, 5)),
    ([0, 0, 0, -1, -1], (2, 2)),  # many attempts on one day count once
]


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles", "Asia/Kolkata"])
@pytest.mark.parametrize(("offsets", "expected"), DESIGN_EXAMPLES)
def test_design_examples(db, load_function, new_user_id, tz, offsets, expected) -> None:
    user = new_user_id()
    set_timezone(db, user, tz)
    today = local_today(db, tz)
    days = [today + dt.timedelta(days=o) for o in offsets]
    practise(db, user, tz, days)
    current, longest, last = streaks_over_http(load_function, user)
    assert (current, longest) == expected
    assert last == (max(days).isoformat() if days else None)
    assert compute_streaks(days, today) == expected  # the reference definition agrees


def test_late_evening_counts_on_the_local_date_not_the_utc_one(db, load_function, new_user_id) -> None:
    user = new_user_id()
    tz = "America/Los_Angeles"
    set_timezone(db, user, tz)
    today = local_today(db, tz)
    yesterday = today - dt.timedelta(days=1)
    # 23:30 yesterday in Los Angeles is already today (or later) in UTC
    practise(db, user, tz, [yesterday], at=dt.time(23, 30))
    assert streaks_over_http(load_function, user) == (1, 1, yesterday.isoformat())
    with db.connect() as conn:
        day = conn.execute(
            text("SELECT day FROM user_daily_stats WHERE user_id = :u"), {"u": user}
        ).scalar_one()
    assert day == yesterday


def test_midnight_splits_days_in_the_users_zone(db, new_user_id) -> None:
    user = new_user_id()
    tz = "Asia/Tokyo"
    set_timezone(db, user, tz)
    zone = ZoneInfo(tz)
    insert_attempts_sql(
        db,
        [
            {
                "user_id": user,
                "exercise_id": 1,
                "is_correct": True,
                "created_at": dt.datetime(2026, 5, 1, 23, 59, 59, tzinfo=zone),
            },
            {
                "user_id": user,
                "exercise_id": 1,
                "is_correct": True,
                "created_at": dt.datetime(2026, 5, 2, 0, 0, 0, tzinfo=zone),
            },
        ],
    )
    agg = aggregates_of(db, user)
    rows = [(day, attempts) for day, attempts, _correct in agg["daily"]]
    longest = agg["profile"]["longest_streak"]
    # in UTC both are on 2026-05-01 (14:59 and 15:00); in Tokyo they are two days
    assert rows == [(dt.date(2026, 5, 1), 1), (dt.date(2026, 5, 2), 1)]
    assert longest == 2


@pytest.mark.parametrize(
    ("tz", "days"),
    [
        ("America/Los_Angeles", ["2026-03-07", "2026-03-08", "2026-03-09"]),  # spring forward on 03-08
        ("America/Los_Angeles", ["2026-10-31", "2026-11-01", "2026-11-02"]),  # fall back on 11-01
        ("Europe/Berlin", ["2026-03-28", "2026-03-29", "2026-03-30"]),
        ("Europe/Berlin", ["2026-10-24", "2026-10-25", "2026-10-26"]),
    ],
)
def test_days_around_a_dst_change_are_ordinary_days(db, new_user_id, tz, days) -> None:
    user = new_user_id()
    set_timezone(db, user, tz)
    zone = ZoneInfo(tz)
    rows = []
    for day in days:
        d = dt.date.fromisoformat(day)
        # just after midnight and just before the next, local time, on each day
        for t in (dt.time(0, 5), dt.time(23, 55)):
            rows.append(
                {
                    "user_id": user,
                    "exercise_id": 1,
                    "is_correct": True,
                    "created_at": dt.datetime.combine(d, t, tzinfo=zone),
                }
            )
    insert_attempts_sql(db, rows)
    agg = aggregates_of(db, user)
    daily = [(day, attempts) for day, attempts, _correct in agg["daily"]]
    longest = agg["profile"]["longest_streak"]
    assert [(r[0].isoformat(), r[1]) for r in daily] == [(d, 2) for d in days]
    assert longest == 3


def test_a_practice_day_after_today_does_not_break_the_current_streak(db, load_function, new_user_id) -> None:
    user = new_user_id()
    today = local_today(db, "UTC")
    # a legacy writer with a clock ahead: a day after today, apart from the run ending today
    practise(db, user, "UTC", [today - dt.timedelta(days=1), today, today + dt.timedelta(days=2)])
    current, longest, last = streaks_over_http(load_function, user)
    assert (current, longest) == (2, 2)
    assert last == (today + dt.timedelta(days=2)).isoformat()


def test_get_requests_never_write(db, load_function, new_user_id) -> None:
    user = new_user_id()
    today = local_today(db, "UTC")
    practise(db, user, "UTC", [today - dt.timedelta(days=5)])
    with db.connect() as conn:
        # xmin changes with any update of the row
        before = conn.execute(
            text("SELECT xmin::text, current_streak FROM user_profiles WHERE user_id = :u"), {"u": user}
        ).one()
    assert streaks_over_http(load_function, user)[:2] == (0, 1)
    with db.connect() as conn:
        after = conn.execute(
            text("SELECT xmin::text, current_streak FROM user_profiles WHERE user_id = :u"), {"u": user}
        ).one()
    assert before == after


def test_longest_streak_is_never_less_than_current() -> None:
    today = dt.date(2026, 1, 10)
    assert current_streak_at(today, today, 4) == 4
    assert current_streak_at(today, today - dt.timedelta(days=1), 4) == 4
    assert current_streak_at(today, today - dt.timedelta(days=2), 4) == 0
    assert current_streak_at(today, None, 0) == 0
    s = compute_streaks([today - dt.timedelta(days=i) for i in range(6)], today)
    assert s.current == 6 and s.longest == 6
