"""The reference model of docs/design.md "Streaks", for the tests only: small, obvious, slow.

It walks calendar days one at a time and knows nothing of how the service stores or caches anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, NamedTuple
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


# --------------------------------------------------------------------------------------------------------------
# "Keeping a streak" (docs/design.md, docs/streaks.md): freezes, rest days, repair, day start, goals, settings
# versions. The same spirit: one calendar day at a time, every rule written out where it applies.
# Where the documents leave a question open, the model decides as follows (open questions for the contract):
# - a repaired day whose kind is another (covered, or an unpractised rest weekday) does not make a run
#   imperfect: `current_streak_perfect` reads the kinds (practice > covered > rest > frozen > repaired);
# - the repair deadline is the start of its local day under the settings in force on that day;
# - "no repair in the last REPAIR_EVERY_DAYS days": none made less than that many 24-hour days before now;
# - every covered day of a week lowers its target, practised or not;
# - a wall time a DST change skips or repeats is read as PostgreSQL's `timestamp AT TIME ZONE` reads it;
# - days covered ahead (after today) play no part before they come: not in today's figures, not in
#   streak_expires_at (the walk into the future counts rest days and freezes only, as docs/streaks.md says).
# --------------------------------------------------------------------------------------------------------------

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class StreakConfig(NamedTuple):
    """The one row of `streak_config` (the deployment's limits; StreakSettings' defaults)."""

    freeze_max_held: int = 2
    freeze_starter: int = 2
    freeze_earn_every: int = 7
    repair_window_days: int = 2
    repair_max_gap_days: int = 3
    repair_every_days: int = 30
    repair_attempts: int = 10
    daily_goal: int = 10
    rules_start: dt.date | None = None  # None: no limit (a database that was empty at the upgrade)


class SettingsVersion(NamedTuple):
    """One row of `user_settings`: the learner's settings from the local day `effective_from` on."""

    effective_from: dt.date
    rest_weekdays: frozenset[int] = frozenset()  # ISO weekdays, 1 = Monday .. 7 = Sunday
    day_start_minutes: int = 0
    goal_unit: str | None = None  # "attempts" | "correct"; None: the deployment's DAILY_GOAL attempts
    goal_target: int | None = None
    weekly_goal_days: int | None = None
    week_start: int = 1


DEFAULT_SETTINGS = SettingsVersion(dt.date.min)

Counts = dict[dt.date, tuple[int, int]]
Grant = tuple[dt.date, int]  # (local_day, added)
Repair = tuple[dt.date, dt.date, dt.datetime]  # (gap_from, gap_to, created_at)


def settings_on(versions: Iterable[SettingsVersion | tuple[Any, ...]], day: dt.date) -> SettingsVersion:
    """The newest version effective on or before `day`; before the first one, the defaults."""
    found = DEFAULT_SETTINGS
    for version in versions:
        version = SettingsVersion(*version)
        if version.effective_from <= day and version.effective_from >= found.effective_from:
            found = version
    return SettingsVersion(found.effective_from, frozenset(found.rest_weekdays), *found[2:])


def local_instant(day: dt.date, minutes: int, timezone: str) -> dt.datetime:
    """The instant the zone's wall clock shows `day` 00:00 + `minutes`, as PostgreSQL's
    `timestamp AT TIME ZONE zone` reads a wall time: an ambiguous one (clocks went back) as the later
    instant, one that does not exist (clocks went forward) with the offset from before the change."""
    wall = dt.datetime(day.year, day.month, day.day) + dt.timedelta(minutes=minutes)
    zone = ZoneInfo(timezone)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    exists = first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == wall
    chosen = second if exists else first
    return chosen.astimezone(dt.UTC).astimezone(zone)


def local_day_of(instant: dt.datetime, timezone: str, versions: Iterable[Any]) -> dt.date:
    """The local day an instant belongs to (docs/streaks.md "Day start"): the day start is the one of the
    version in force on the instant's calendar date in the zone; the day is the date of (local time - it)."""
    wall = instant.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    start = settings_on(list(versions), wall.date()).day_start_minutes
    return (wall - dt.timedelta(minutes=start)).date()


def day_start_instant(day: dt.date, timezone: str, versions: Iterable[Any]) -> dt.datetime:
    """When local day `day` starts: its calendar date at the day start of the version in force on it."""
    return local_instant(day, settings_on(list(versions), day).day_start_minutes, timezone)


