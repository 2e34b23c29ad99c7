"""Covered days: `progress-admin cover-days`, and how covered days shape streaks, the daily series, reset."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from progress_admin.cli import main
from tests.events import call, http_event
from tests.streak_model import streak_figures
from tests.test_streaks import TODAY, at, practise, read_both, set_timezone, streak_of

D = TODAY


def day(offset: int) -> dt.date:
    return D + dt.timedelta(days=offset)


def cover(*args: str) -> int:
    return main(["cover-days", *args])


def covered_rows(db, user: int) -> list[tuple]:
    with db.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT day, reason FROM user_covered_days WHERE user_id = :u ORDER BY day"), {"u": user}
            )
        ]


def test_design_example_a_covered_day_bridges_without_counting(
    db, load_function, new_user_id, set_now, capsys
):
    # {d-3, d-2} with d-1 covered -> (2, 2); practising on d makes it (3, 3)
    user = new_user_id()
    tz = "America/Los_Angeles"
    set_timezone(db, user, tz)
    practise(db, user, tz, [day(-3), day(-2)])
    set_now(at(D, tz, dt.time(9, 0)))
    assert read_both(load_function, user)[0]["current_streak"] == 0  # d-1 missed
    assert cover("--from", str(day(-1)), "--to", str(day(-1)), "--user", str(user), "--reason", "outage") == 0
    progress, stats = read_both(load_function, user, days=4)
    assert streak_of(progress) == {
        "current_streak": 2,
        "longest_streak": 2,
        "last_practice_date": day(-2).isoformat(),
        "practiced_today": False,
        "streak_expires_at": "2026-06-16T00:00:00-07:00",
    }
    assert [(d["date"], d["attempts"] > 0, d["covered"]) for d in stats["daily"]] == [
        (day(-3).isoformat(), True, False),
        (day(-2).isoformat(), True, False),
        (day(-1).isoformat(), False, True),
        (D.isoformat(), False, False),
    ]
    assert stats["practice_days"] == 2  # a covered day is no practice day
    practise(db, user, tz, [D], time=dt.time(8, 0))
    progress, _ = read_both(load_function, user)
    assert (progress["current_streak"], progress["longest_streak"], progress["practiced_today"]) == (
        3,
        3,
        True,
    )
    assert progress["streak_expires_at"] == "2026-06-17T00:00:00-07:00"


@pytest.mark.parametrize(
    ("practised", "covered", "expected"),
    [
        ([-5], [-1], (0, 1)),  # a covered run with no practice day in it counts 0
        ([-5], [-4, -3, -2, -1], (1, 1)),  # covered days carry the run to yesterday
        ([-2, -1], [0], (2, 2)),  # today covered: the run ends today
        ([-1, 0], [1, 2], (2, 2)),  # days covered ahead do not count, nor hide today
        ([-9, -8, -6, -5], [-7], (0, 4)),  # an old gap covered: the longest run grows
        ([-9, -8, -1], [-7, -6, -5, -4, -3, -2], (3, 3)),
    ],
)
def test_covered_days_keep_runs_unbroken_without_counting(
    db, load_function, new_user_id, set_now, count_sql, practised, covered, expected
) -> None:
    user = new_user_id()
    tz = "Australia/Lord_Howe"
    set_timezone(db, user, tz)
    practise(db, user, tz, [day(o) for o in practised])
    for o in covered:
        assert (
            cover("--from", str(day(o)), "--to", str(day(o)), "--user", str(user), "--reason", "repair") == 0
        )
    now = at(D, tz, dt.time(13, 0))
    set_now(now)
    count_sql.reset()
    progress, stats = read_both(load_function, user)
    assert count_sql.count == 2  # still one statement per GET
    assert (progress["current_streak"], progress["longest_streak"]) == expected
    assert streak_of(progress) == streak_figures(
        [day(o) for o in practised], now, tz, covered_days=[day(o) for o in covered]
    )
    assert {d["date"] for d in stats["daily"] if d["covered"]} == {
        day(o).isoformat() for o in covered if o <= 0
    }


def test_cover_days_is_idempotent_keeps_the_first_reason_and_reports(db, new_user_id, capsys) -> None:
    alice, bob, stranger = new_user_id(), new_user_id(), new_user_id()
    practise(db, alice, "UTC", [day(-10)])
    practise(db, bob, "UTC", [day(-10)])
    args = ["--from", str(day(-3)), "--to", str(day(-1)), "--user", f"user_{alice}", "--user", str(bob)]
    assert cover(*args, "--user", str(stranger), "--reason", "outage on the 12th") == 0
    out = capsys.readouterr().out
    assert f"covered {day(-3)}..{day(-1)} (3 days) for 2 users" in out
    assert "6 user-days newly covered, 0 already covered" in out
    assert f"user {alice}: 3 new, 0 already covered" in out
    assert f"skipped (no history): {stranger}" in out
    assert covered_rows(db, alice) == [(day(o), "outage on the 12th") for o in (-3, -2, -1)]
    with db.connect() as conn:
        first_time = conn.execute(
            text("SELECT max(covered_at) FROM user_covered_days WHERE user_id = :u"), {"u": alice}
        ).scalar_one()
    # the same command again, and an overlapping one with another reason: nothing covered twice
    assert cover(*args, "--reason", "outage on the 12th") == 0
    assert "0 user-days newly covered, 6 already covered" in capsys.readouterr().out
    assert cover("--from", str(day(-1)), "--to", str(day(0)), "--user", str(alice), "--reason", "again") == 0
    out = capsys.readouterr().out
    assert f"covered {day(-1)}..{D} (2 days) for 1 user," in out
    assert f"user {alice}: 1 new, 1 already covered" in out
    assert covered_rows(db, alice) == [(day(o), "outage on the 12th") for o in (-3, -2, -1)] + [(D, "again")]
    with db.connect() as conn:
        assert (
            conn.execute(
                text("SELECT max(covered_at) FROM user_covered_days WHERE user_id = :u AND day < :d"),
                {"u": alice, "d": D},
            ).scalar_one()
            == first_time
        )
    assert covered_rows(db, stranger) == []


def test_active_on_covers_exactly_the_users_who_practised_that_local_day(db, new_user_id, capsys) -> None:
    early, late, before, after = (new_user_id() for _ in range(4))
    # "practised on D" is the user's own practice day: 23:30 in Los Angeles on D is D+1 in UTC
    set_timezone(db, late, "America/Los_Angeles")
    practise(db, late, "America/Los_Angeles", [day(-2)], time=dt.time(23, 30))
    practise(db, early, "Asia/Tokyo", [day(-2)], time=dt.time(12, 0))
    practise(db, before, "UTC", [day(-3)])
    set_timezone(db, after, "Asia/Tokyo")
    practise(db, after, "UTC", [day(-2)], time=dt.time(20, 0))  # D-1 in Tokyo
    assert (
        cover("--from", str(day(-1)), "--to", str(day(-1)), "--active-on", str(day(-2)), "--reason", "x") == 0
    )
    out = capsys.readouterr().out
    assert "for 2 users" in out
    assert [u for u in (early, late, before, after) if covered_rows(db, u)] == [early, late]


def test_reset_removes_covered_days(db, load_function, new_user_id, set_now) -> None:
    user, other = new_user_id(), new_user_id()
    practise(db, user, "UTC", [day(-2)])
    practise(db, other, "UTC", [day(-2)])
    assert (
        cover(
            "--from",
            str(day(-1)),
            "--to",
            str(day(-1)),
            "--user",
            str(user),
            "--user",
            str(other),
            "--reason",
            "r",
        )
        == 0
    )
    set_now(at(D, "UTC"))
    status, _, _ = call(
        load_function("reset_progress").lambda_handler,
        http_event("POST", "/progress/reset", claims={"sub": str(user)}),
    )
    assert status == 200
    assert covered_rows(db, user) == []
    assert covered_rows(db, other) == [(day(-1), "r")]
    progress, stats = read_both(load_function, user)
    assert (progress["current_streak"], progress["longest_streak"], progress["streak_expires_at"]) == (
        0,
        0,
        None,
    )
    assert not any(d["covered"] for d in stats["daily"])
    # practising again after the reset: the old covered day does not come back
    practise(db, user, "UTC", [day(-2)])
    assert read_both(load_function, user)[0]["current_streak"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-06-10", "--to", "2026-06-09", "--user", "7", "--reason", "x"], "is after --to"),
        (["--from", "2025-01-01", "--to", "2026-06-09", "--user", "7", "--reason", "x"], "at most 366 days"),
        (["--from", "2026-06-10", "--to", "2026-06-10", "--user", "7", "--reason", "  "], "reason"),
        (["--from", "2026-06-10", "--to", "2026-06-10", "--user", "7abc", "--reason", "x"], "user id"),
    ],
)
def test_cover_days_refuses_bad_requests_before_touching_the_database(
    args, message, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://root@127.0.0.1:1/nowhere")
    assert cover(*args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--from", "2026-06-10", "--to", "2026-06-10", "--reason", "x"],  # nobody named
        [
            "--from",
            "2026-06-10",
            "--to",
            "2026-06-10",
            "--user",
            "7",
            "--active-on",
            "2026-06-09",
            "--reason",
            "x",
        ],
        ["--from", "2026-06-31", "--to", "2026-07-01", "--user", "7", "--reason", "x"],
        ["--from", "2026-06-10", "--to", "2026-06-10", "--user", "7"],  # no reason
    ],
)
def test_cover_days_usage_errors(args, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cover(*args)
    assert exit_info.value.code == 2


def test_cover_days_waits_for_a_writer_of_the_same_user_and_loses_no_day(
    db, load_function, new_user_id, set_now
) -> None:
    """A writer holds the user's profile row; cover-days waits for it, then sees its new practice day."""
    import threading

    from progress_admin.covered import cover_days
    from progress_common.db import make_engine
    from progress_common.settings import get_settings

    user = new_user_id()
    practise(db, user, "UTC", [day(-3)])
    writer_engine = make_engine(get_settings(), pool_size=1, autocommit=False)
    try:
        with writer_engine.connect() as writer:
            # the write path's trigger locks the profile first: the writer is mid-transaction
            writer.execute(
                text(
                    "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                    " VALUES (:u, 1, true, :t)"
                ),
                {"u": user, "t": at(day(-1), "UTC")},
            )
            done = threading.Event()
            thread = threading.Thread(
                target=lambda: (cover_days(db, day(-2), day(-2), "race", user_ids=[user]), done.set())
            )
            thread.start()
            assert not done.wait(1.0), "cover-days did not wait for the writer's lock"
            writer.commit()
            thread.join(30)
            assert done.is_set()
    finally:
        writer_engine.dispose()
    set_now(at(D, "UTC"))
    progress, _ = read_both(load_function, user)
    # d-3 practised, d-2 covered, d-1 practised: one run of 2, ending yesterday
    assert (progress["current_streak"], progress["longest_streak"]) == (2, 2)


@pytest.mark.parametrize(
    ("first", "last", "reason", "users", "active_on"),
    [
        ("2026-06-10", "2026-06-09", "x", "{7}", None),  # backwards
        ("2025-06-01", "2026-06-09", "x", "{7}", None),  # more than 366 days
        ("2026-06-10", "2026-06-10", " ", "{7}", None),  # no reason
        ("2026-06-10", "2026-06-10", "x", None, None),  # nobody
        ("2026-06-10", "2026-06-10", "x", "{7}", "2026-06-09"),  # both ways of naming users
    ],
)
def test_the_database_function_refuses_what_the_command_refuses(
    db, first, last, reason, users, active_on
) -> None:
    from sqlalchemy import exc as sa_exc

    from progress_admin.covered import COVER_SQL

    practise(db, 7, "UTC", [day(-1)])
    with pytest.raises(sa_exc.DBAPIError) as failure, db.connect() as conn:
        conn.execute(
            COVER_SQL,
            {"first": first, "last": last, "reason": reason, "users": users, "active_on": active_on},
        )
    assert "22023" in str(failure.value)
    assert covered_rows(db, 7) == []
