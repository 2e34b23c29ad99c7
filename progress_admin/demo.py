"""A demo learner's history: deterministic, so running demo-data twice writes nothing the second time (on
the same day; the plan is laid out backwards from the learner's today).

The learner practises most days over `days`, and lives under the rules of keeping a streak
(docs/streaks.md): a first settings version with a daily goal of correct answers, then, for the last
DEMO_WINDOW days, one with a rest weekday, a daily goal of attempts and a weekly goal. In those last weeks
every day kind appears: practice, a covered day (an operator's cover, progress_cover_days_v1), rest days
(the rest weekday, never practised), a frozen day (a missed day while a freeze is held: the deployment's
starter or earned freezes) and a repaired gap (a row in streak_repairs, as POST /progress/streak/repair
writes). The rows are written through the SQL the service uses, in an order that has the walk run over the
whole history (write_demo).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from progress_common.models import JSON_SAFE_INT_MAX, AttemptMessage

DEMO_NAMESPACE = uuid.UUID("6f1c1d1e-4b9a-4c43-9d55-0d8b6c2f7a10")
ANSWERS = ["la maison", "le chat", "die Katze", "el perro", "ich bin", "je suis", "nous sommes", "danke"]
# the last days, before today, that show every kind (GET /progress/statistics shows 30 by default)
DEMO_WINDOW = 28
REST_WEEKDAY = 3  # ISO: Wednesday
COVER_REASON = "demo: outage on the exercises service"

INSERT_SETTINGS_SQL = text(
    "INSERT INTO user_settings (user_id, effective_from, rest_weekdays, daily_goal_unit, daily_goal_target,"
    " weekly_goal_days, week_start, changed_at)"
    " VALUES (:user_id, :effective_from, CAST(:rest_weekdays AS smallint[]), :goal_unit, :goal_target,"
    " :weekly_goal_days, 1, :changed_at)"
    " ON CONFLICT (user_id, effective_from) DO NOTHING"
)
INSERT_REPAIR_SQL = text(
    "INSERT INTO streak_repairs (user_id, gap_from, gap_to, attempts_done, created_at)"
    " SELECT :user_id, :gap_from, :gap_to, :attempts_done, :created_at"
    " WHERE NOT EXISTS (SELECT 1 FROM streak_repairs r"
    "                    WHERE r.user_id = :user_id AND r.gap_from = :gap_from AND r.gap_to = :gap_to)"
)
STATISTICS_SQL = text("SELECT progress_read_statistics_v4(CAST(:user_id AS bigint), now(), 30)")


@dataclass(frozen=True)
class SettingsVersion:
    effective_from: dt.date
    rest_weekdays: tuple[int, ...]
    goal_unit: str
    goal_target: int
    weekly_goal_days: int | None


@dataclass(frozen=True)
class DemoPlan:
    """Which local days the demo learner practises, and the days of each kind in the last weeks."""

    today: dt.date
    settings: tuple[SettingsVersion, ...]
    covered: dt.date | None
    frozen: dt.date | None
    repaired: tuple[dt.date, dt.date] | None  # gap_from, gap_to
    skipped: frozenset[dt.date]  # days of the history without practice

    def practises(self, day: dt.date) -> bool:
        return day not in self.skipped


def demo_plan(user_id: int, *, days: int, today: dt.date) -> DemoPlan:
    """The plan for `days` days before `today` (and today). Days of the window that fall before the history
    starts are left out (a short history shows fewer kinds)."""
    rng = random.Random(user_id)  # noqa: S311 - demo data, not security
    window_start = today - dt.timedelta(days=DEMO_WINDOW)

    def back(n: int) -> dt.date:
        """The n-th day before today, moved earlier off the rest weekday (which is never practised)."""
        day = today - dt.timedelta(days=n)
        return day - dt.timedelta(days=1) if day.isoweekday() == REST_WEEKDAY else day

    def within(day: dt.date) -> dt.date | None:
        return day if day >= today - dt.timedelta(days=days) else None

    covered = within(back(5))
    frozen = within(back(11))
    gap_to = back(19)  # two days, neither the rest weekday
    gap_from = gap_to - dt.timedelta(days=1)
    if gap_from.isoweekday() == REST_WEEKDAY:
        gap_to = gap_from - dt.timedelta(days=1)
        gap_from = gap_to - dt.timedelta(days=1)
    repaired = (gap_from, gap_to) if within(gap_from) else None
    skipped: set[dt.date] = set()
    for n in range(days, 0, -1):
        day = today - dt.timedelta(days=n)
        # before the window: practice most days (a random gap may break a run); in the window: every day but
        # the rest weekday and the days of the other kinds. The rng is drawn for every day, so the history
        # before the window does not depend on the window's layout.
        draw = rng.random()
        if day < window_start:
            if n > 4 and draw < 0.3:
                skipped.add(day)
        elif (
            day.isoweekday() == REST_WEEKDAY
            or day in (covered, frozen)
            or (repaired and repaired[0] <= day <= repaired[1])
        ):
            skipped.add(day)
    first_day = today - dt.timedelta(days=days)
    settings = (
        SettingsVersion(first_day, (), "correct", 5, None),
        SettingsVersion(
            max(window_start, first_day + dt.timedelta(days=1)), (REST_WEEKDAY,), "attempts", 6, 4
        ),
    )
    return DemoPlan(
        today=today,
        settings=settings if days > 0 else (),
        covered=covered,
        frozen=frozen,
        repaired=repaired,
        skipped=frozenset(skipped),
    )


def demo_session_id(user_id: int, back: int) -> int:
    """One session per demo day, the same on every run, within the ids the API returns exactly (sessions
    are shared by all users, so it is derived from both rather than counted)."""
    digest = hashlib.sha256(f"demo|{user_id}|{back}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % JSON_SAFE_INT_MAX + 1


def demo_today(timezone: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(timezone)).date()


def demo_attempts(
    user_id: int, *, days: int, timezone: str, plan: DemoPlan | None = None
) -> list[AttemptMessage]:
    zone = ZoneInfo(timezone)
    plan = plan or demo_plan(user_id, days=days, today=demo_today(timezone))
    rng = random.Random(f"attempts|{user_id}")  # noqa: S311 - demo data, not security
    attempts: list[AttemptMessage] = []
    now = dt.datetime.now(zone)
    for back in range(days, -1, -1):
        day = plan.today - dt.timedelta(days=back)
        # drawn for every day, practised or not: a day's attempts do not depend on the days skipped before it
        hour = rng.choice([7, 12, 19, 21])
        count = rng.randint(3, 12)
        seed = rng.random()
        if not plan.practises(day):
            continue
        session_id = demo_session_id(user_id, back)
        start = dt.datetime.combine(day, dt.time(hour=hour), tzinfo=zone)
        if back == 0 and start > now:  # today: practised already, early enough to show it whenever it runs
            start = max(
                dt.datetime.combine(day, dt.time(0, 1), tzinfo=zone), now - dt.timedelta(minutes=count)
            )
        day_rng = random.Random(seed)  # noqa: S311
        for n in range(count):
            created = start + dt.timedelta(minutes=n)
            if created > now:
                break
            attempts.append(
                AttemptMessage(
                    attempt_uid=uuid.uuid5(DEMO_NAMESPACE, f"{user_id}:{back}:{n}"),
                    user_id=user_id,
                    exercise_id=day_rng.randint(1, 25),
                    is_correct=day_rng.random() < 0.75,
                    user_answer=day_rng.choice(ANSWERS),
                    created_at=created,
                    session_id=session_id,
                    timezone=timezone,
                )
            )
    return attempts


@dataclass(frozen=True)
class DemoReport:
    attempts: int
    written: int
    plan: DemoPlan
    kinds: dict[str, int]  # the days of each kind GET /progress/statistics shows (the last 30)


def _local_instant(day: dt.date, hour: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour=hour), tzinfo=zone)


def write_demo(engine: Engine, user_id: int, *, days: int, timezone: str) -> DemoReport:
    """Write the demo learner through the service's SQL, in an order that leaves the walk run over all of it:
    the settings versions and the repair first (rows the walk reads; the days of the attempts are fixed when
    written, with the day start then in force), then the attempts (save_attempts, the shared write path: those
    already there are skipped; the attempts trigger walks the history), then the covered day
    (progress_cover_days_v1, which walks the whole history again when it adds one). Idempotent: every row is
    keyed, none is written twice; a run on a later day adds the days since, a new cover among them, so the
    walk runs over everything again."""
    from progress_admin.covered import cover_days
    from progress_common.writes import save_attempts

    zone = ZoneInfo(timezone)
    plan = demo_plan(user_id, days=days, today=demo_today(timezone))
    attempts = demo_attempts(user_id, days=days, timezone=timezone, plan=plan)
    with engine.begin() as conn:
        for version in plan.settings:
            conn.execute(
                INSERT_SETTINGS_SQL,
                {
                    "user_id": user_id,
                    "effective_from": version.effective_from,
                    "rest_weekdays": list(version.rest_weekdays),
                    "goal_unit": version.goal_unit,
                    "goal_target": version.goal_target,
                    "weekly_goal_days": version.weekly_goal_days,
                    # changed the evening before (a change applies from the next local day)
                    "changed_at": _local_instant(version.effective_from - dt.timedelta(days=1), 20, zone),
                },
            )
        if plan.repaired is not None:
            gap_from, gap_to = plan.repaired
            came_back = gap_to + dt.timedelta(days=1)
            conn.execute(
                INSERT_REPAIR_SQL,
                {
                    "user_id": user_id,
                    "gap_from": gap_from,
                    "gap_to": gap_to,
                    # the attempts of the day the learner came back, as the service counts them then
                    "attempts_done": sum(
                        1
                        for a in attempts
                        if a.created_at and a.created_at.astimezone(zone).date() == came_back
                    ),
                    # that evening
                    "created_at": _local_instant(came_back, 22, zone),
                },
            )
    written = save_attempts(attempts, engine=engine)
    if plan.covered is not None and attempts:
        cover_days(engine, plan.covered, plan.covered, COVER_REASON, user_ids=[user_id])
    with engine.connect() as conn:
        daily = json.loads(conn.execute(STATISTICS_SQL, {"user_id": user_id}).scalar_one())["daily"]
    kinds = Counter(kind for kind in daily["kind"] if kind is not None)
    return DemoReport(
        attempts=len(attempts), written=len(written), plan=plan, kinds=dict(sorted(kinds.items()))
    )