def is_rest(day: dt.date, versions: Iterable[Any], config: StreakConfig) -> bool:
    """A rest weekday of the settings in force on the day, on or after the day the rules start."""
    if config.rules_start is not None and day < config.rules_start:
        return False
    return day.isoweekday() in settings_on(list(versions), day).rest_weekdays


class _Walk:
    """The state of docs/streaks.md's walk over a learner's days (a fresh one per question asked)."""

    def __init__(self, config: StreakConfig, grants: list[Grant]) -> None:
        self.config = config
        self.pending_grants = sorted(grants, key=lambda g: g[0])  # stable: same-day grants keep their order
        self.held: list[str] = []  # oldest first
        self.run_length = 0
        self.longest = 0
        self.perfect = True
        self.starter_given = False
        self.break_from: dt.date | None = None
        self.break_to: dt.date | None = None
        self.frozen: dict[dt.date, str] = {}

    def add(self, source: str) -> None:
        if len(self.held) < self.config.freeze_max_held:
            self.held.append(source)  # else: a freeze that does not fit is lost

    def add_grants_through(self, day: dt.date) -> None:
        while self.pending_grants and self.pending_grants[0][0] <= day:
            _, added = self.pending_grants.pop(0)
            for _ in range(added):
                self.add("granted")

    def rules_apply(self, day: dt.date) -> bool:
        return self.config.rules_start is None or day >= self.config.rules_start

    def gap(self, first: dt.date, last: dt.date, versions: list[Any]) -> None:
        """The days first..last, none of them a history day, before the next history day (last + 1) or
        today (last = yesterday)."""
        if self.run_length == 0:
            return
        set_aside: list[tuple[dt.date, str]] = []
        day = first
        while day <= last:
            self.add_grants_through(day)
            if self.rules_apply(day) and is_rest(day, versions, self.config):
                pass  # bridged by rest
            elif self.rules_apply(day) and self.held:
                set_aside.append((day, self.held.pop(0)))
            else:
                # broken: the freezes set aside in this gap saved nothing and go back, in their old place
                self.held = ([source for _, source in set_aside] + self.held)[: self.config.freeze_max_held]
                self.run_length = 0
                self.perfect = True
                missed = first
                while self.rules_apply(missed) and is_rest(missed, versions, self.config):
                    missed += ONE_DAY
                self.break_from, self.break_to = missed, last
                return
            day += ONE_DAY
        for frozen_day, source in set_aside:
            self.frozen[frozen_day] = source
        if set_aside:
            self.perfect = False

    def history_day(self, day: dt.date, kind: str) -> None:
        self.add_grants_through(day)
        if kind == "practice":
            # gifts from the first day strictly after rules_start: the upgrade's own day may hold attempts made
            # before the upgrade, and keeps its figures
            gifts = self.config.rules_start is None or day > self.config.rules_start
            if gifts and not self.starter_given:
                self.starter_given = True
                for _ in range(self.config.freeze_starter):
                    self.add("starter")
            if self.run_length == 0:
                self.perfect = True
            self.run_length += 1
            every = self.config.freeze_earn_every
            if gifts and every and self.run_length % every == 0:
                self.add("earned")
        elif kind == "repaired" and self.run_length:
            self.perfect = False
        # covered (and rest, when a history day is both): keeps a run alive without adding
        self.longest = max(self.longest, self.run_length)


def _kind_of_history_day(
    day: dt.date,
    counts: Counts,
    covered: set[dt.date],
    repaired: set[dt.date],
    versions: list[Any],
    config: StreakConfig,
) -> str:
    """A history day's kind by the precedence practice > covered > rest > frozen > repaired."""
    if counts.get(day, (0, 0))[0] > 0:
        return "practice"
    if day in covered:
        return "covered"
    if is_rest(day, versions, config):
        return "rest"
    assert day in repaired
    return "repaired"


def repaired_days(repairs: Iterable[Repair]) -> set[dt.date]:
    days = set()
    for gap_from, gap_to, _ in repairs:
        day = gap_from
        while day <= gap_to:
            days.add(day)
            day += ONE_DAY
    return days


