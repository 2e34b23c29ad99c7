"""The reference model of "Keeping a streak" (tests/streak_model.py) on the contract's examples and issue 22's
"Done when" list, so the model itself is known to say what docs/design.md and docs/streaks.md say. These same
cases become SQL tests; the property test (tests/test_keeping_property.py) compares the SQL with this model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.streak_model import (
    SettingsVersion,
    StreakConfig,
    day_kinds,
    day_start_instant,
    goal_met_series,
    keeping_figures,
    local_day_of,
    local_instant,
)

# A Wednesday, midday in UTC: d = 2025-06-18
NOW = dt.datetime(2025, 6, 18, 12, 0, tzinfo=dt.UTC)
D = dt.date(2025, 6, 18)
ONE = dt.timedelta(days=1)
DEFAULTS = StreakConfig()
NO_FREEZES = StreakConfig(freeze_starter=0, freeze_earn_every=0)


def d(back: int) -> dt.date:
    return D - back * ONE


def practice(*backs: int, attempts: int = 1) -> dict[dt.date, tuple[int, int]]:
    return {d(b): (attempts, 0) for b in backs}


def figures(
    counts: dict[dt.date, tuple[int, int]],
    *,
    covered: tuple[dt.date, ...] = (),
    grants: tuple[tuple[dt.date, int], ...] = (),
    repairs: tuple[tuple[dt.date, dt.date, dt.datetime], ...] = (),
    versions: tuple[SettingsVersion, ...] = (),
    config: StreakConfig = DEFAULTS,
    now: dt.datetime = NOW,
    timezone: str = "UTC",
) -> dict[str, Any]:
    return keeping_figures(counts, covered, grants, repairs, versions, config, now, timezone)


def kinds(
    counts: dict[dt.date, tuple[int, int]],
    first: int,
    last: int = 0,
    *,
    covered: tuple[dt.date, ...] = (),
    grants: tuple[tuple[dt.date, int], ...] = (),
    repairs: tuple[tuple[dt.date, dt.date, dt.datetime], ...] = (),
    versions: tuple[SettingsVersion, ...] = (),
    config: StreakConfig = DEFAULTS,
) -> list[str | None]:
    """The kinds of d-first .. d-last, oldest first."""
    found = day_kinds(counts, covered, grants, repairs, versions, config, NOW, "UTC", d(first), d(last))
    return list(found.values())


# --- the contract's three examples (d = today, 2 freezes held, no rest days) ---------------------------------


def test_example_two_practice_days_then_a_frozen_yesterday() -> None:
    result = figures(practice(3, 2))
    assert (result["current_streak"], result["freezes_held"]) == (2, 1)
    assert kinds(practice(3, 2), 3) == ["practice", "practice", "frozen", None]
    assert result["current_streak_perfect"] is False
    assert result["repair"] is None


def test_example_three_missed_days_two_freezes_do_not_bridge() -> None:
    result = figures(practice(5, 4))
    assert (result["current_streak"], result["freezes_held"]) == (0, 2)
    assert kinds(practice(5, 4), 5) == ["practice", "practice", None, None, None, None]
    assert result["streak_expires_at"] is None
    assert result["current_streak_perfect"] is False  # no run: nothing perfect
    # the gap is repairable (3 days), offered before the learner is back: gap_to is yesterday
    assert result["repair"] == {
        "gap_from": d(3).isoformat(),
        "gap_to": d(1).isoformat(),
        "deadline": "2025-06-20T00:00:00+00:00",
        "attempts_required": 10,
        "attempts_done": 0,
        "available": False,
    }


def test_example_a_late_attempt_on_the_frozen_day_gives_the_freeze_back() -> None:
    result = figures(practice(3, 2, 1))
    assert (result["current_streak"], result["freezes_held"]) == (3, 2)
    assert result["current_streak_perfect"] is True
    assert kinds(practice(3, 2, 1), 3) == ["practice"] * 3 + [None]


# --- issue 22, "Done when" -----------------------------------------------------------------------------------


def test_a_gap_of_exactly_the_held_freezes_is_bridged() -> None:
    # two held, two missed days between history days: both frozen, none left
    counts = practice(5, 4, 1)
    result = figures(counts)
    assert (result["current_streak"], result["freezes_held"], result["longest_streak"]) == (3, 0, 3)
    assert kinds(counts, 5, 1) == ["practice", "practice", "frozen", "frozen", "practice"]
    # and the same gap before today
    result = figures(practice(4, 3))
    assert (result["current_streak"], result["freezes_held"]) == (2, 0)
    assert kinds(practice(4, 3), 2, 1) == ["frozen", "frozen"]


def test_a_longer_gap_spends_none() -> None:
    counts = practice(6, 5, 1)
    result = figures(counts)
    assert (result["current_streak"], result["freezes_held"], result["longest_streak"]) == (1, 2, 2)
    assert kinds(counts, 6, 1) == ["practice", "practice", None, None, None, "practice"]
    assert result["current_streak_perfect"] is True


def test_a_late_attempt_on_a_frozen_day_between_practice_days_gives_the_freeze_back() -> None:
    before = figures(practice(4, 2, 0))
    after = figures(practice(4, 3, 2, 0))
    assert (before["current_streak"], before["freezes_held"], before["current_streak_perfect"]) == (
        3,
        0,
        False,
    )
    assert kinds(practice(4, 2, 0), 3, 3) == ["frozen"]
    assert (after["current_streak"], after["freezes_held"], after["current_streak_perfect"]) == (4, 1, False)
    assert kinds(practice(4, 3, 2, 0), 3, 1) == ["practice", "practice", "frozen"]


def test_earning_at_seven_practice_days() -> None:
    earning_only = StreakConfig(freeze_starter=0)
    six = figures(practice(*range(5, -1, -1)), config=earning_only)
    assert (six["current_streak"], six["freezes_held"], six["next_freeze_in"]) == (6, 0, 1)
    seven = figures(practice(*range(6, -1, -1)), config=earning_only)
    assert (seven["current_streak"], seven["freezes_held"], seven["next_freeze_in"]) == (7, 1, 7)
    fourteen = figures(practice(*range(13, -1, -1)), config=earning_only)
    assert (fourteen["freezes_held"], fourteen["next_freeze_in"]) == (2, None)  # full: null


def test_an_earning_at_the_maximum_is_lost() -> None:
    # the starter freezes fill the two places: the 7th day's earning is lost, and is not made up later
    seven = figures(practice(*range(6, -1, -1)))
    assert (seven["freezes_held"], seven["next_freeze_in"]) == (2, None)
    # the 7th practice day at d-2 (earning lost, 2 held), d-1 frozen (1 held): not given later
    later = figures(practice(*range(8, 1, -1)))
    assert (later["current_streak"], later["freezes_held"], later["next_freeze_in"]) == (7, 1, 7)


def test_a_rest_weekday_bridges() -> None:
    # d = Wednesday; practice Thu d-6, Fri d-5; Sat d-4 and Sun d-3 rest; Mon d-2, Tue d-1
    rest = (SettingsVersion(dt.date(2025, 1, 1), frozenset({6, 7})),)
    counts = practice(6, 5, 2, 1)
    result = figures(counts, versions=rest, config=NO_FREEZES)
    assert result["current_streak"] == 4
    assert result["current_streak_perfect"] is True
    assert (
        kinds(counts, 6, 1, versions=rest, config=NO_FREEZES)
        == ["practice", "practice", "rest", "rest"] + ["practice"] * 2
    )
    without = figures(counts, config=NO_FREEZES)
    assert without["current_streak"] == 2
    # a practised rest day is a practice day, and counts
    assert figures(practice(6, 5, 4, 2, 1), versions=rest, config=NO_FREEZES)["current_streak"] == 5
    # before the rules start a rest weekday is an ordinary day (old rules)
    late_rules = NO_FREEZES._replace(rules_start=d(2))
    assert figures(counts, versions=rest, config=late_rules)["current_streak"] == 2
    assert kinds(counts, 4, 3, versions=rest, config=late_rules) == [None, None]


def test_rest_days_and_freezes_push_streak_expires_at() -> None:
    # practised today (Wed), Thu and Fri rest, 2 freezes for Sat and Sun: drops at the start of Tuesday
    rest = (SettingsVersion(dt.date(2025, 1, 1), frozenset({4, 5})),)
    result = figures(practice(1, 0), versions=rest)
    assert result["streak_expires_at"] == "2025-06-24T00:00:00+00:00"
    # without rest or freezes: the end of tomorrow, as before
    assert figures(practice(1, 0), config=NO_FREEZES)["streak_expires_at"] == "2025-06-20T00:00:00+00:00"
    assert figures(practice(1), config=NO_FREEZES)["streak_expires_at"] == "2025-06-19T00:00:00+00:00"


def test_day_start_240_moves_a_3am_attempt_to_the_previous_date_and_the_expiry_to_4am() -> None:
    zone = "America/Los_Angeles"
    early = (SettingsVersion(dt.date(2025, 1, 1), day_start_minutes=240),)
    at_three = dt.datetime(2025, 6, 18, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    assert local_day_of(at_three, zone, early) == dt.date(2025, 6, 17)
    assert local_day_of(at_three, zone, ()) == dt.date(2025, 6, 18)
    # the learner practised at 03:00 on the 18th (their 17th); at 03:30 on the 18th today is still the 17th
    now = dt.datetime(2025, 6, 18, 3, 30, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    counts = {dt.date(2025, 6, 17): (1, 1)}
    result = figures(counts, versions=early, config=NO_FREEZES, now=now, timezone=zone)
    assert result["today"]["date"] == "2025-06-17"
    assert result["practiced_today"] is True
    assert result["streak_expires_at"] == "2025-06-19T04:00:00-07:00"
    # at 04:00 the 18th has begun; the run ends yesterday and drops at 04:00 on the 19th
    at_four = now + dt.timedelta(minutes=30)
    later = figures(counts, versions=early, config=NO_FREEZES, now=at_four, timezone=zone)
    assert (later["today"]["date"], later["current_streak"]) == ("2025-06-18", 1)
    assert later["streak_expires_at"] == "2025-06-19T04:00:00-07:00"


def test_a_settings_change_today_leaves_todays_goal_and_kinds_unchanged() -> None:
    # PUT today writes a version effective from tomorrow: rest on Wednesdays, a goal of 3 correct
    old = SettingsVersion(dt.date(2025, 1, 1), goal_unit="attempts", goal_target=5)
    new = SettingsVersion(D + ONE, frozenset({3}), goal_unit="correct", goal_target=3)
    counts = {d(1): (2, 2)}
    before = figures(counts, versions=(old,))
    after = figures(counts, versions=(old, new))
    assert (
        after["today"]
        == before["today"]
        == {
            "date": D.isoformat(),
            "attempts": 0,
            "correct": 0,
            "goal": {"unit": "attempts", "target": 5, "done": 0, "met": False},
        }
    )
    assert kinds(counts, 0, 0, versions=(old, new)) == [None]  # today (a Wednesday) is not a rest day yet
    # next Wednesday is
    next_week = day_kinds(counts, (), (), (), (old, new), DEFAULTS, NOW, "UTC", D + 7 * ONE, D + 7 * ONE)
    assert list(next_week.values()) == ["rest"]
    # the past keeps its rules: d-1 met the old goal of 5 attempts? no (2); under the new one it would have
    assert goal_met_series(counts, (old, new), DEFAULTS, d(1), d(1)) == {d(1): False}


# --- the rest of the section ---------------------------------------------------------------------------------


def test_the_daily_goal_defaults_to_daily_goal_attempts() -> None:
    result = figures({D: (12, 4)})
    assert result["today"] == {
        "date": D.isoformat(),
        "attempts": 12,
        "correct": 4,
        "goal": {"unit": "attempts", "target": 10, "done": 12, "met": True},
    }
    correct = (SettingsVersion(dt.date(2025, 1, 1), goal_unit="correct", goal_target=5),)
    assert figures({D: (12, 4)}, versions=correct)["today"]["goal"] == {
        "unit": "correct",
        "target": 5,
        "done": 4,
        "met": False,
    }


def test_grants_count_from_their_day_and_are_cut_at_the_maximum() -> None:
    counts = practice(6, 5)  # starter 2 given on d-6
    # no grant: d-4, d-3 frozen, d-2 breaks (given back)
    assert figures(counts)["current_streak"] == 0
    # a grant arriving on d-2 bridges d-2; d-1 breaks: all three given back, cut to 2
    broken = figures(counts, grants=((d(2), 1),))
    assert (broken["current_streak"], broken["freezes_held"]) == (0, 2)
    # two grants: d-4..d-1 all frozen
    kept = figures(counts, grants=((d(2), 1), (d(1), 1)))
    assert (kept["current_streak"], kept["freezes_held"]) == (2, 0)
    assert kinds(counts, 4, 1, grants=((d(2), 1), (d(1), 1))) == ["frozen"] * 4
    # a grant today counts now, at a maximum it is lost
    assert figures(practice(1, 0), grants=((D, 2),))["freezes_held"] == 2
    assert figures(practice(1, 0), config=NO_FREEZES, grants=((D, 2),))["freezes_held"] == 2
    assert figures(practice(1, 0), config=NO_FREEZES, grants=((D, 1),))["next_freeze_in"] is None


def test_the_starter_freezes_come_with_the_first_practice_day_after_the_rules_start() -> None:
    config = DEFAULTS._replace(rules_start=d(3))
    # d-6, d-5 practised under the old rules; d-4 missed breaks (no freezes yet)
    result = figures(practice(6, 5, 3, 2, 1), config=config)
    assert (result["current_streak"], result["freezes_held"], result["longest_streak"]) == (3, 2, 3)
    assert figures(practice(6, 5), config=config)["freezes_held"] == 0
    # a learner whose yesterday was missed before the upgrade (rules start today): 0, as before
    upgraded = DEFAULTS._replace(rules_start=D)
    result = figures(practice(3, 2), config=upgraded)
    assert (result["current_streak"], result["freezes_held"], result["repair"]) == (0, 0, None)


def test_repair_available_after_enough_attempts_within_the_window() -> None:
    # run d-7..d-5, missed d-4..d-3 (one freeze set aside, given back), back on d-2 with 10 attempts
    config = DEFAULTS._replace(freeze_starter=1)
    counts = {**practice(7, 6, 5), d(2): (10, 3)}
    yesterday = figures(counts, config=config, now=NOW - ONE)
    assert (yesterday["current_streak"], yesterday["freezes_held"]) == (1, 1)
    assert yesterday["repair"] == {
        "gap_from": d(4).isoformat(),
        "gap_to": d(3).isoformat(),
        "deadline": "2025-06-18T00:00:00+00:00",  # the start of day gap_to + 2 + 1
        "attempts_required": 10,
        "attempts_done": 10,
        "available": True,
    }
    # at the deadline the offer is gone (d-1, missed meanwhile, is frozen: no new break)
    today = figures(counts, config=config)
    assert (today["current_streak"], today["freezes_held"], today["repair"]) == (1, 0, None)
    # the window: gap_to + 2 days; the start of day gap_to + 3 is the deadline
    counts = {**practice(5, 4), d(0): (10, 0)}  # missed d-3, d-2, d-1
    result = figures(counts, config=DEFAULTS._replace(freeze_starter=0))
    assert result["repair"] is not None
    assert (result["repair"]["gap_from"], result["repair"]["gap_to"]) == (d(3).isoformat(), d(1).isoformat())
    assert result["repair"]["deadline"] == "2025-06-20T00:00:00+00:00"
    assert result["repair"]["available"] is True


def test_repair_not_enough_attempts_outside_the_window_once_per_30_days_too_long() -> None:
    config = DEFAULTS._replace(freeze_starter=0)
    short = figures({**practice(5, 4), d(0): (9, 0)}, config=config)
    assert short["repair"]["available"] is False and short["repair"]["attempts_done"] == 9
    # outside the window: the gap ended d-3 (back on d-2); its deadline was the start of today
    outside = figures({**practice(7, 6, 2, 1), d(0): (10, 0)}, config=config)
    assert outside["repair"] is None
    # a repair made less than 30 days (of 24 hours) ago blocks, one made 30 days ago does not
    counts = {**practice(5, 4), d(0): (10, 0)}
    old_repair = (d(40), d(40), NOW - 30 * ONE + dt.timedelta(seconds=1))
    assert figures(counts, config=config, repairs=(old_repair,))["repair"]["available"] is False
    older = (d(40), d(40), NOW - 30 * ONE)
    assert figures(counts, config=config, repairs=(older,))["repair"]["available"] is True
    # a gap of 4 days is not repairable
    assert figures({**practice(6, 5), d(0): (10, 0)}, config=config)["repair"] is None


def test_a_repair_joins_the_runs_and_makes_the_run_imperfect() -> None:
    config = DEFAULTS._replace(freeze_starter=0)
    counts = {**practice(6, 5, 4), d(0): (10, 0)}  # missed d-3..d-1
    repaired = ((d(3), d(1), NOW),)
    result = figures(counts, config=config, repairs=repaired)
    assert (result["current_streak"], result["current_streak_perfect"], result["repair"]) == (4, False, None)
    assert kinds(counts, 3, 1, config=config, repairs=repaired) == ["repaired"] * 3
    # a late attempt on a repaired day makes it a practice day
    assert kinds({**counts, d(2): (1, 1)}, 3, 1, config=config, repairs=repaired) == [
        "repaired",
        "practice",
        "repaired",
    ]


def test_a_rest_day_before_the_missed_days_is_not_the_gap_start() -> None:
    # d = Wednesday; Monday d-2 rest; practice up to Sunday d-3; missed Tue d-1: gap_from is d-1
    rest = (SettingsVersion(dt.date(2025, 1, 1), frozenset({1})),)
    result = figures(practice(4, 3), versions=rest, config=NO_FREEZES)
    assert result["current_streak"] == 0
    assert (result["repair"]["gap_from"], result["repair"]["gap_to"]) == (d(1).isoformat(), d(1).isoformat())


def test_weekly_goal_and_weekly_streak() -> None:
    # Monday weeks; 3 days a week; d = Wednesday 2025-06-18, this week 16..22
    goal = (SettingsVersion(dt.date(2025, 5, 1), weekly_goal_days=3),)
    this_week = practice(2)  # Monday
    last_weeks = {dt.date(2025, 6, 9) + i * ONE: (1, 1) for i in (0, 2, 4)}  # Mon, Wed, Fri
    week_before = {dt.date(2025, 6, 2) + i * ONE: (1, 1) for i in (0, 1)}  # only 2: not met
    counts = {**this_week, **last_weeks, **week_before}
    result = figures(counts, versions=goal)
    assert result["week"] == {
        "start": "2025-06-16",
        "end": "2025-06-22",
        "target_days": 3,
        "practised_days": 1,
        "days_left": 5,  # today (not practised) and 4 days after it
        "required_left": 2,
        "at_risk": False,
        "met": False,
    }
    assert result["weekly_streak"] == 1  # last week only
    # a covered day lowers the target: the week of 2025-06-02 is met with one covered day
    covered = (dt.date(2025, 6, 6),)
    assert figures(counts, versions=goal, covered=covered)["weekly_streak"] == 2
    # at risk: 3 needed and 3 days left (Fri..Sun) on Friday
    friday = NOW + 2 * ONE
    late = figures(counts, versions=goal, now=friday)
    assert (late["week"]["required_left"], late["week"]["days_left"], late["week"]["at_risk"]) == (
        2,
        3,
        False,
    )
    late = figures(practice(), versions=goal, now=friday)
    assert (late["week"]["required_left"], late["week"]["days_left"], late["week"]["at_risk"]) == (3, 3, True)
    # met this week: counted from this week; a goal set today applies from next week
    full = {**counts, d(1): (1, 1), d(0): (1, 1)}
    assert figures(full, versions=goal)["weekly_streak"] == 2
    assert figures(counts)["week"] is None and figures(counts)["weekly_streak"] == 0
    set_today = (SettingsVersion(D + ONE, weekly_goal_days=3),)
    assert figures(counts, versions=set_today)["week"] is None


@pytest.mark.parametrize(
    ("zone", "day", "minutes", "expected"),
    [
        ("America/Los_Angeles", dt.date(2025, 3, 9), 0, "2025-03-09T00:00:00-08:00"),
        ("America/Los_Angeles", dt.date(2025, 3, 10), 0, "2025-03-10T00:00:00-07:00"),
        ("America/Los_Angeles", dt.date(2025, 3, 9), 240, "2025-03-09T04:00:00-07:00"),
        # clocks go from 02:00 to 03:00: 02:30 read with the offset from before, as PostgreSQL does
        ("America/Los_Angeles", dt.date(2025, 3, 9), 150, "2025-03-09T03:30:00-07:00"),
        # 01:30 twice: the later one, as PostgreSQL does
        ("America/Los_Angeles", dt.date(2025, 11, 2), 90, "2025-11-02T01:30:00-08:00"),
        ("Australia/Lord_Howe", dt.date(2025, 4, 6), 105, "2025-04-06T01:45:00+10:30"),
        ("Australia/Lord_Howe", dt.date(2025, 10, 5), 135, "2025-10-05T02:45:00+11:00"),
    ],
)
def test_local_instants_across_dst(zone: str, day: dt.date, minutes: int, expected: str) -> None:
    assert local_instant(day, minutes, zone).isoformat() == expected


def test_streak_expires_at_across_a_dst_change() -> None:
    # Los Angeles, practised on Saturday 2025-03-08 (night of the change), no freezes: drops at the start of
    # Monday 2025-03-10, which is a PDT midnight
    now = dt.datetime(2025, 3, 9, 12, 0, tzinfo=dt.UTC)
    result = figures(
        {dt.date(2025, 3, 8): (1, 1)}, config=NO_FREEZES, now=now, timezone="America/Los_Angeles"
    )
    assert result["streak_expires_at"] == "2025-03-10T00:00:00-07:00"
    assert day_start_instant(dt.date(2025, 3, 10), "America/Los_Angeles", ()).utcoffset() == dt.timedelta(
        hours=-7
    )


def test_a_day_start_change_applies_to_the_days_it_is_in_force_on() -> None:
    # from the 18th the day starts at 06:00: an attempt at 05:00 on the 18th belongs to the 17th, one at
    # 05:00 on the 17th still to the 17th
    versions = (SettingsVersion(dt.date(2025, 6, 18), day_start_minutes=360),)
    assert local_day_of(dt.datetime(2025, 6, 18, 5, tzinfo=dt.UTC), "UTC", versions) == dt.date(2025, 6, 17)
    assert local_day_of(dt.datetime(2025, 6, 17, 5, tzinfo=dt.UTC), "UTC", versions) == dt.date(2025, 6, 17)


def test_gifts_start_strictly_after_the_rules_start() -> None:
    # the upgrade's own day may hold attempts made before it: no starter freezes for it
    config = DEFAULTS._replace(rules_start=d(1))
    on_the_day = figures(practice(1), config=config)
    assert (on_the_day["freezes_held"], on_the_day["streak_expires_at"]) == (0, "2025-06-19T00:00:00+00:00")
    assert figures(practice(1, 0), config=config)["freezes_held"] == 2
    # earnings too (every 2nd practice day here): the run's 2nd day on the upgrade's day earns nothing, its
    # 4th the day after does
    earning = StreakConfig(freeze_starter=0, freeze_earn_every=2, rules_start=d(2))
    assert figures(practice(3, 2), config=earning)["freezes_held"] == 0
    assert figures(practice(4, 3, 2, 1), config=earning)["freezes_held"] == 1


def test_a_weeks_goal_is_the_one_in_force_on_its_last_day_lived() -> None:
    # a weekly goal set on Sunday 2025-06-15 (effective Monday 16th) rules this whole week; the week before
    # (ended Sunday 15th, under no goal) does not count
    goal = (SettingsVersion(dt.date(2025, 6, 16), weekly_goal_days=1),)
    counts = practice(2, 9)  # Monday 16th, Monday 9th
    result = figures(counts, versions=goal)
    assert (result["week"]["target_days"], result["week"]["met"], result["weekly_streak"]) == (1, True, 1)
    # a goal changed mid-week (effective Wednesday, today) rules this week; the past weeks keep theirs
    change = (*goal, SettingsVersion(D, weekly_goal_days=2))
    assert figures(counts, versions=change)["week"]["target_days"] == 2
    assert figures(counts, versions=change)["weekly_streak"] == 0
    # and a goal set today (effective tomorrow) is not this week's yet
    assert figures(counts, versions=(SettingsVersion(D + ONE, weekly_goal_days=1),))["week"] is None


def test_a_repaired_day_of_another_kind_leaves_the_run_perfect() -> None:
    # d-1 repaired and covered: its kind is `covered`, so the run holds no repaired day
    config = NO_FREEZES
    counts = practice(2, 0)
    repaired = ((d(1), d(1), NOW),)
    assert figures(counts, config=config, repairs=repaired)["current_streak_perfect"] is False
    both = figures(counts, config=config, repairs=repaired, covered=(d(1),))
    assert (both["current_streak"], both["current_streak_perfect"]) == (2, True)
    assert kinds(counts, 1, 1, config=config, repairs=repaired, covered=(d(1),)) == ["covered"]
    # the same with a rest weekday (d-1 is a Tuesday)
    rest = (SettingsVersion(dt.date(2025, 1, 1), frozenset({2})),)
    assert figures(counts, config=config, repairs=repaired, versions=rest)["current_streak_perfect"] is True


def test_a_day_covered_ahead_does_not_make_today_missed_or_frozen() -> None:
    # practised d-1, tomorrow covered ahead, one freeze held: today is not frozen, nothing is spent
    config = StreakConfig(freeze_max_held=1, freeze_starter=1, freeze_earn_every=0)
    result = figures(practice(1), config=config, covered=(D + ONE,))
    assert (result["current_streak"], result["freezes_held"], result["current_streak_perfect"]) == (
        1,
        1,
        True,
    )
    assert kinds(practice(1), 1, 0, config=config, covered=(D + ONE,)) == ["practice", None]
