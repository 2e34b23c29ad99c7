"""Property: random histories through the real handlers agree with the reference model of the streaks.

Each example is one learner. Attempts made in timezones with DST and half- or quarter-hour offsets,
travelling between them (a timezone named by some attempts, none by others), are delivered through
RecordAttemptsFunction in SQS batches, out of order and partly more than once; an operator covers days
and archival runs at random points. Then GET /progress and GET /progress/statistics (the real handlers,
at a few instants set with the clock) must return every streak field and the daily series that
tests/streak_model.py computes from docs/design.md's rules alone.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from progress_admin.covered import cover_days
from progress_common import clock
from progress_common.archive import archive_old_attempts
from tests.events import FakeLambdaContext, call, http_event, sqs_event, sqs_record
from tests.streak_model import daily_series, streak_figures

ZONES = [
    "UTC",
    "America/Los_Angeles",  # DST by an hour
    "Australia/Lord_Howe",  # +10:30, DST by 30 minutes
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "America/St_Johns",  # -03:30, DST
    "Pacific/Chatham",  # +12:45, DST
    "Europe/Berlin",
    "Pacific/Kiritimati",  # +14: a day ahead of most of the world
    "Pacific/Pago_Pago",  # -11
]
HISTORY_SECONDS = 30 * 86_400
SERIES_DAYS = 40
# Simulated "now" for the reads: a past instant (attempts must not be from the real future), in a span
# that holds every DST change of a year in each zone.
EARLIEST_NOW = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
LATEST_NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Attempt:
    uid: str
    created_at: dt.datetime
    timezone: str | None
    is_correct: bool

    def body(self, user: int) -> str:
        message = {
            "attempt_uid": self.uid,
            "user_id": f"user_{user}",
            "exercise_id": 1,
            "is_correct": self.is_correct,
            "user_answer": "x",
            "created_at": self.created_at.isoformat(),
        }
        if self.timezone:
            message["timezone"] = self.timezone
        return json.dumps(message)


@dataclass(frozen=True)
class Cover:
    first_back: int  # days before "today" (negative: ahead)
    length: int


@dataclass(frozen=True)
class Archive:
    older_than_days: int  # before the simulated now


@st.composite
def histories(draw: st.DrawFn) -> tuple[dt.datetime, list[list[Attempt] | Cover | Archive]]:
    now = draw(st.datetimes(EARLIEST_NOW.replace(tzinfo=None), LATEST_NOW.replace(tzinfo=None))).replace(
        tzinfo=dt.UTC
    )
    zones = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True))
    attempts = []
    for i in range(draw(st.integers(0, 24))):
        # half of them in the last two days, where today, yesterday and travel across the date line meet
        back = draw(st.one_of(st.integers(60, 2 * 86_400), st.integers(60, HISTORY_SECONDS)))
        attempts.append(
            Attempt(
                uid=str(uuid.uuid4()),  # unique across examples too: uids are global
                # distinct instants: "the newest attempt naming a timezone" is never a tie
                created_at=now - dt.timedelta(seconds=back, microseconds=i),
                timezone=draw(st.sampled_from([*zones, None])),
                is_correct=draw(st.booleans()),
            )
        )
    # delivery: a random order (late deliveries), some attempts twice (retries, duplicates)
    order = draw(st.permutations(attempts))
    repeats = draw(st.lists(st.sampled_from(attempts), max_size=4)) if attempts else []
    deliveries = list(order)
    for attempt in repeats:
        deliveries.insert(draw(st.integers(0, len(deliveries))), attempt)
    steps: list[list[Attempt] | Cover | Archive] = []
    while deliveries:
        # an attempt that names no timezone takes the profile's at the moment it is written: alone in
        # its batch, so that moment is well defined
        size = 1 if deliveries[0].timezone is None else draw(st.integers(1, 4))
        batch = []
        while deliveries and len(batch) < size and (deliveries[0].timezone is not None or not batch):
            batch.append(deliveries.pop(0))
        steps.append(batch)
    for _ in range(draw(st.integers(0, 2))):
        step: Cover | Archive = draw(
            st.one_of(
                st.builds(
                    Cover,
                    first_back=st.one_of(st.integers(-2, 3), st.integers(-2, 32)),
                    length=st.integers(1, 4),
                ),
                st.builds(Archive, older_than_days=st.integers(0, 31)),
            )
        )
        steps.insert(draw(st.integers(0, len(steps))), step)
    return now, steps


class Model:
    """What docs/design.md says the service knows after each step, without any of its machinery."""

    def __init__(self) -> None:
        self.timezone = "UTC"
        self.timezone_named_at: dt.datetime | None = None
        self.written: dict[str, tuple[dt.date, bool]] = {}
        self.covered: set[dt.date] = set()

    def deliver(self, batch: list[Attempt]) -> None:
        for attempt in batch:
            if attempt.uid not in self.written:
                zone = ZoneInfo(attempt.timezone or self.timezone)
                self.written[attempt.uid] = (attempt.created_at.astimezone(zone).date(), attempt.is_correct)
        for attempt in batch:
            if attempt.timezone and (
                self.timezone_named_at is None or attempt.created_at > self.timezone_named_at
            ):
                self.timezone, self.timezone_named_at = attempt.timezone, attempt.created_at

    def cover(self, days: list[dt.date]) -> None:
        if self.written:  # users without history are skipped
            self.covered.update(days)

    def counts(self) -> dict[dt.date, tuple[int, int]]:
        per_day: dict[dt.date, tuple[int, int]] = {}
        for day, correct in self.written.values():
            attempts, right = per_day.get(day, (0, 0))
            per_day[day] = (attempts + 1, right + correct)
        return per_day


def read(load_function, user: int, at: dt.datetime) -> tuple[dict, dict]:
    clock.utc_now = lambda: at  # restored by the test's monkeypatch
    claims = {"sub": f"user_{user}"}
    status, _, progress = call(
        load_function("get_progress").lambda_handler, http_event("GET", "/progress", claims=claims)
    )
    assert status == 200, progress
    status, _, stats = call(
        load_function("get_statistics").lambda_handler,
        http_event("GET", "/progress/statistics", query={"days": str(SERIES_DAYS)}, claims=claims),
    )
    assert status == 200, stats
    return progress, stats


FIELDS = ("current_streak", "longest_streak", "last_practice_date", "practiced_today", "streak_expires_at")


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(history=histories(), later_hours=st.lists(st.integers(1, 60), max_size=2))
def test_random_histories_match_the_reference_model(
    db, load_function, new_user_id, monkeypatch, history, later_hours
) -> None:
    monkeypatch.setattr(clock, "utc_now", clock.utc_now)  # undo read()'s clock after the test
    now, steps = history
    user = new_user_id()
    model = Model()
    consumer = load_function("record_attempts").lambda_handler
    for step in steps:
        if isinstance(step, list):
            result = consumer(sqs_event(*(sqs_record(a.body(user)) for a in step)), FakeLambdaContext())
            assert result["batchItemFailures"] == []
            model.deliver(step)
        elif isinstance(step, Cover):
            today = now.astimezone(ZoneInfo(model.timezone)).date()
            first = today - dt.timedelta(days=step.first_back)
            last = first + dt.timedelta(days=step.length - 1)
            cover_days(db, first, last, "property test", user_ids=[user])
            model.cover([first + dt.timedelta(days=i) for i in range(step.length)])
        else:
            real_now = dt.datetime.now(dt.UTC)
            moved = archive_old_attempts(
                retention_days=(real_now - now).days + step.older_than_days, batch_size=7, engine=db
            ).moved
            event("archival moved attempts" if moved else "archival moved nothing")
    # what the examples reach (pytest --hypothesis-show-statistics)
    days = {day for day, _ in model.written.values()}
    if days and max(days) > now.astimezone(ZoneInfo(model.timezone)).date():
        event("a practice day after today")
    if len({a.timezone for step in steps if isinstance(step, list) for a in step}) > 1:
        event("travel")
    if sum(len(step) for step in steps if isinstance(step, list)) > len(model.written):
        event("duplicate deliveries")
    for at in [now] + [now + dt.timedelta(hours=h) for h in later_hours]:
        progress, stats = read(load_function, user, at)
        expected = streak_figures(
            [day for day, _ in model.written.values()], at, model.timezone, covered_days=model.covered
        )
        assert {f: progress[f] for f in FIELDS} == expected
        assert {f: stats[f] for f in FIELDS} == expected
        assert progress["timezone"] == model.timezone
        assert progress["total_attempts"] == len(model.written)
        today = at.astimezone(ZoneInfo(model.timezone)).date()
        assert stats["daily"] == daily_series(model.counts(), model.covered, today, SERIES_DAYS)
        assert stats["practice_days"] == len(model.counts())
        if expected["current_streak"] and model.covered & {today, today - dt.timedelta(days=1)}:
            event("a covered day ends the current run")