def _walk_to_today(
    counts: Counts,
    covered: set[dt.date],
    grants: list[Grant],
    repairs: list[Repair],
    versions: list[Any],
    config: StreakConfig,
    today: dt.date,
) -> _Walk:
    """docs/streaks.md's walk over the history days up to today, then the days since the last one up to
    yesterday (rule 4), then the grants up to today."""
    walk = _Walk(config, grants)
    repaired = repaired_days(repairs)
    history = sorted(
        day for day in {d for d, (a, _) in counts.items() if a > 0} | covered | repaired if day <= today
    )
    previous: dt.date | None = None
    for day in history:
        if previous is not None and day - previous > ONE_DAY:
            walk.gap(previous + ONE_DAY, day - ONE_DAY, versions)
        walk.history_day(day, _kind_of_history_day(day, counts, covered, repaired, versions, config))
        previous = day
    if previous is not None and previous < today - ONE_DAY:
        walk.gap(previous + ONE_DAY, today - ONE_DAY, versions)
    walk.add_grants_through(today)
    return walk


def _goal(version: SettingsVersion, config: StreakConfig) -> tuple[str, int]:
    if version.goal_unit is None or version.goal_target is None:
        return "attempts", config.daily_goal
    return version.goal_unit, version.goal_target


def _goal_met(day: dt.date, counts: Counts, versions: list[Any], config: StreakConfig) -> bool:
    unit, target = _goal(settings_on(versions, day), config)
    attempts, correct = counts.get(day, (0, 0))
    return (attempts if unit == "attempts" else correct) >= target


def _week(
    start: dt.date, counts: Counts, covered: set[dt.date], versions: list[Any], today: dt.date
) -> tuple[int, int] | None:
    """(target days, practised days) of the week starting on `start`, or None without a weekly goal: the goal
    is the one in force on the week's last day lived (its last day, or today); each covered day of the week
    lowers it by one."""
    goal = settings_on(versions, min(start + 6 * ONE_DAY, today)).weekly_goal_days
    if goal is None:
        return None
    days = [start + i * ONE_DAY for i in range(7)]
    practised = sum(1 for d in days if counts.get(d, (0, 0))[0] > 0)
    covers = sum(1 for d in days if d in covered)  # each covered day, practised or not
    return max(goal - covers, 0), practised


