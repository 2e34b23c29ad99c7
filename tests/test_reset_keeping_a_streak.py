"""A reset and "Keeping a streak" (docs/design.md: "Reset keeps settings and removes everything else
(attempts, days, freezes, repairs)"): progress_reset_user_v4, through the real reset function, on the real
database; settings and grants written through their routes' functions. The settings versions stay, row for
row; grants, repairs and frozen days go, the profile's walk checkpoint goes back to its column defaults, and
the next first attempt gives the starter freezes again.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, text

from tests.events import call, http_event
from tests.test_keeping_a_streak import TODAY, D, days_before, kinds
from tests.test_streaks import at, practise, read_both, set_timezone

STREAK_TABLES = (
    "user_settings",
    "freeze_grants",
    "streak_repairs",
    "user_frozen_days",
    "user_reminders",
    "signal_outbox",
)
CHECKPOINT = "freezes, run_perfect, starter_given, break_from, break_to, break_run, has_grants"
# the column defaults of migration 0014: no freeze held, a perfect run, no starter given, no break, no grant
CHECKPOINT_DEFAULTS = ([], True, False, None, None, None, False)


@pytest.fixture
def learner(db, new_user_id, streak_limits, set_now):
    """A learner in UTC, "now" 18:00 today; the default limits but 3 freezes held at most (so a grant kept
    by mistake would show in freezes_held beside the 2 starter freezes)."""
    streak_limits(freeze_max_held=3)
    user = new_user_id()
    set_timezone(db, user, "UTC")
    set_now(at(TODAY, "UTC", dt.time(18, 0)))
    return user


def put_settings(load_function, set_now, user: int, on: dt.date, body: dict) -> None:
    """PUT /progress/settings on day `on` (the version applies from the next day)."""
    set_now(at(on, "UTC", dt.time(18, 0)))
    event = http_event("PUT", "/progress/settings", claims={"sub": str(user)}, body=json.dumps(body))
    status, _, answer = call(load_function("settings").lambda_handler, event)
    assert status == 200 and answer["effective_from"] == str(on + D), answer
    set_now(at(TODAY, "UTC", dt.time(18, 0)))


def grant(load_function, set_now, user: int, on: dt.date, key: str) -> None:
    """POST /progress/freezes of one freeze on day `on`, as the app's backend."""
    set_now(at(on, "UTC", dt.time(18, 0)))
    event = http_event(
        "POST",
        "/progress/freezes",
        claims={"sub": "app-backend", "scope": "openid progress/grant"},
        body=json.dumps({"user_id": user, "key": key, "count": 1, "source": "granted"}),
    )
    status, _, answer = call(load_function("grant_freezes").lambda_handler, event)
    assert status == 200 and answer["added"] == 1, answer
    set_now(at(TODAY, "UTC", dt.time(18, 0)))


def reset(load_function, user: int) -> dict:
    status, _, body = call(
        load_function("reset_progress").lambda_handler,
        http_event("POST", "/progress/reset", claims={"sub": str(user)}),
    )
    assert status == 200, body
    return body


def rows(db: Engine, user: int) -> dict[str, list[tuple]]:
    """The learner's rows in each table of Keeping a streak (every column but generated ids)."""
    with db.connect() as conn:
        return {
            table: sorted(
                tuple(v for k, v in row.items() if k != "id")
                for row in conn.execute(
                    text(f"SELECT * FROM {table} WHERE user_id = :u"), {"u": user}
                ).mappings()
            )
            for table in STREAK_TABLES
        }


def signals_state(db: Engine, user: int) -> tuple:
    """The profile's pause (reminders_paused) and its next signal instant."""
    with db.connect() as conn:
        return tuple(
            conn.execute(
                text("SELECT reminders_paused, next_signal_at FROM user_profiles WHERE user_id = :u"),
                {"u": user},
            ).one()
        )


def checkpoint(db: Engine, user: int) -> tuple:
    with db.connect() as conn:
        return tuple(
            conn.execute(
                text(f"SELECT {CHECKPOINT} FROM user_profiles WHERE user_id = :u"), {"u": user}
            ).one()
        )


def repair(db: Engine, user: int, gap_from: dt.date, gap_to: dt.date) -> None:
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO streak_repairs (user_id, gap_from, gap_to, attempts_done) VALUES (:u, :f, :t, 10)"
            ),
            {"u": user, "f": gap_from, "t": gap_to},
        )
        conn.execute(text("SELECT progress_refresh_day_summary(:u)"), {"u": user})


