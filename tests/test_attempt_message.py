"""The bounds of an attempt's created_at (DESIGN, Write path: between 2000-01-01T00:00:00Z and 5 minutes
after the time of writing), both ends included, and the reason a message outside them is rejected with."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from progress_common.models import EARLIEST_CREATED_AT, MAX_CLOCK_SKEW, check_created_at
from tests.events import FakeLambdaContext, attempt_body, sqs_event, sqs_record

TICK = dt.timedelta(microseconds=1)  # the resolution of a timestamptz


def test_created_at_bounds_are_inclusive_to_the_microsecond() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    for inside in (EARLIEST_CREATED_AT, now, now + MAX_CLOCK_SKEW):
        assert check_created_at(inside, now) == inside
    with pytest.raises(ValueError, match=r"^created_at is in the future$"):
        check_created_at(now + MAX_CLOCK_SKEW + TICK, now)
    with pytest.raises(ValueError, match=r"^created_at must not be before 2000-01-01T00:00:00\+00:00$"):
        check_created_at(EARLIEST_CREATED_AT - TICK, now)


def test_a_message_outside_the_bounds_is_rejected_with_its_reason(load_function, db, captured_logs) -> None:
    future = dt.datetime.now(dt.UTC) + MAX_CLOCK_SKEW + dt.timedelta(minutes=1)
    bodies = {
        "future": attempt_body(created_at=future.isoformat()),
        "too-old": attempt_body(created_at="1999-12-31T23:59:59.999999Z"),
    }
    handler = load_function("record_attempts").lambda_handler
    result = handler(
        sqs_event(*(sqs_record(b, message_id=m) for m, b in bodies.items())), FakeLambdaContext()
    )
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(bodies)
    reasons = {
        line["message_id"]: [(p["loc"], p["reason"]) for p in line["problems"]]
        for line in map(json.loads, captured_logs().splitlines())
        if line.get("message") == "rejected an attempt message"
    }
    assert reasons == {
        "future": [("created_at", "Value error, created_at is in the future")],
        "too-old": [("created_at", "Value error, created_at must not be before 2000-01-01T00:00:00+00:00")],
    }
