"""Streaks as docs/design.md defines them, read through both GET handlers on the real database.

"Now" is set with the `set_now` fixture (the layer's clock), so each test fixes its own "today".
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from tests.conftest import insert_attempts_sql
from tests.events import FakeLambdaContext, call, http_event, sqs_event, sqs_record
from tests.helpers import aggregates_of
from tests.streak_model import streak_figures

TODAY = dt.date(2026, 6, 15)
STREAK_FIELDS = (
    "current_streak",
    "longest_streak",
    "last_practice_date",
    "practiced_today",
    "streak_expires_at",
)


def at(day: dt.date, tz: str, time: dt.time = dt.time(12, 0)) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=ZoneInfo(tz))


def set_timezone(engine: Engine, user: int, tz: str) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT progress_set_timezone_v1(:u, :tz)"), {"u": user, "tz": tz})


def practise(
    engine: Engine, user: int, tz: str, days: list[dt.date], *, time: dt.time = dt.time(0, 1)
) -> None:
    insert_attempts_sql(
        engine,
        [
            {"user_id": user, "exercise_id": 1, "is_correct": i % 2 == 0, "created_at": at(day, tz, time)}
            for i, day in enumerate(days)
        ],
    )


def read_both(load_function, user: int, days: int = 30) -> tuple[dict, dict]:
    """GET /progress and GET /progress/statistics; their shared streak fields must agree."""
    status, _, progress = call(
        load_function("get_progress").lambda_handler,
        http_event("GET", "/progress", claims={"sub": str(user)}),
    )
    assert status == 200, progress
    status, _, stats = call(
        load_function("get_statistics").lambda_handler,
        http_event("GET", "/progress/statistics", query={"days": str(days)}, claims={"sub": str(user)}),
    )
    assert status == 200, stats
    assert streak_of(progress) == streak_of(stats)
    return progress, stats


def streak_of(body: dict) -> dict:
    return {field: body[field] for field in STREAK_FIELDS}


def deliver(load_function, *bodies: dict) -> None:
    """One SQS batch through RecordAttemptsFunction; every message must be accepted."""
    event = sqs_event(*(sqs_record(json.dumps(body)) for body in bodies))
    result = load_function("record_attempts").lambda_handler(event, FakeLambdaContext())
    assert result["batchItemFailures"] == []


def attempt(user: int, created_at: dt.datetime, **extra: object) -> dict:
    return {
        "attempt_uid": str(uuid.uuid4()),
        "user_id": user,
        "exercise_id": 1,
        "is_correct": True,
        "user_answer": "a",
        "created_at": created_at.isoformat(),
        **extra,
    }


# The examples of docs/design.md, as offsets from today: (practice days, expected (current, longest))
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
def test_design_examples(db, load_function, new_user_id, set_now, tz, offsets, expected) -> None:
    user = new_user_id()
    set_timezone(db, user, tz)
    days = [TODAY + dt.timedelta(days=o) for o in offsets]
    practise(db, user, tz, days)
    set_now(at(TODAY, tz, dt.time(18, 0)))
    progress, _ = read_both(load_function, user)
    assert (progress["current_streak"], progress["longest_streak"]) == expected
    assert progress["last_practice_date"] == (max(days).isoformat() if days else None)
    assert progress["practiced_today"] == (TODAY in days)
    assert streak_of(progress) == streak_figures(days, at(TODAY, tz, dt.time(18, 0)), tz)


@pytest.mark.parametrize(
    ("tz", "practised", "now", "expires"),
    [
        # Lord Howe moves by 30 minutes: +10:30 in winter, +11:00 in summer (from 2026-10-04 02:00)
        (
            "Australia/Lord_Howe",
            ["2026-10-02", "2026-10-03"],
            "2026-10-03T12:00",
            "2026-10-05T00:00:00+11:00",
        ),
        ("Australia/Lord_Howe", ["2026-10-03"], "2026-10-04T12:00", "2026-10-05T00:00:00+11:00"),
        ("Australia/Lord_Howe", ["2026-10-02"], "2026-10-03T23:00", "2026-10-04T00:00:00+10:30"),
        ("Australia/Lord_Howe", ["2026-04-04"], "2026-04-04T08:00", "2026-04-06T00:00:00+10:30"),
        ("Australia/Lord_Howe", ["2026-04-04"], "2026-04-05T08:00", "2026-04-06T00:00:00+10:30"),
        # Los Angeles moves by an hour: spring forward 2026-03-08, fall back 2026-11-01
        ("America/Los_Angeles", ["2026-03-07"], "2026-03-07T20:00", "2026-03-09T00:00:00-07:00"),
        ("America/Los_Angeles", ["2026-03-07"], "2026-03-08T20:00", "2026-03-09T00:00:00-07:00"),
        (
            "America/Los_Angeles",
            ["2026-10-30", "2026-10-31"],
            "2026-11-01T09:00",
            "2026-11-02T00:00:00-08:00",
        ),
        ("America/Los_Angeles", ["2026-11-01"], "2026-11-01T09:00", "2026-11-03T00:00:00-08:00"),
    ],
)
def test_streak_expires_at_local_midnight_across_dst(
    db, load_function, new_user_id, set_now, tz, practised, now, expires
) -> None:
    user = new_user_id()
    set_timezone(db, user, tz)
    days = [dt.date.fromisoformat(d) for d in practised]
    practise(db, user, tz, days, time=dt.time(7, 30))
    instant = dt.datetime.fromisoformat(now).replace(tzinfo=ZoneInfo(tz))
    set_now(instant)
    progress, _ = read_both(load_function, user)
    assert progress["streak_expires_at"] == expires
    assert progress["practiced_today"] == (instant.date() in days)
    assert progress["current_streak"] == len(days)
    assert streak_of(progress) == streak_figures(days, instant, tz)
    # one minute before expiry the streak still stands; at the instant itself it is gone
    deadline = dt.datetime.fromisoformat(expires)
    set_now(deadline - dt.timedelta(minutes=1))
    assert read_both(load_function, user)[0]["current_streak"] == len(days)
    set_now(deadline)
    after = read_both(load_function, user)[0]
    assert (after["current_streak"], after["streak_expires_at"]) == (0, None)


def test_late_evening_counts_on_the_local_date_not_the_utc_one(
    db, load_function, new_user_id, set_now
) -> None:
    user = new_user_id()
    tz = "America/Los_Angeles"
    set_timezone(db, user, tz)
    yesterday = TODAY - dt.timedelta(days=1)
    # 23:30 yesterday in Los Angeles is already today in UTC
    practise(db, user, tz, [yesterday], time=dt.time(23, 30))
    set_now(at(TODAY, tz, dt.time(10, 0)))
    progress, stats = read_both(load_function, user)
    assert streak_of(progress) == {
        "current_streak": 1,
        "longest_streak": 1,
        "last_practice_date": yesterday.isoformat(),
        "practiced_today": False,
        "streak_expires_at": "2026-06-16T00:00:00-07:00",
    }
    assert [(d["date"], d["attempts"]) for d in stats["daily"][-2:]] == [
        (yesterday.isoformat(), 1),
        (TODAY.isoformat(), 0),
    ]


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
    # in UTC both are on 2026-05-01 (14:59 and 15:00); in Tokyo they are two days
    assert [(day, attempts) for day, attempts, _correct in agg["daily"]] == [
        (dt.date(2026, 5, 1), 1),
        (dt.date(2026, 5, 2), 1),
    ]
    assert agg["profile"]["longest_streak"] == 2


@pytest.mark.parametrize(
    ("tz", "days"),
    [
        ("America/Los_Angeles", ["2026-03-07", "2026-03-08", "2026-03-09"]),  # spring forward on 03-08
        ("America/Los_Angeles", ["2026-10-31", "2026-11-01", "2026-11-02"]),  # fall back on 11-01
        ("Europe/Berlin", ["2026-03-28", "2026-03-29", "2026-03-30"]),
        ("Australia/Lord_Howe", ["2026-10-03", "2026-10-04", "2026-10-05"]),
    ],
)
def test_days_around_a_dst_change_are_ordinary_days(
    db, load_function, new_user_id, set_now, tz, days
) -> None:
    user = new_user_id()
    set_timezone(db, user, tz)
    for day in days:
        # just after midnight and just before the next, local time, on each day
        for time in (dt.time(0, 5), dt.time(23, 55)):
            practise(db, user, tz, [dt.date.fromisoformat(day)], time=time)
    set_now(at(dt.date.fromisoformat(days[-1]), tz, dt.time(23, 58)))
    progress, stats = read_both(load_function, user, days=3)
    assert [(d["date"], d["attempts"]) for d in stats["daily"]] == [(d, 2) for d in days]
    assert (progress["current_streak"], progress["longest_streak"], progress["practiced_today"]) == (
        3,
        3,
        True,
    )


def test_late_events_that_fill_a_gap_heal_the_streak(db, load_function, new_user_id, set_now) -> None:
    user = new_user_id()
    tz = "Europe/Berlin"
    days = [TODAY - dt.timedelta(days=n) for n in (3, 1, 0)]
    deliver(load_function, *(attempt(user, at(day, tz), timezone=tz) for day in days))
    set_now(at(TODAY, tz, dt.time(21, 0)))
    assert read_both(load_function, user)[0]["current_streak"] == 2
    # the attempt of two days ago arrives late, after the newer ones
    deliver(load_function, attempt(user, at(TODAY - dt.timedelta(days=2), tz), timezone=tz))
    progress, _ = read_both(load_function, user)
    assert (progress["current_streak"], progress["longest_streak"]) == (4, 4)


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        # (current, longest, practiced_today, expires): only days up to today make the current streak
        ([-1, 0, 2], (2, 2, True, "2026-06-17T00:00:00+00:00")),
        ([-1, 1], (1, 1, False, "2026-06-16T00:00:00+00:00")),
        ([1, 2, 3], (0, 3, False, None)),
        ([-3, -2, -1, 1, 2, 3, 4], (3, 4, False, "2026-06-16T00:00:00+00:00")),
    ],
)
def test_practice_days_after_today_in_one_statement(
    db, load_function, new_user_id, set_now, count_sql, offsets, expected
) -> None:
    # a timezone that moved west (or a clock ahead) leaves practice days after "today"
    user = new_user_id()
    days = [TODAY + dt.timedelta(days=o) for o in offsets]
    practise(db, user, "UTC", days)
    set_now(at(TODAY, "UTC"))
    count_sql.reset()
    progress, _ = read_both(load_function, user)
    assert count_sql.count == 2  # one statement per GET, the run up to today included
    figures = (
        progress["current_streak"],
        progress["longest_streak"],
        progress["practiced_today"],
        progress["streak_expires_at"],
    )
    assert figures == expected
    assert progress["last_practice_date"] == max(days).isoformat()
    assert streak_of(progress) == streak_figures(days, at(TODAY, "UTC"), "UTC")


def test_get_requests_never_write(db, load_function, new_user_id, set_now) -> None:
    user = new_user_id()
    practise(db, user, "UTC", [TODAY - dt.timedelta(days=5), TODAY + dt.timedelta(days=1)])
    set_now(at(TODAY, "UTC"))

    def snapshot() -> list:
        with db.connect() as conn:
            # xmin changes with any update of a row
            return [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT 'p', xmin::text FROM user_profiles WHERE user_id = :u"
                        " UNION ALL SELECT 'd', xmin::text FROM user_daily_stats WHERE user_id = :u ORDER BY 1, 2"
                    ),
                    {"u": user},
                )
            ]

    before = snapshot()
    progress, _ = read_both(load_function, user)
    assert (progress["current_streak"], progress["longest_streak"]) == (0, 1)
    assert snapshot() == before


def test_heatmap_and_streak_come_from_one_daily_aggregate(db, load_function, new_user_id, set_now) -> None:
    user = new_user_id()
    tz = "Asia/Kathmandu"  # +05:45
    set_timezone(db, user, tz)
    offsets = [-20, -19, -12, -11, -10, -9, -3, -2, -1]
    practise(db, user, tz, [TODAY + dt.timedelta(days=o) for o in offsets], time=dt.time(23, 50))
    set_now(at(TODAY, tz, dt.time(6, 0)))
    progress, stats = read_both(load_function, user, days=30)
    heatmap_days = [dt.date.fromisoformat(d["date"]) for d in stats["daily"] if d["attempts"]]
    assert heatmap_days == [TODAY + dt.timedelta(days=o) for o in offsets]
    assert streak_of(progress) == streak_figures(heatmap_days, at(TODAY, tz, dt.time(6, 0)), tz)
    assert (progress["current_streak"], progress["longest_streak"]) == (3, 4)


def test_profiles_written_before_0005_read_the_same_after_the_upgrade(load_function, set_now) -> None:
    """Migration 0005 adds streak_run_end without a backfill: NULL must read as last_practice_date."""
    from progress_admin.scratch import scratch_database
    from progress_common.queries import get_progress, get_statistics
    from progress_common.settings import load_settings
    from progress_schema.database import admin_engine, migrate

    tz = "Europe/Berlin"
    offsets = [-10, -3, -2, -1]
    with scratch_database("progress_upgrade") as database:
        settings = load_settings({"DATABASE_URL": database.url})
        migrate(settings, "0004")
        engine = admin_engine(settings)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT progress_set_timezone_v1(7, :tz)"), {"tz": tz})
            practise(engine, 7, tz, [TODAY + dt.timedelta(days=o) for o in offsets])
            migrate(settings)
            with engine.connect() as conn:
                assert (
                    conn.execute(text("SELECT streak_run_end FROM user_profiles WHERE user_id = 7")).scalar()
                    is None
                )
            now = at(TODAY, tz, dt.time(9, 0))
            set_now(now)
            expected = streak_figures([TODAY + dt.timedelta(days=o) for o in offsets], now, tz)
            assert (expected["current_streak"], expected["longest_streak"]) == (3, 3)
            progress = get_progress(7, engine=engine).model_dump(mode="json")
            stats = get_statistics(7, engine=engine).model_dump(mode="json")
            assert streak_of(progress) == streak_of(stats) == expected
            # the next practice day refreshes the profile and fills streak_run_end
            practise(engine, 7, tz, [TODAY])
            with engine.connect() as conn:
                assert (
                    conn.execute(text("SELECT streak_run_end FROM user_profiles WHERE user_id = 7")).scalar()
                    == TODAY
                )
            assert get_progress(7, engine=engine).current_streak == 4
        finally:
            engine.dispose()


def test_a_zone_only_postgresql_knows_still_reads(db, load_function, new_user_id, set_now) -> None:
    # a legacy writer stored an abbreviation PostgreSQL accepts and Python's zoneinfo does not
    user = new_user_id()
    practise(db, user, "UTC", [TODAY])
    with db.connect() as conn:
        conn.execute(text("UPDATE user_profiles SET timezone = 'PST' WHERE user_id = :u"), {"u": user})
    set_now(at(TODAY, "UTC", dt.time(20, 0)))
    progress, _ = read_both(load_function, user)
    assert progress["current_streak"] == 1 and progress["timezone"] == "PST"
    assert dt.datetime.fromisoformat(progress["streak_expires_at"]) == dt.datetime(
        2026, 6, 17, 8, tzinfo=dt.UTC
    )


def test_flying_west_leaves_a_practice_day_after_today(
    db, load_function, new_user_id, set_now, count_sql
) -> None:
    user = new_user_id()
    tokyo, los_angeles = "Asia/Tokyo", "America/Los_Angeles"
    # 08:00 on the 15th in Tokyo (23:00 UTC on the 14th), then 17:00 on the 14th in Los Angeles, an hour later
    deliver(load_function, attempt(user, at(TODAY, tokyo, dt.time(8, 0)), timezone=tokyo))
    deliver(
        load_function,
        attempt(user, at(TODAY - dt.timedelta(days=1), los_angeles, dt.time(17, 0)), timezone=los_angeles),
    )
    set_now(at(TODAY - dt.timedelta(days=1), los_angeles, dt.time(18, 0)))
    count_sql.reset()
    progress, _ = read_both(load_function, user)
    assert count_sql.count == 2
    assert progress["timezone"] == los_angeles
    assert streak_of(progress) == {
        "current_streak": 1,  # the 15th has not come yet in Los Angeles
        "longest_streak": 2,
        "last_practice_date": TODAY.isoformat(),
        "practiced_today": True,
        "streak_expires_at": "2026-06-16T00:00:00-07:00",
    }
    # when the 15th comes in Los Angeles, it is a practice day already
    set_now(at(TODAY, los_angeles, dt.time(9, 0)))
    later, _ = read_both(load_function, user)
    assert (later["current_streak"], later["practiced_today"], later["streak_expires_at"]) == (
        2,
        True,
        "2026-06-17T00:00:00-07:00",
    )