def give_the_learner_a_kept_streak(db: Engine, load_function, set_now, user: int) -> None:
    """Two settings versions and reminders, a grant, a repaired break, frozen days, a remembered break, two
    signals and a paused kind."""
    put_settings(
        load_function,
        set_now,
        user,
        TODAY - 41 * D,
        {
            "weekly_goal_days": 3,
            "daily_goal": {"unit": "correct", "target": 5},
            "reminders": {"reminder_time": "07:15", "kinds": {"milestone": False}},
        },
    )
    put_settings(
        load_function, set_now, user, TODAY - 3 * D, {"rest_weekdays": ["sat", "sun"], "week_start": "sun"}
    )
    grant(load_function, set_now, user, TODAY - 20 * D, "welcome-back")
    practise(db, user, "UTC", days_before(16, 15))
    repair(db, user, TODAY - 14 * D, TODAY - 13 * D)  # then d-12 .. d-9 break the run (3 freezes, 4 days)
    practise(db, user, "UTC", days_before(8, 7, 5))  # d-6 frozen
    practise(db, user, "UTC", days_before(3))  # d-4 frozen; the run ends with a missed yesterday
    with db.begin() as conn:  # signals as the sweep writes them, and a kind the sweep paused
        for kind, day in (("streak_saver", TODAY - 2 * D), ("streak_lost", TODAY)):
            conn.execute(
                text(
                    "INSERT INTO signal_outbox (user_id, kind, local_day, due_at) VALUES (:u, :k, :d, now())"
                ),
                {"u": user, "k": kind, "d": day},
            )
        conn.execute(
            text("UPDATE user_profiles SET reminders_paused = '{streak_saver}' WHERE user_id = :u"),
            {"u": user},
        )


def test_a_reset_keeps_the_settings_and_removes_grants_repairs_frozen_days_and_signals(
    db, load_function, learner, new_user_id, set_now
) -> None:
    """The reminders are settings: they stay, like the settings versions; the signals go, and the pause ends."""
    other = new_user_id()
    for user in (learner, other):
        give_the_learner_a_kept_streak(db, load_function, set_now, user)
    before, others_before = rows(db, learner), rows(db, other)
    assert all(before[table] for table in STREAK_TABLES), before  # a row in each, settings: two versions
    assert len(before["user_settings"]) == 2
    assert len(before["signal_outbox"]) == 2
    assert checkpoint(db, learner) != CHECKPOINT_DEFAULTS
    assert signals_state(db, learner)[0] == ["streak_saver"]
    other_checkpoint, other_signals = checkpoint(db, other), signals_state(db, other)

    body = reset(load_function, learner)
    # the answer keeps its shape (v3's): the streak rows are not counted in it
    assert body["deleted"] == {
        "attempts": 6,
        "archived_attempts": 0,
        "sessions": 0,
        "exports": 0,
        "live_connections": 0,
    }
    after = rows(db, learner)
    assert after["user_settings"] == before["user_settings"]  # row for row, changed_at included
    assert after["user_reminders"] == before["user_reminders"]  # updated_at included
    assert (after["freeze_grants"], after["streak_repairs"], after["user_frozen_days"]) == ([], [], [])
    assert after["signal_outbox"] == []
    assert checkpoint(db, learner) == CHECKPOINT_DEFAULTS
    assert signals_state(db, learner) == ([], None)  # no pause, nothing due until the next attempt
    # nothing of anyone else's
    assert rows(db, other) == others_before and checkpoint(db, other) == other_checkpoint
    assert signals_state(db, other) == other_signals

    # the kept settings are the ones in force; nothing else is left to show
    progress, stats = read_both(load_function, learner)
    assert progress["rest_weekdays"] == ["sat", "sun"] and progress["reminders_paused"] == []
    assert progress["today"]["goal"]["unit"] == "correct" and progress["today"]["goal"]["target"] == 5
    assert (progress["current_streak"], progress["longest_streak"], progress["freezes_held"]) == (0, 0, 0)
    assert progress["repair"] is None and progress["week"]["practised_days"] == 0
    assert {kind for kind in kinds(stats).values()} <= {None, "rest"}  # no frozen, repaired or practice day

    assert reset(load_function, learner)["deleted"]["attempts"] == 0  # twice: nothing more to remove
    assert rows(db, learner) == after


def test_after_a_reset_the_next_first_attempt_gives_the_starter_freezes_again(
    db, load_function, learner, set_now
) -> None:
    grant(load_function, set_now, learner, TODAY - 10 * D, "gift")
    practise(db, learner, "UTC", days_before(3, 2))  # starter 2 + the gift, d-1 frozen
    progress, _ = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (2, 2)

    reset(load_function, learner)
    progress, _ = read_both(load_function, learner)  # before any attempt: none held, none given yet
    assert (progress["current_streak"], progress["freezes_held"]) == (0, 0)
    assert progress["current_streak_perfect"] is False

    practise(db, learner, "UTC", [TODAY])
    progress, _ = read_both(load_function, learner)
    # the 2 starter freezes, given again; the gift went with the reset (3 may be held: it would show)
    assert (progress["current_streak"], progress["freezes_held"], progress["freezes_max"]) == (1, 2, 3)
    assert progress["current_streak_perfect"] is True