def keeping_figures(
    counts: Counts,
    covered: Iterable[dt.date],
    grants: Iterable[Grant],
    repairs: Iterable[Repair],
    versions: Iterable[SettingsVersion | tuple[Any, ...]],
    config: StreakConfig,
    now: dt.datetime,
    timezone: str,
) -> dict[str, Any]:
    """The streak fields of GET /progress (docs/design.md "Keeping a streak") at the instant `now`.

    counts: {local day: (attempts, correct)} (a day with attempts is a practice day); covered: the covered
    days; grants: (local_day, added); repairs: (gap_from, gap_to, created_at); versions: the settings
    versions; timezone: the profile's. Instants come back as ISO strings with the zone's offset."""
    covered, grants, repairs = set(covered), list(grants), list(repairs)
    versions = [SettingsVersion(*v) for v in versions]
    config = StreakConfig(*config)
    today = local_day_of(now, timezone, versions)
    walk = _walk_to_today(counts, covered, grants, repairs, versions, config, today)
    current = walk.run_length
    practice_days = {d for d, (a, _) in counts.items() if a > 0}

    # streak_expires_at: without practice, each day from the first one not yet walked is bridged by a rest
    # day, else by a held freeze; the streak drops when the first day that neither bridges starts over.
    expires = None
    if current:
        day = today + ONE_DAY if today in practice_days | covered | repaired_days(repairs) else today
        held = len(walk.held)
        while True:
            if walk.rules_apply(day) and is_rest(day, versions, config):
                pass
            elif walk.rules_apply(day) and held:
                held -= 1
            else:
                break
            day += ONE_DAY
        expires = day_start_instant(day + ONE_DAY, timezone, versions).isoformat()

    repair = None
    if walk.break_from is not None and walk.break_to is not None:
        gap_from, gap_to = walk.break_from, walk.break_to
        deadline = day_start_instant(gap_to + (config.repair_window_days + 1) * ONE_DAY, timezone, versions)
        if (
            gap_to - gap_from + ONE_DAY <= config.repair_max_gap_days * ONE_DAY
            and walk.rules_apply(gap_from)
            and now < deadline
        ):
            done = sum(a for d, (a, _) in counts.items() if d >= gap_from)
            # "no repair in the last REPAIR_EVERY_DAYS days": made less than that many times 24 hours ago
            recent = any(now - created < config.repair_every_days * ONE_DAY for _, _, created in repairs)
            repair = {
                "gap_from": gap_from.isoformat(),
                "gap_to": gap_to.isoformat(),
                "deadline": deadline.isoformat(),
                "attempts_required": config.repair_attempts,
                "attempts_done": done,
                "available": done >= config.repair_attempts and not recent,
            }

    version_today = settings_on(versions, today)
    unit, target = _goal(version_today, config)
    attempts, correct = counts.get(today, (0, 0))
    done = attempts if unit == "attempts" else correct

    # weeks: aligned on the week start in force today; a weekly streak stops at a week without a goal
    week_start = today - ((today.isoweekday() - version_today.week_start) % 7) * ONE_DAY
    this_week = _week(week_start, counts, covered, versions, today)
    week = None
    if this_week is not None:
        target_days, practised = this_week
        days_left = (week_start + 6 * ONE_DAY - today).days + (0 if today in practice_days else 1)
        required_left = max(target_days - practised, 0)
        week = {
            "start": week_start.isoformat(),
            "end": (week_start + 6 * ONE_DAY).isoformat(),
            "target_days": target_days,
            "practised_days": practised,
            "days_left": days_left,
            "required_left": required_left,
            "at_risk": required_left > 0 and required_left >= days_left,
            "met": practised >= target_days,
        }
    weekly_streak = 0
    start = week_start if week is not None and week["met"] else week_start - 7 * ONE_DAY
    while (figures := _week(start, counts, covered, versions, today)) is not None and figures[1] >= figures[
        0
    ]:
        weekly_streak += 1
        start -= 7 * ONE_DAY

    every = config.freeze_earn_every
    return {
        "current_streak": current,
        "longest_streak": max(walk.longest, current),
        "last_practice_date": max(practice_days).isoformat() if practice_days else None,
        "practiced_today": today in practice_days,
        # no run, nothing perfect about it
        "current_streak_perfect": current > 0 and walk.perfect,
        "freezes_held": len(walk.held),
        "freezes_max": config.freeze_max_held,
        "next_freeze_in": None
        if every == 0 or len(walk.held) >= config.freeze_max_held
        else every - current % every,
        "streak_expires_at": expires,
        "rest_weekdays": [WEEKDAY_NAMES[w - 1] for w in sorted(version_today.rest_weekdays)],
        "repair": repair,
        "today": {
            "date": today.isoformat(),
            "attempts": attempts,
            "correct": correct,
            "goal": {"unit": unit, "target": target, "done": done, "met": done >= target},
        },
        "week": week,
        "weekly_streak": weekly_streak,
    }


def day_kinds(
    counts: Counts,
    covered: Iterable[dt.date],
    grants: Iterable[Grant],
    repairs: Iterable[Repair],
    versions: Iterable[SettingsVersion | tuple[Any, ...]],
    config: StreakConfig,
    now: dt.datetime,
    timezone: str,
    first: dt.date,
    last: dt.date,
) -> dict[dt.date, str | None]:
    """Each day's kind from `first` to `last`: practice > covered > rest > frozen > repaired > None. A rest
    weekday is `rest` whether or not a run was alive; `frozen` days are those the walk spent a freeze on."""
    covered, repairs = set(covered), list(repairs)
    versions = [SettingsVersion(*v) for v in versions]
    config = StreakConfig(*config)
    today = local_day_of(now, timezone, versions)
    walk = _walk_to_today(counts, covered, list(grants), repairs, versions, config, today)
    repaired = repaired_days(repairs)
    kinds: dict[dt.date, str | None] = {}
    day = first
    while day <= last:
        if counts.get(day, (0, 0))[0] > 0:
            kinds[day] = "practice"
        elif day in covered:
            kinds[day] = "covered"
        elif is_rest(day, versions, config):
            kinds[day] = "rest"
        elif day in walk.frozen:
            kinds[day] = "frozen"
        elif day in repaired:
            kinds[day] = "repaired"
        else:
            kinds[day] = None
        day += ONE_DAY
    return kinds


def goal_met_series(
    counts: Counts, versions: Iterable[Any], config: StreakConfig, first: dt.date, last: dt.date
) -> dict[dt.date, bool]:
    """Statistics `daily` rows' `goal_met`: the day's count reaches the daily goal in force on that day."""
    versions = [SettingsVersion(*v) for v in versions]
    result = {}
    day = first
    while day <= last:
        result[day] = _goal_met(day, counts, versions, StreakConfig(*config))
        day += ONE_DAY
    return result
