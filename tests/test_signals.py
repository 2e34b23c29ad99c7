"""Streak-at-risk signals, the data side (docs/signals.md "Signals"): the sweep's signals step
(progress_signals_sweep_v1, run as `run_sweep` runs it, minute by minute on a given clock), the outbox, the
publisher's re-check (progress_signals_pending_v1) and marks, the reminders settings and the pause, on the
real database. Learners in UTC, America/Los_Angeles and Australia/Lord_Howe, across DST changes.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from progress_common.sweep import sweep_signals, sweep_signals_batch
from tests.conftest import insert_attempts_sql

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)
D = dt.timedelta(days=1)


def local(day: dt.date, tz: str, hh: int, mm: int = 0, fold: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC)


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def outbox(engine: Engine, user: int, kind: str | None = None) -> list[dict[str, Any]]:
    return rows(
        engine,
        "SELECT * FROM signal_outbox WHERE user_id = :u AND (CAST(:k AS text) IS NULL OR kind = :k) ORDER BY id",
        u=user,
        k=kind,
    )


def set_timezone(engine: Engine, user: int, tz: str) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT progress_set_timezone_v1(:u, :tz)"), {"u": user, "tz": tz})


def practise_at(engine: Engine, user: int, *instants: dt.datetime) -> None:
    insert_attempts_sql(
        engine, [{"user_id": user, "exercise_id": 1, "is_correct": True, "created_at": t} for t in instants]
    )


def reminders(engine: Engine, user: int, now: dt.datetime, **changes: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        answer = conn.execute(
            text("SELECT progress_settings_put_v2(:u, :now, CAST(:c AS jsonb))"),
            {"u": user, "now": now, "c": json.dumps({"reminders": changes})},
        ).scalar_one()
    return answer if isinstance(answer, dict) else json.loads(answer)


def live(engine: Engine, start: dt.datetime, end: dt.datetime, step: dt.timedelta = MINUTE) -> None:
    """Run the signals step of every sweep from start to end (inclusive), as `progress-admin sweep --at` does."""
    now = start
    while now <= end:
        sweep_signals(now, engine=engine)
        now += step


def pending(engine: Engine, now: dt.datetime, limit: int = 100) -> list[dict[str, Any]]:
    return rows(engine, "SELECT * FROM progress_signals_pending_v1(:n, :now)", n=limit, now=now)


def mark(engine: Engine, published: list[int], failed: list[int], now: dt.datetime) -> dict[str, int]:
    with engine.connect() as conn:
        answer = conn.execute(
            text("SELECT progress_signals_mark_v1(CAST(:p AS bigint[]), CAST(:f AS bigint[]), :now)"),
            {"p": published, "f": failed, "now": now},
        ).scalar_one()
    return answer if isinstance(answer, dict) else json.loads(answer)


@pytest.fixture
def learner(db, new_user_id, streak_limits):
    """make(tz, practised days at noon local): a learner with the default limits (2 starter freezes)."""
    streak_limits()

    def make(tz: str, days: list[dt.date]) -> int:
        user = new_user_id()
        set_timezone(db, user, tz)
        practise_at(db, user, *(local(day, tz, 12) for day in days))
        return user

    return make


# ---- streak_saver ----------------------------------------------------------------------------------------

TODAY = dt.date(2026, 6, 17)  # a Wednesday


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles", "Australia/Lord_Howe"])
def test_the_streak_saver_goes_out_at_the_reminder_time_only_when_at_risk(db, learner, tz) -> None:
    at_risk = learner(tz, [TODAY - 2 * D, TODAY - D])
    practised = learner(tz, [TODAY - 2 * D, TODAY - D, TODAY])
    no_streak = learner(tz, [TODAY - 9 * D])
    live(db, local(TODAY, tz, 19, 50), local(TODAY, tz, 20, 10))
    (saver,) = outbox(db, at_risk)
    assert saver["kind"] == "streak_saver" and saver["local_day"] == TODAY
    assert saver["due_at"] == saver["created_at"] == local(TODAY, tz, 20)
    assert saver["status"] == "pending"
    assert saver["detail"] == {
        "current_streak": 2,
        "freezes_held": 2,
        "rest_day": False,
        "freeze_would_be_spent": True,
        "streak_expires_at": saver["detail"]["streak_expires_at"],
    }
    assert outbox(db, practised, "streak_saver") == [] and outbox(db, no_streak) == []
    # one per local day: the rest of the day writes no second one
    live(db, local(TODAY, tz, 20, 10), local(TODAY, tz, 23, 50), dt.timedelta(minutes=20))
    assert len(outbox(db, at_risk, "streak_saver")) == 1


def test_without_freezes_the_saver_says_none_would_be_spent(db, new_user_id, streak_limits) -> None:
    streak_limits(freeze_starter=0, freeze_max_held=0)
    user = new_user_id()
    practise_at(db, user, local(TODAY - D, "UTC", 12))
    live(db, local(TODAY, "UTC", 20), local(TODAY, "UTC", 20))
    (saver,) = outbox(db, user)
    assert saver["detail"]["freeze_would_be_spent"] is False and saver["detail"]["freezes_held"] == 0


@pytest.mark.parametrize(
    ("tz", "day", "reminder", "expected"),
    [
        # the spring gap: 02:30 does not exist, it moves forward by the gap (1 h: 03:30; Lord Howe 30 min: 02:45)
        ("America/Los_Angeles", dt.date(2026, 3, 8), "02:30", dt.datetime(2026, 3, 8, 10, 30, tzinfo=UTC)),
        ("Australia/Lord_Howe", dt.date(2026, 10, 4), "02:15", dt.datetime(2026, 10, 3, 15, 45, tzinfo=UTC)),
        # the repeated hour: the first one
        ("America/Los_Angeles", dt.date(2026, 11, 1), "01:30", dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("Australia/Lord_Howe", dt.date(2026, 4, 5), "01:45", dt.datetime(2026, 4, 4, 14, 45, tzinfo=UTC)),
        # the default 20:00 on the days of the change
        ("America/Los_Angeles", dt.date(2026, 3, 8), None, dt.datetime(2026, 3, 9, 3, 0, tzinfo=UTC)),
        ("America/Los_Angeles", dt.date(2026, 11, 1), None, dt.datetime(2026, 11, 2, 4, 0, tzinfo=UTC)),
        ("Australia/Lord_Howe", dt.date(2026, 10, 4), None, dt.datetime(2026, 10, 4, 9, 0, tzinfo=UTC)),
        ("Australia/Lord_Howe", dt.date(2026, 4, 5), None, dt.datetime(2026, 4, 5, 9, 30, tzinfo=UTC)),
    ],
)
def test_reminder_times_across_dst_changes(db, learner, tz, day, reminder, expected) -> None:
    user = learner(tz, [day - 2 * D, day - D])
    if reminder:
        reminders(db, user, local(day - D, tz, 13), reminder_time=reminder)
    live(db, expected - 15 * MINUTE, expected + 15 * MINUTE)
    (saver,) = outbox(db, user)
    assert (saver["kind"], saver["local_day"]) == ("streak_saver", day)
    assert saver["due_at"] == saver["created_at"] == expected


def test_a_saver_is_rechecked_at_send_time_and_suppressed_when_practice_arrived(db, learner) -> None:
    user = learner("America/Los_Angeles", [TODAY - D])
    live(db, local(TODAY, "America/Los_Angeles", 19, 58), local(TODAY, "America/Los_Angeles", 20, 0))
    (saver,) = outbox(db, user)
    # practice arrives before the publisher runs: the row is suppressed with its reason, never returned
    practise_at(db, user, local(TODAY, "America/Los_Angeles", 20, 0) + dt.timedelta(seconds=20))
    assert pending(db, local(TODAY, "America/Los_Angeles", 20, 1)) == []
    (row,) = outbox(db, user)
    assert (row["id"], row["status"], row["suppressed_reason"]) == (saver["id"], "suppressed", "practised")


def test_the_publisher_reads_pending_rows_in_id_order_and_marks_them(db, learner) -> None:
    users = [learner("UTC", [TODAY - D]) for _ in range(3)]
    live(db, local(TODAY, "UTC", 20), local(TODAY, "UTC", 20))
    now = local(TODAY, "UTC", 20, 1)
    got = pending(db, now)
    assert [r["user_id"] for r in got] == users and [r["id"] for r in got] == sorted(r["id"] for r in got)
    assert set(got[0]) == {"id", "user_id", "kind", "local_day", "due_at", "detail"}
    assert mark(db, [got[0]["id"], got[1]["id"]], [got[2]["id"]], now) == {"published": 2, "failed": 1}
    # a published row is not marked again; the failed one is pending for the next sweep
    assert mark(db, [got[0]["id"]], [], now) == {"published": 0, "failed": 0}
    (left,) = pending(db, now)
    assert left["id"] == got[2]["id"]
    (row,) = [r for r in outbox(db, users[2])]
    assert (row["status"], row["publish_attempts"]) == ("pending", 1)
    published = outbox(db, users[0])[0]
    assert (published["status"], published["published_at"], published["publish_attempts"]) == (
        "published",
        now,
        1,
    )


def test_two_overlapping_sweeps_write_each_signal_once_and_lose_none(db, learner) -> None:
    users = [learner("UTC", [TODAY - D]) for _ in range(4)]
    now = local(TODAY, "UTC", 20)
    with db.connect() as first:
        tx = first.begin()
        answer = first.execute(text("SELECT progress_signals_sweep_v1(:now, 2)"), {"now": now}).scalar_one()
        assert answer["written"] == 2
        # the second sweep, while the first holds its learners: it takes the others
        second = sweep_signals_batch(now, engine=db, limit=10)
        assert (second["evaluated"], second["written"]) == (2, 2)
        tx.commit()
    # and once the first committed, nothing is left to write
    assert sweep_signals_batch(now, engine=db)["written"] == 0
    # even when a learner is planned again at once (the write path's -infinity), the unique key holds
    with db.begin() as conn:
        conn.execute(
            text("UPDATE user_profiles SET next_signal_at = '-infinity' WHERE user_id = ANY(:u)"),
            {"u": users},
        )
    assert sweep_signals_batch(now + MINUTE, engine=db)["written"] == 0
    assert [len(outbox(db, u)) for u in users] == [1, 1, 1, 1]


def test_the_sweep_reads_the_due_learners_by_the_index_only(db, learner) -> None:
    learner("UTC", [TODAY - D])
    with db.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                text(
                    "EXPLAIN SELECT p.* FROM user_profiles p WHERE p.next_signal_at <= now()"
                    " ORDER BY p.next_signal_at LIMIT 500 FOR UPDATE SKIP LOCKED"
                )
            )
        )
    assert "user_profiles_next_signal_idx" in plan and "Seq Scan" not in plan


# ---- the other kinds -------------------------------------------------------------------------------------


def test_a_milestone_goes_out_once_per_run(db, learner) -> None:
    user = learner("UTC", [TODAY - 2 * D, TODAY - D])
    practise_at(db, user, local(TODAY, "UTC", 10))
    live(db, local(TODAY, "UTC", 10, 1), local(TODAY, "UTC", 10, 5))
    (milestone,) = outbox(db, user, "milestone")
    assert milestone["detail"] == {"days": 3, "current_streak": 3}
    assert milestone["created_at"] == local(TODAY, "UTC", 10, 1)
    # more practice that day, and the next days (4, 5 practice days): no other milestone
    practise_at(db, user, local(TODAY, "UTC", 11), local(TODAY + D, "UTC", 9), local(TODAY + 2 * D, "UTC", 9))
    live(db, local(TODAY + 2 * D, "UTC", 9, 1), local(TODAY + 2 * D, "UTC", 9, 3))
    assert len(outbox(db, user, "milestone")) == 1


def test_a_freeze_used_when_a_missed_day_ends_frozen(db, learner) -> None:
    user = learner("America/Los_Angeles", [TODAY - 3 * D, TODAY - 2 * D])
    tz = "America/Los_Angeles"
    live(db, local(TODAY - D, tz, 23, 55), local(TODAY, tz, 0, 5))
    (used,) = outbox(db, user, "freeze_used")
    assert used["local_day"] == TODAY - D and used["created_at"] == local(TODAY, tz, 0)
    assert used["detail"] == {"frozen_day": str(TODAY - D), "current_streak": 2, "freezes_held": 1}
    live(db, local(TODAY, tz, 0, 5), local(TODAY, tz, 12), dt.timedelta(minutes=30))
    assert len(outbox(db, user, "freeze_used")) == 1


def set_watermark(engine: Engine, instant: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ingest_watermark (singleton, watermark, advanced_at) VALUES (true, :w, :w)"
                " ON CONFLICT (singleton) DO UPDATE SET watermark = :w, advanced_at = :w"
            ),
            {"w": instant},
        )


def test_streak_lost_only_once_the_day_that_ended_the_run_is_settled(db, new_user_id, streak_limits) -> None:
    streak_limits(freeze_starter=0, freeze_max_held=0)
    user = new_user_id()
    practise_at(db, user, local(TODAY - 2 * D, "UTC", 12))
    # the day after the practice (TODAY - 1) ended the run at midnight; the watermark lags behind it
    set_watermark(db, local(TODAY, "UTC", 0, 30))
    live(db, local(TODAY, "UTC", 0), local(TODAY, "UTC", 1, 30))
    assert outbox(db, user, "streak_lost") == []
    # settled once the watermark passes its end plus an hour
    set_watermark(db, local(TODAY, "UTC", 1, 31))
    live(db, local(TODAY, "UTC", 1, 31), local(TODAY, "UTC", 1, 45))
    (lost,) = outbox(db, user, "streak_lost")
    assert lost["local_day"] == TODAY - D and lost["detail"]["lost_streak"] == 1
    assert local(TODAY, "UTC", 1, 31) <= lost["created_at"] <= local(TODAY, "UTC", 1, 37)
    live(db, local(TODAY, "UTC", 1, 45), local(TODAY, "UTC", 23), dt.timedelta(hours=1))
    assert len(outbox(db, user, "streak_lost")) == 1


def weekly_goal(engine: Engine, user: int, days: int, effective_from: dt.date) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO user_settings (user_id, effective_from, weekly_goal_days) VALUES (:u, :d, :g)"),
            {"u": user, "d": effective_from, "g": days},
        )
        conn.execute(text("SELECT progress_refresh_day_summary(:u)"), {"u": user})


@pytest.mark.parametrize("tz", ["UTC", "Australia/Lord_Howe"])
def test_weekly_goal_at_risk_once_a_week_inside_8_to_18(db, learner, tz) -> None:
    monday = dt.date(2026, 6, 15)
    user = learner(tz, [monday - 7 * D])
    # 3 days a week, Monday practised: at risk from Saturday (2 days left, 2 required)
    weekly_goal(db, user, 3, monday - 14 * D)
    practise_at(db, user, local(monday, tz, 9))
    live(db, local(monday, tz, 10), local(monday + 5 * D, tz, 7, 50), dt.timedelta(minutes=30))
    assert outbox(db, user, "weekly_goal_at_risk") == []
    live(db, local(monday + 5 * D, tz, 7, 50), local(monday + 5 * D, tz, 8, 10))
    (risk,) = outbox(db, user, "weekly_goal_at_risk")
    assert risk["local_day"] == monday and risk["created_at"] == local(monday + 5 * D, tz, 8)
    assert risk["detail"]["required_left"] == 2 and risk["detail"]["days_left"] == 2
    live(db, local(monday + 5 * D, tz, 8, 10), local(monday + 7 * D, tz, 7), dt.timedelta(minutes=30))
    assert len(outbox(db, user, "weekly_goal_at_risk")) == 1


def test_weekly_goal_at_risk_waits_for_8_local_when_it_turns_at_risk_at_night(db, learner) -> None:
    monday = dt.date(2026, 6, 15)
    user = learner("UTC", [monday - 7 * D])
    weekly_goal(db, user, 7, monday - 14 * D)
    live(db, local(monday, "UTC", 0), local(monday, "UTC", 8, 5), dt.timedelta(minutes=5))
    (risk,) = outbox(db, user, "weekly_goal_at_risk")
    assert risk["created_at"] == local(monday, "UTC", 8)


# ---- reminders: kinds off, quiet hours, the pause --------------------------------------------------------


def test_a_kind_turned_off_is_never_written_and_quiet_hours_move_a_signal_to_their_end(db, learner) -> None:
    off = learner("UTC", [TODAY - D])
    quiet = learner("UTC", [TODAY - D])
    reminders(db, off, local(TODAY, "UTC", 9), kinds={"streak_saver": False})
    reminders(db, quiet, local(TODAY, "UTC", 9), quiet_hours={"from": "19:30", "to": "21:15"})
    live(db, local(TODAY, "UTC", 19, 55), local(TODAY, "UTC", 21, 20))
    assert outbox(db, off) == []
    (saver,) = outbox(db, quiet)
    assert saver["due_at"] == saver["created_at"] == local(TODAY, "UTC", 21, 15)
    # turned off after it was written: suppressed at send time
    reminders(db, quiet, local(TODAY, "UTC", 21, 16), kinds={"streak_saver": False})
    assert pending(db, local(TODAY, "UTC", 21, 17)) == []
    assert outbox(db, quiet)[0]["suppressed_reason"] == "kind_off"


def test_quiet_hours_over_midnight_move_a_freeze_used_to_the_morning(db, learner) -> None:
    user = learner("UTC", [TODAY - 3 * D, TODAY - 2 * D])
    reminders(db, user, local(TODAY - 2 * D, "UTC", 13), quiet_hours={"from": "22:00", "to": "07:00"})
    live(db, local(TODAY, "UTC", 0), local(TODAY, "UTC", 7, 5), dt.timedelta(minutes=5))
    (used,) = outbox(db, user, "freeze_used")
    assert used["due_at"] == used["created_at"] == local(TODAY, "UTC", 7)


def read_progress(engine: Engine, user: int, now: dt.datetime) -> dict[str, Any]:
    with engine.connect() as conn:
        document = conn.execute(
            text("SELECT progress_read_progress_v4(:u, :now, 'infinity', 9223372036854775807, 1)"),
            {"u": user, "now": now},
        ).scalar_one()
    return json.loads(document)


def test_a_kind_pauses_after_3_ignored_and_practice_ends_the_pause(db, new_user_id, streak_limits) -> None:
    streak_limits(freeze_starter=10, freeze_max_held=10)
    user = new_user_id()
    start = dt.date(2026, 6, 1)
    practise_at(db, user, local(start, "UTC", 12))
    reminders(db, user, local(start, "UTC", 13), kinds={"freeze_used": False})
    # days 2, 3, 4: the saver at 20:00, no practice (the freezes keep the streak)
    live(db, local(start + D, "UTC", 0), local(start + 4 * D, "UTC", 23, 30), dt.timedelta(minutes=30))
    savers = outbox(db, user, "streak_saver")
    assert [s["local_day"] for s in savers] == [start + D, start + 2 * D, start + 3 * D]
    assert read_progress(db, user, local(start + 4 * D, "UTC", 21))["streak"]["reminders_paused"] == [
        "streak_saver"
    ]
    # practice ends the pause (the write path), and the next day's saver goes out again
    practise_at(db, user, local(start + 4 * D, "UTC", 21))
    assert read_progress(db, user, local(start + 4 * D, "UTC", 21, 1))["streak"]["reminders_paused"] == []
    live(db, local(start + 4 * D, "UTC", 21, 30), local(start + 5 * D, "UTC", 20), dt.timedelta(minutes=30))
    assert [s["local_day"] for s in outbox(db, user, "streak_saver")][-1] == start + 5 * D


def test_practice_within_2_hours_is_not_ignoring(db, new_user_id, streak_limits) -> None:
    streak_limits(freeze_starter=10, freeze_max_held=10)
    user = new_user_id()
    start = dt.date(2026, 6, 1)
    practise_at(db, user, local(start, "UTC", 12))
    for day in range(1, 6):
        live(db, local(start + day * D, "UTC", 20), local(start + day * D, "UTC", 20))
        practise_at(db, user, local(start + day * D, "UTC", 21))
    assert len(outbox(db, user, "streak_saver")) == 5


# ---- the due index kept by the write path and settings --------------------------------------------------


def next_due(engine: Engine, user: int) -> Any:
    (row,) = rows(
        engine,
        "SELECT next_signal_at, next_signal_at = '-infinity' AS now FROM user_profiles WHERE user_id = :u",
        u=user,
    )
    return "next sweep" if row["now"] else row["next_signal_at"]


def test_the_write_path_and_settings_plan_the_learner_again(db, learner, count_sql) -> None:
    user = learner("UTC", [TODAY - D])
    live(db, local(TODAY, "UTC", 9), local(TODAY, "UTC", 9))
    assert next_due(db, user) == local(TODAY, "UTC", 20)
    # a reminder_time change applies at once
    reminders(db, user, local(TODAY, "UTC", 9, 1), reminder_time="18:30")
    assert next_due(db, user) == "next sweep"
    live(db, local(TODAY, "UTC", 9, 2), local(TODAY, "UTC", 9, 2))
    assert next_due(db, user) == local(TODAY, "UTC", 18, 30)
    # a batch of attempts plans the learner again in its own one statement
    count_sql.reset()
    practise_at(db, user, local(TODAY, "UTC", 10))
    assert count_sql.count == 1
    assert next_due(db, user) == "next sweep"
    live(db, local(TODAY, "UTC", 10, 1), local(TODAY, "UTC", 10, 1))
    assert next_due(db, user) == local(TODAY + D, "UTC", 0)  # practised: the end of the day is next
    # a timezone change plans again too
    set_timezone(db, user, "America/Los_Angeles")
    assert next_due(db, user) == "next sweep"
    live(db, local(TODAY, "UTC", 10, 2), local(TODAY, "UTC", 10, 2))
    assert next_due(db, user) == local(TODAY, "America/Los_Angeles", 0) + D
    assert outbox(db, user) == []


# ---- the whole sweep ---------------------------------------------------------------------------------------


def test_progress_admin_sweep_at_writes_the_signals_due_and_streak_lost_once_settled(
    db, new_user_id, streak_limits, capsys
) -> None:
    """`progress-admin sweep --at` minute by minute (the local watermark: the sweep's instant): the saver at
    20:00, then the run ends at midnight and streak_lost goes out once that day is settled (an hour later)."""
    from progress_admin.cli import main

    streak_limits(freeze_starter=0, freeze_max_held=0)
    user = new_user_id()
    practise_at(db, user, local(TODAY - D, "UTC", 12))
    now = local(TODAY, "UTC", 19, 58)
    while now <= local(TODAY + D, "UTC", 1, 10):
        assert main(["sweep", "--at", now.isoformat()]) == 0
        report = json.loads(capsys.readouterr().out)
        if now == local(TODAY, "UTC", 20):
            assert report["signals"]["written"] == 1
        now += (
            MINUTE if now < local(TODAY, "UTC", 20, 5) or now > local(TODAY + D, "UTC", 0, 55) else 5 * MINUTE
        )
    kinds = [(r["kind"], r["local_day"], r["created_at"]) for r in outbox(db, user)]
    assert kinds == [
        ("streak_saver", TODAY, local(TODAY, "UTC", 20)),
        ("streak_lost", TODAY, local(TODAY + D, "UTC", 1)),
    ]
