"""Keeping a streak (docs/design.md; docs/streaks.md): freezes, rest days, repair, day start, goals, read
through both GET handlers on the real database, with the deployment's default limits unless a test says.

Rows the write path and the routes keep (covered days, grants, repairs, settings versions) are written as
those do, then the walk is refreshed as they do (progress_refresh_day_summary).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from tests.conftest import insert_attempts_sql
from tests.test_streaks import at, practise, read_both, set_timezone

TODAY = dt.date(2026, 6, 17)  # a Wednesday
D = dt.timedelta(days=1)


def refresh(engine: Engine, user: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("SELECT progress_refresh_day_summary(:u)"), {"u": user})


def grant(engine: Engine, user: int, day: dt.date, added: int = 1, key: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO freeze_grants (user_id, grant_key, requested, added, local_day, freezes_held,"
                " freezes_max) VALUES (:u, :k, :n, :n, :d, 0, 2)"
            ),
            {"u": user, "k": key or f"k-{day}-{added}", "n": added, "d": day},
        )
    refresh(engine, user)


def settings_version(engine: Engine, user: int, effective_from: dt.date, **fields: object) -> None:
    columns = ["user_id", "effective_from", *fields]
    with engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO user_settings ({', '.join(columns)})"
                f" VALUES ({', '.join(':' + c for c in columns)})"
            ),
            {"user_id": user, "effective_from": effective_from, **fields},
        )
    refresh(engine, user)


def cover(engine: Engine, user: int, day: dt.date) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("SELECT * FROM progress_cover_days_v1(:d, :d, 'outage', ARRAY[CAST(:u AS bigint)], NULL)"),
            {"d": day, "u": user},
        )


@pytest.fixture
def learner(db, new_user_id, streak_limits, set_now):
    """A learner in UTC, "now" 18:00 today, the default limits (2 starter freezes, 2 held at most)."""
    streak_limits()
    user = new_user_id()
    set_timezone(db, user, "UTC")
    set_now(at(TODAY, "UTC", dt.time(18, 0)))
    return user


def days_before(*offsets: int) -> list[dt.date]:
    return [TODAY - o * D for o in offsets]


def kinds(stats: dict) -> dict[str, str | None]:
    return {row["date"]: row["kind"] for row in stats["daily"]}


# --- the contract's three examples ------------------------------------------------------------------------


def test_two_days_then_a_missed_yesterday_is_frozen(db, load_function, learner) -> None:
    practise(db, learner, "UTC", days_before(3, 2))
    progress, stats = read_both(load_function, learner)
    assert progress["current_streak"] == 2
    assert progress["freezes_held"] == 1
    assert kinds(stats)[str(TODAY - D)] == "frozen"
    assert progress["current_streak_perfect"] is False
    # today can be frozen by the last freeze: the streak drops when tomorrow ends, not tonight
    assert progress["streak_expires_at"] == at(TODAY + 2 * D, "UTC", dt.time(0)).isoformat()


def test_three_missed_days_are_more_than_two_freezes_bridge_and_spend_none(
    db, load_function, learner
) -> None:
    practise(db, learner, "UTC", days_before(5, 4))
    progress, stats = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (0, 2)
    assert progress["streak_expires_at"] is None
    assert [kinds(stats)[str(day)] for day in days_before(3, 2, 1)] == [None, None, None]


def test_a_late_attempt_on_a_frozen_day_gives_the_freeze_back(db, load_function, learner) -> None:
    practise(db, learner, "UTC", days_before(3, 2))
    practise(db, learner, "UTC", days_before(1))  # arrives late, on the day that was frozen
    progress, stats = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (3, 2)
    assert progress["current_streak_perfect"] is True
    assert kinds(stats)[str(TODAY - D)] == "practice"


# --- freezes ----------------------------------------------------------------------------------------------


def test_a_gap_of_exactly_the_freezes_held_is_bridged(db, load_function, learner) -> None:
    practise(db, learner, "UTC", [*days_before(5, 4, 3), TODAY])  # d-2 and d-1 missed: two freezes
    progress, stats = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"], progress["longest_streak"]) == (4, 0, 4)
    assert [kinds(stats)[str(day)] for day in days_before(2, 1)] == ["frozen", "frozen"]
    # nothing held: the streak drops when tomorrow ends
    assert progress["streak_expires_at"] == at(TODAY + 2 * D, "UTC", dt.time(0)).isoformat()


def test_a_longer_gap_spends_none(db, load_function, learner) -> None:
    practise(db, learner, "UTC", [*days_before(6, 5), TODAY])  # d-4..d-1: four days
    progress, _ = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"], progress["longest_streak"]) == (1, 2, 2)


def test_the_seventh_practice_day_earns_a_freeze_and_one_at_the_maximum_is_lost(
    db, load_function, learner
) -> None:
    # two missed days spend both starters, then the 7th practice day of the run (yesterday) earns one
    practise(db, learner, "UTC", [*days_before(9, 8, 7, 6), *days_before(3, 2, 1)])
    progress, _ = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (7, 1)
    assert progress["next_freeze_in"] == 7
    # the same run without a gap: the earning at 7 finds two held, and is lost
    other = learner + 1
    set_timezone(db, other, "UTC")
    practise(db, other, "UTC", days_before(6, 5, 4, 3, 2, 1, 0))
    progress, _ = read_both(load_function, other)
    assert (progress["current_streak"], progress["freezes_held"], progress["next_freeze_in"]) == (7, 2, None)


def test_a_granted_freeze_counts_from_its_day(db, load_function, learner, streak_limits) -> None:
    streak_limits(freeze_starter=0)
    practise(db, learner, "UTC", days_before(3, 2))
    progress, _ = read_both(load_function, learner)
    assert progress["current_streak"] == 0  # d-1 missed, nothing held
    grant(db, learner, TODAY - D)
    progress, stats = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (2, 0)
    assert kinds(stats)[str(TODAY - D)] == "frozen"


def test_without_starter_and_earning_the_streak_is_todays(db, load_function, learner, streak_limits) -> None:
    streak_limits(freeze_starter=0, freeze_earn_every=0)
    practise(db, learner, "UTC", days_before(3, 2))
    progress, _ = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"], progress["next_freeze_in"]) == (0, 0, None)


# --- rest days, day start, covered days ------------------------------------------------------------------


def test_a_rest_weekday_bridges_and_spends_no_freeze(db, load_function, learner) -> None:
    tuesday = TODAY - D
    settings_version(db, learner, TODAY - 30 * D, rest_weekdays=[2])
    practise(db, learner, "UTC", days_before(3, 2))
    progress, stats = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (2, 2)
    assert progress["rest_weekdays"] == ["tue"]
    assert kinds(stats)[str(tuesday)] == "rest"
    assert progress["current_streak_perfect"] is True


def test_rest_days_count_only_from_the_version_in_force(db, load_function, learner, streak_limits) -> None:
    streak_limits(freeze_starter=0)
    settings_version(db, learner, TODAY, rest_weekdays=[2])  # Tuesday rest only from today on
    practise(db, learner, "UTC", days_before(3, 2))
    progress, _ = read_both(load_function, learner)
    assert progress["current_streak"] == 0


def test_day_start_moves_today_and_the_expiry(db, load_function, learner, set_now) -> None:
    settings_version(db, learner, TODAY - 30 * D, day_start_minutes=240)
    practise(db, learner, "UTC", days_before(1), time=dt.time(12, 0))
    set_now(at(TODAY, "UTC", dt.time(3, 0)))  # before 04:00: still yesterday
    progress, _ = read_both(load_function, learner)
    assert progress["today"]["date"] == str(TODAY - D)
    assert progress["practiced_today"] is True
    # "today" is the 16th, practised; two freezes bridge the 17th and 18th; it drops when the 19th ends,
    # at 04:00 on the 20th
    assert progress["streak_expires_at"] == at(TODAY + 3 * D, "UTC", dt.time(4, 0)).isoformat()


def test_a_covered_day_keeps_the_run_without_a_freeze(db, load_function, learner) -> None:
    practise(db, learner, "UTC", days_before(3, 2))
    cover(db, learner, TODAY - D)
    progress, stats = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (2, 2)
    assert kinds(stats)[str(TODAY - D)] == "covered"


# --- goals --------------------------------------------------------------------------------------------------


def test_todays_goal_counts_attempts_and_says_when_it_was_met(db, load_function, learner) -> None:
    with db.begin() as conn:
        conn.execute(text("UPDATE streak_config SET daily_goal = 3"))
    practise(db, learner, "UTC", [TODAY] * 4, time=dt.time(9, 0))
    progress, stats = read_both(load_function, learner)
    goal = progress["today"]["goal"]
    assert (goal["unit"], goal["target"], goal["done"], goal["met"]) == ("attempts", 3, 4, True)
    assert goal["met_at"] == at(TODAY, "UTC", dt.time(9, 0)).isoformat()
    assert stats["daily"][-1]["goal_met"] is True


def test_a_correct_answers_goal_of_a_past_version(db, load_function, learner) -> None:
    settings_version(db, learner, TODAY - 30 * D, daily_goal_unit="correct", daily_goal_target=2)
    practise(db, learner, "UTC", [TODAY] * 3)  # is_correct alternates: 2 correct
    progress, _ = read_both(load_function, learner)
    goal = progress["today"]["goal"]
    assert (goal["unit"], goal["target"], goal["done"], goal["met"]) == ("correct", 2, 2, True)


def test_the_week_and_its_risk(db, load_function, learner) -> None:
    # a Wednesday; the week started on Monday; 4 days a week wanted, Monday practised
    settings_version(db, learner, TODAY - 30 * D, weekly_goal_days=4)
    practise(db, learner, "UTC", days_before(2))
    progress, _ = read_both(load_function, learner)
    week = progress["week"]
    assert (week["start"], week["end"]) == (str(TODAY - 2 * D), str(TODAY + 4 * D))
    # Wednesday (not practised yet) .. Sunday: 5 days left for 3 required
    assert (week["target_days"], week["practised_days"], week["days_left"], week["required_left"]) == (
        4,
        1,
        5,
        3,
    )
    assert (week["at_risk"], week["met"]) == (False, False)
    assert progress["weekly_streak"] == 0


def test_a_missing_weekly_goal_has_no_week(db, load_function, learner) -> None:
    progress, _ = read_both(load_function, learner)
    assert progress["week"] is None and progress["weekly_streak"] == 0


# --- repair -----------------------------------------------------------------------------------------------


def test_a_break_is_offered_for_repair_before_the_learner_returns(
    db, load_function, learner, streak_limits
) -> None:
    streak_limits(freeze_starter=0)
    practise(db, learner, "UTC", days_before(4, 3))  # d-2, d-1 missed
    progress, _ = read_both(load_function, learner)
    repair = progress["repair"]
    assert repair is not None
    assert (repair["gap_from"], repair["gap_to"]) == (str(TODAY - 2 * D), str(TODAY - D))
    assert (repair["attempts_done"], repair["available"]) == (0, False)
    assert repair["deadline"] == at(TODAY + 2 * D, "UTC", dt.time(0)).isoformat()


def test_a_repaired_gap_joins_the_runs(db, load_function, learner, streak_limits) -> None:
    streak_limits(freeze_starter=0)
    practise(db, learner, "UTC", days_before(4, 3))
    practise(db, learner, "UTC", [TODAY] * 10)
    progress, _ = read_both(load_function, learner)
    assert progress["repair"]["available"] is True and progress["current_streak"] == 1
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO streak_repairs (user_id, gap_from, gap_to, attempts_done) VALUES (:u, :f, :t, 10)"
            ),
            {"u": learner, "f": TODAY - 2 * D, "t": TODAY - D},
        )
    refresh(db, learner)
    progress, stats = read_both(load_function, learner)
    assert (progress["current_streak"], progress["repair"], progress["current_streak_perfect"]) == (
        3,
        None,
        False,
    )
    assert [kinds(stats)[str(day)] for day in days_before(2, 1)] == ["repaired", "repaired"]


def test_a_gap_longer_than_three_days_is_not_repairable(db, load_function, learner, streak_limits) -> None:
    streak_limits(freeze_starter=0)
    practise(db, learner, "UTC", days_before(6, 5))
    progress, _ = read_both(load_function, learner)
    assert progress["repair"] is None


# --- upgrades -----------------------------------------------------------------------------------------------


def test_days_before_the_rules_start_keep_the_old_rules(
    db, load_function, learner, streak_limits, set_now
) -> None:
    # upgraded today; yesterday was missed before the upgrade: no freeze saves it, none is spent
    streak_limits(rules_start=TODAY)
    practise(db, learner, "UTC", days_before(3, 2))
    progress, _ = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (0, 0)
    # the starter freezes come with the first practice day after the upgrade's (today's attempts may
    # predate the upgrade, and today's figures stay as they were)
    practise(db, learner, "UTC", [TODAY])
    progress, _ = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (1, 0)
    practise(db, learner, "UTC", [TODAY + D])
    set_now(at(TODAY + D, "UTC", dt.time(18, 0)))
    progress, _ = read_both(load_function, learner)
    assert (progress["current_streak"], progress["freezes_held"]) == (2, 2)


def test_timezones_and_dst_expiry(db, load_function, learner, set_now) -> None:
    zone = "America/Los_Angeles"
    user = learner + 7
    set_timezone(db, user, zone)
    sunday_before_dst_end = dt.date(2026, 10, 31)
    practise(db, user, zone, [sunday_before_dst_end])
    set_now(at(sunday_before_dst_end, zone, dt.time(20, 0)))
    progress, _ = read_both(load_function, user)
    # practised today, two freezes: drops when the second day after tomorrow ends, at local midnight
    expires = dt.datetime.fromisoformat(progress["streak_expires_at"])
    assert expires == dt.datetime(2026, 11, 4, tzinfo=ZoneInfo(zone))


def test_day_start_fixes_an_early_attempt_on_the_previous_date(db, load_function, learner, set_now) -> None:
    from tests.test_streaks import attempt, deliver

    settings_version(db, learner, TODAY - 30 * D, day_start_minutes=240)
    deliver(load_function, attempt(learner, at(TODAY, "UTC", dt.time(3, 0))))
    insert_attempts_sql(
        db,
        [
            {
                "user_id": learner,
                "exercise_id": 2,
                "is_correct": True,
                "created_at": at(TODAY, "UTC", dt.time(3, 30)),
            }
        ],
    )
    deliver(load_function, attempt(learner, at(TODAY, "UTC", dt.time(4, 0))))
    with db.connect() as conn:
        days = (
            conn.execute(
                text("SELECT local_day FROM attempts WHERE user_id = :u ORDER BY created_at"), {"u": learner}
            )
            .scalars()
            .all()
        )
    assert days == [TODAY - D, TODAY - D, TODAY]
