"""Settled days (docs/signals.md): the ingest watermark never claims a day settled while a message sent
before it is still in the attempts queue; GET /progress says streak_status and data_complete_through; a
message on its way to the DLQ holds its learner's days; incidents open, close and cover themselves.

The queue is moto's (delayed, in-flight, redelivered and dead-lettered messages), on a clock moto and the
service share; the age metric SQS would publish is derived from the moto queue's state (tests/ingest_queue.py).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from progress_admin.cli import main
from progress_common import watermark
from progress_common.errors import DatabaseUnavailableError
from progress_common.queries import get_progress
from progress_common.settings import IngestSettings, set_ingest_settings
from progress_common.sweep import advance_watermark, run_sweep
from progress_common.watermark import Evidence, proven_by_age
from tests.conftest import insert_attempts_sql
from tests.events import FakeLambdaContext, attempt_body, sqs_event, sqs_record
from tests.helpers import FAKE_AWS_CREDENTIALS
from tests.ingest_queue import AttemptsQueue, make_attempts_queue, shared_clock

UTC = dt.UTC


def at(text_: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text_).replace(tzinfo=UTC)


def practise(db: Engine, user: int, *days: dt.date, hour: int = 12) -> None:
    insert_attempts_sql(
        db,
        [
            {"user_id": user, "exercise_id": 1, "is_correct": True, "created_at": at(f"{d}T{hour:02d}:00:00")}
            for d in days
        ],
    )


def status_of(user: int) -> dict[str, Any]:
    progress = get_progress(user, limit=1)
    return {
        "current_streak": progress.current_streak,
        "streak_status": progress.streak_status,
        "data_complete_through": progress.data_complete_through,
    }


def holds_of(db: Engine, user: int) -> list[tuple[str, dt.datetime]]:
    with db.connect() as conn:
        return [
            (str(uid), held_from)
            for uid, held_from in conn.execute(
                text("SELECT attempt_uid, held_from FROM ingest_holds WHERE user_id = :u"), {"u": user}
            )
        ]


def proof(candidate: dt.datetime | None = None, *, empty: bool = False) -> Evidence:
    return Evidence(candidate=candidate, queue_empty=empty, detail={"source": "test"})


# ---- what the age metric proves -------------------------------------------------------------------


def test_the_age_metric_proves_the_newest_settled_minute_less_its_age_and_the_longest_delay() -> None:
    now = at("2026-12-04T12:10:30")
    points = [
        (at("2026-12-04T12:05:00"), 30.0),
        (at("2026-12-04T12:08:00"), 10.0),
        (at("2026-12-04T12:09:00"), 0.0),
    ]
    # 12:09's minute ended at 12:10: not used before 12:11 (the consumer may still be writing a hold)
    assert proven_by_age(points, now, 0) == at("2026-12-04T12:07:50")
    assert proven_by_age(points, now, 900) == at("2026-12-04T11:52:50")
    assert proven_by_age(points, at("2026-12-04T12:11:00"), 0) == at("2026-12-04T12:09:00")
    assert proven_by_age([], now, 0) is None
    assert proven_by_age(points[2:], now, 0) is None


# ---- the watermark in the database -----------------------------------------------------------------


def watermark_row(db: Engine) -> dict[str, Any]:
    with db.connect() as conn:
        return dict(conn.execute(text("SELECT * FROM ingest_watermark")).mappings().one())


def test_the_watermark_only_moves_forward_never_past_now_and_an_empty_queue_counts_on_the_second_reading(
    db: Engine,
) -> None:
    t0 = at("2026-12-04T10:00:00")
    assert advance_watermark(t0, proof())["watermark"] is None  # nothing proven: nothing settled
    assert advance_watermark(t0, proof(empty=True))["watermark"] is None  # one empty reading proves nothing
    second = advance_watermark(t0 + dt.timedelta(minutes=1), proof(empty=True))
    assert second["watermark"] == (t0 - dt.timedelta(seconds=60)).isoformat().replace("+00:00", "+00:00")
    assert watermark_row(db)["watermark"] == t0 - dt.timedelta(seconds=60)
    # a proof beyond the sweep's instant is capped at it; an older one never moves it back
    assert watermark_row(db)["watermark"] < t0
    advance_watermark(t0 + dt.timedelta(minutes=2), proof(t0 + dt.timedelta(hours=5)))
    assert watermark_row(db)["watermark"] == t0 + dt.timedelta(minutes=2)
    advance_watermark(t0 + dt.timedelta(minutes=3), proof(t0))
    assert watermark_row(db)["watermark"] == t0 + dt.timedelta(minutes=2)
    # empty readings too far apart (the sweep missed minutes) are not two in a row
    advance_watermark(t0 + dt.timedelta(minutes=10), proof(empty=True))
    advance_watermark(t0 + dt.timedelta(minutes=14), proof(empty=True))
    assert watermark_row(db)["watermark"] == t0 + dt.timedelta(minutes=2)


# ---- GET /progress: streak_status and data_complete_through ------------------------------------------


def set_watermark(instant: dt.datetime) -> None:
    advance_watermark(instant, proof(instant))


def test_a_broken_run_is_pending_until_the_day_that_broke_it_is_settled(db, new_user_id, set_now) -> None:
    user, fresh, active = new_user_id(), new_user_id(), new_user_id()
    practise(db, user, dt.date(2026, 12, 1), dt.date(2026, 12, 2))  # 12-03 missed: it ends the run
    practise(db, active, dt.date(2026, 12, 3))
    set_now(at("2026-12-04T00:30:00"))
    assert status_of(fresh)["streak_status"] is None  # no history
    # no watermark yet: nothing is settled
    assert status_of(user) == {"current_streak": 0, "streak_status": "pending", "data_complete_through": None}
    set_watermark(at("2026-12-04T00:29:00"))
    assert status_of(user)["streak_status"] == "pending"  # 12-03 ended 29 min ago: not settled
    assert status_of(active)["streak_status"] == "active"
    set_now(at("2026-12-04T01:05:00"))
    set_watermark(at("2026-12-04T00:59:59"))
    assert status_of(user)["streak_status"] == "pending"  # one second short of 12-03's end + 60 minutes
    set_watermark(at("2026-12-04T01:00:00"))
    assert status_of(user) == {
        "current_streak": 0,
        "streak_status": "broken",
        "data_complete_through": at("2026-12-04T01:00:00"),
    }


def test_the_learners_own_timezone_decides_when_a_day_ends(db, new_user_id, set_now) -> None:
    user = new_user_id()
    with db.connect() as conn:
        conn.execute(
            text("INSERT INTO user_profiles (user_id, timezone) VALUES (:u, 'America/Los_Angeles')"),
            {"u": user},
        )
    # practised on 12-01 and 12-02 in Los Angeles (20:00 UTC is noon there); 12-03 ends at 08:00 UTC on 12-04
    practise(db, user, dt.date(2026, 12, 1), dt.date(2026, 12, 2), hour=20)
    set_now(at("2026-12-04T08:30:00"))
    set_watermark(at("2026-12-04T08:30:00"))
    progress = get_progress(user, limit=1)
    assert progress.streak_status == "pending"
    assert progress.data_complete_through is not None
    assert progress.data_complete_through.isoformat() == "2026-12-04T00:30:00-08:00"  # in the learner's zone
    set_now(at("2026-12-04T09:01:00"))
    set_watermark(at("2026-12-04T09:00:00"))
    assert get_progress(user, limit=1).streak_status == "broken"


def test_a_hold_keeps_the_learners_days_from_its_attempt_unsettled_and_nobody_elses(
    db, new_user_id, set_now
) -> None:
    held, other = new_user_id(), new_user_id()
    for user in (held, other):
        practise(db, user, dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    set_now(at("2026-12-04T06:00:00"))
    set_watermark(at("2026-12-04T06:00:00"))
    with db.connect() as conn:
        conn.execute(
            text("SELECT progress_hold_attempts_v1(CAST(:h AS jsonb))"),
            {
                "h": json.dumps(
                    [
                        {
                            "attempt_uid": str(uuid.uuid4()),
                            "user_id": held,
                            "held_from": "2026-12-03T22:00:00+00:00",
                            "message_id": "m-1",
                            "receive_count": 3,
                            "reason": "receive 3 failed: database_unavailable",
                        }
                    ]
                )
            },
        )
    assert status_of(held) == {
        "current_streak": 0,
        "streak_status": "pending",
        "data_complete_through": at("2026-12-03T22:00:00"),
    }
    assert status_of(other)["streak_status"] == "broken"


# ---- the consumer's holds ----------------------------------------------------------------------------


@pytest.fixture
def consumer(load_function) -> Any:
    return load_function("record_attempts").lambda_handler


def test_a_valid_message_failing_on_its_third_receive_holds_its_learners_days_and_recording_it_releases_them(
    db, consumer, new_user_id
) -> None:
    owner, learner = new_user_id(), new_user_id()
    session = 7_000_000 + owner % 1_000_000
    practise(db, owner, dt.date(2026, 12, 1))
    consumer(sqs_event(sqs_record(attempt_body(user_id=owner, session_id=session))), FakeLambdaContext())
    uid = str(uuid.uuid4())
    # names another user's session: fails every time (on its way to the DLQ)
    bad = attempt_body(
        attempt_uid=uid, user_id=learner, session_id=session, created_at="2026-12-03T21:00:00+00:00"
    )
    for receive in (1, 2):
        answer = consumer(sqs_event(sqs_record(bad, receive_count=receive)), FakeLambdaContext())
        assert len(answer["batchItemFailures"]) == 1
    assert holds_of(db, learner) == []  # the age metric still sees it
    consumer(sqs_event(sqs_record(bad, receive_count=3)), FakeLambdaContext())
    assert holds_of(db, learner) == [(uid, at("2026-12-03T21:00:00"))]
    consumer(sqs_event(sqs_record(bad, receive_count=4)), FakeLambdaContext())
    assert holds_of(db, learner) == [(uid, at("2026-12-03T21:00:00"))]  # one hold per attempt
    # an invalid message is never held: it can never be recorded
    consumer(sqs_event(sqs_record('{"user_id": 1}', receive_count=5)), FakeLambdaContext())
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ingest_holds")).scalar_one() == 1
    # redriven with the session fixed: recorded, and its hold goes in the same statement
    fixed = attempt_body(attempt_uid=uid, user_id=learner, created_at="2026-12-03T21:00:00+00:00")
    assert consumer(sqs_event(sqs_record(fixed)), FakeLambdaContext()) == {"batchItemFailures": []}
    assert holds_of(db, learner) == []


def test_a_hold_of_an_attempt_already_recorded_is_not_kept(db, consumer, new_user_id) -> None:
    learner = new_user_id()
    uid = str(uuid.uuid4())
    consumer(sqs_event(sqs_record(attempt_body(attempt_uid=uid, user_id=learner))), FakeLambdaContext())
    row = {"attempt_uid": uid, "user_id": learner, "held_from": "2026-12-03T21:00:00+00:00", "reason": "x"}
    with db.connect() as conn:
        assert (
            conn.execute(
                text("SELECT progress_hold_attempts_v1(CAST(:h AS jsonb))"), {"h": json.dumps([row])}
            ).scalar_one()
            == 0
        )
        # a hold written while its attempt was being recorded elsewhere: the next sweep releases it
        conn.execute(
            text(
                "INSERT INTO ingest_holds (attempt_uid, user_id, held_from, reason) VALUES (:a, :u, :h, 'race')"
            ),
            {"a": uid, "u": learner, "h": at("2026-12-03T21:00:00")},
        )
    assert advance_watermark(at("2026-12-04T00:00:00"), proof())["holds_released"] == 1
    assert holds_of(db, learner) == []


def test_a_hold_that_cannot_be_written_is_logged_and_counted(
    db, consumer, new_user_id, monkeypatch, captured_logs
) -> None:
    from progress_common import holds, ingest

    def down(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailableError("the database is unavailable")

    monkeypatch.setattr(ingest, "write_attempts", down)
    monkeypatch.setattr(holds, "run_idempotent", down)
    learner = new_user_id()
    answer = consumer(
        sqs_event(sqs_record(attempt_body(user_id=learner), receive_count=3)), FakeLambdaContext()
    )
    assert len(answer["batchItemFailures"]) == 1
    logs = captured_logs()
    assert "could not hold the days of messages on their way to the DLQ" in logs
    assert '"database_unavailable":true' in logs.replace(" ", "")


# ---- the queue itself: delayed, in flight, redelivered, dead-lettered ----------------------------------


@pytest.fixture
def attempts_queue(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, consumer) -> Iterator[AttemptsQueue]:
    for name, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", moto_endpoint)
    watermark.forget_clients()
    queue = make_attempts_queue(moto_endpoint, consumer, uuid.uuid4().hex[:10])
    set_ingest_settings(IngestSettings(attempts_queue_url=queue.url, ingest_max_delay_seconds=900))
    yield queue
    set_ingest_settings(None)
    watermark.forget_clients()


def sent_at(message: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(message.sent_timestamp / 1000, UTC)


def attempt_uid_of(message: Any) -> str:
    return str(json.loads(message.body)["attempt_uid"])


def minute(queue: AttemptsQueue, clock: Any, db: Engine) -> dt.datetime | None:
    """One minute of AWS: the consumer polls, SQS publishes its metric, the sweep runs; then the promise:
    every message still in the queue was sent at or after the watermark, or its learner's days are held."""
    clock.advance(minutes=1)
    queue.poll()
    queue.publish_metric(clock.now)
    report = run_sweep()
    with db.connect() as conn:
        held = {str(u) for u in conn.execute(text("SELECT attempt_uid FROM ingest_holds")).scalars()}
    if report.watermark is not None:
        for message in queue.in_queue() + queue.in_dlq():
            assert sent_at(message) >= report.watermark or attempt_uid_of(message) in held, (
                f"watermark {report.watermark} passed a message sent at {sent_at(message)} that is not held"
            )
    return report.watermark


def fail_writes_of(monkeypatch: pytest.MonkeyPatch, user: int) -> None:
    """The batch statement fails (database unavailable) for any batch with this learner's attempts."""
    from progress_common import ingest

    real = ingest.write_attempts

    def failing(attempts: Any, **kwargs: Any) -> Any:
        if any(a.user_id == user for a in attempts):
            raise DatabaseUnavailableError("the database is unavailable")
        return real(attempts, **kwargs)

    monkeypatch.setattr(ingest, "write_attempts", failing)


def test_without_a_message_in_the_queue_the_day_settles_an_hour_after_it_ends(
    attempts_queue, db, new_user_id, monkeypatch
) -> None:
    learner = new_user_id()
    practise(db, learner, dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    with shared_clock(monkeypatch, at("2026-12-03T23:40:00")) as clock:
        while clock.now < at("2026-12-04T01:10:00"):
            minute(attempts_queue, clock, db)
        # the idle queue proves itself empty every minute: the watermark trails by a minute or two
        assert status_of(learner)["streak_status"] == "broken"


def test_a_delayed_message_for_yesterday_failing_into_the_dlq_holds_the_learner_pending_until_redriven(
    attempts_queue, db, new_user_id, monkeypatch
) -> None:
    learner = new_user_id()
    practise(db, learner, dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    with shared_clock(monkeypatch, at("2026-12-03T23:40:00")) as clock:
        for _ in range(10):
            minute(attempts_queue, clock, db)
        # 23:50 on 12-03: the learner practises; the message is delayed 15 minutes, and the database
        # refuses this learner's writes (it will go through every receive and into the DLQ)
        fail_writes_of(monkeypatch, learner)
        attempts_queue.send(
            attempt_body(user_id=learner, created_at="2026-12-03T23:50:00+00:00"), delay_seconds=900
        )
        receives = []
        while clock.now < at("2026-12-04T02:30:00"):
            minute(attempts_queue, clock, db)
            receives.append(len(attempts_queue.results))
            # active until 12-03 ends, then pending: never broken while the message for 12-03 is pending
            expected = "active" if clock.now < at("2026-12-04T00:00:00") else "pending"
            assert status_of(learner)["streak_status"] == expected, clock.now
        assert len(attempts_queue.in_dlq()) == 1 and attempts_queue.in_queue() == []
        (hold,) = holds_of(db, learner)
        assert hold[1] == at("2026-12-03T23:50:00")
        # everything else is settled: the watermark trails the clock by minutes
        assert clock.now - run_sweep().watermark < dt.timedelta(minutes=5)  # type: ignore[operator]
        # the database takes this learner's writes again; an operator redrives the DLQ
        monkeypatch.undo()
        with shared_clock(monkeypatch, clock.now) as clock:
            assert attempts_queue.redrive() == 1
            minute(attempts_queue, clock, db)
            assert holds_of(db, learner) == []
            assert status_of(learner)["current_streak"] == 3  # 12-01..12-03, today not yet
            assert status_of(learner)["streak_status"] == "active"


def test_a_message_in_flight_or_redelivered_keeps_the_day_unsettled(
    attempts_queue, db, new_user_id, monkeypatch
) -> None:
    learner = new_user_id()
    practise(db, learner, dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    with shared_clock(monkeypatch, at("2026-12-03T23:50:00")) as clock:
        for _ in range(5):
            minute(attempts_queue, clock, db)
        attempts_queue.send(attempt_body(user_id=learner, created_at="2026-12-03T23:55:00+00:00"))
        clock.advance(minutes=1)
        # a consumer takes it and dies before deleting it: in flight for 40 minutes, then received again
        (taken,) = attempts_queue.receive(visibility_seconds=2400)
        assert taken["Attributes"]["ApproximateReceiveCount"] == "1"
        assert attempts_queue.receive() == []
        while clock.now < at("2026-12-04T01:30:00"):
            # the consumer polls (nothing visible until the message comes back) and the sweep runs
            minute(attempts_queue, clock, db)
            if attempts_queue.in_queue() and clock.now >= at("2026-12-04T00:00:00"):
                assert status_of(learner)["streak_status"] == "pending", clock.now
        assert attempts_queue.in_queue() == []  # the second receive recorded it
        assert attempts_queue.results[-1] == {"batchItemFailures": []} or attempts_queue.results
        assert status_of(learner) | {"data_complete_through": None} == {
            "current_streak": 3,
            "streak_status": "active",
            "data_complete_through": None,
        }


# ---- incidents ------------------------------------------------------------------------------------------


def sweep_at(instant: dt.datetime, evidence: Evidence) -> dict[str, Any]:
    return advance_watermark(instant, evidence)


def covered_days(db: Engine, user: int) -> list[tuple[dt.date, int | None]]:
    with db.connect() as conn:
        return [
            (d, i)
            for d, i in conn.execute(
                text("SELECT day, incident_id FROM user_covered_days WHERE user_id = :u ORDER BY day"),
                {"u": user},
            )
        ]


def test_a_stalled_watermark_opens_an_incident_that_covers_the_days_it_touched_when_it_closes(
    db, new_user_id, monkeypatch, capsys
) -> None:
    alive, broken, practising = new_user_id(), new_user_id(), new_user_id()
    practise(db, alive, dt.date(2026, 12, 2), dt.date(2026, 12, 3))  # alive when the incident starts
    practise(db, broken, dt.date(2026, 11, 28))  # already broken: untouched
    practise(db, practising, dt.date(2026, 12, 3), dt.date(2026, 12, 4))  # practised during it
    local = IngestSettings(ingest_watermark_source="local")
    with shared_clock(monkeypatch, at("2026-12-04T09:50:00")) as clock:
        for _ in range(10):
            clock.advance(minutes=1)
            run_sweep(ingest=local)
        # from 10:00 nothing proves the watermark (the consumer is down, or the sweep cannot read SQS)
        stalled = IngestSettings(attempts_queue_url="http://127.0.0.1:9/123456789012/attempts")
        monkeypatch.setattr("progress_common.sweep.read_evidence", lambda now, settings: proof())
        opened = None
        while opened is None:
            clock.advance(minutes=1)
            opened = run_sweep(ingest=stalled).incident_opened
        assert clock.now == at("2026-12-04T10:16:00")  # 15 minutes without an advance, and one more
        while clock.now < at("2026-12-05T03:00:00"):
            clock.advance(minutes=30)
            report = run_sweep(ingest=stalled)
            assert report.open_incident == opened and report.incident_opened is None
        # alive, stalled: no day of the incident is settled for anyone
        assert status_of(broken)["streak_status"] == "broken"  # its run broke long before
        monkeypatch.undo()
        with shared_clock(monkeypatch, clock.now) as clock:
            clock.advance(minutes=1)
            report = run_sweep(ingest=local)
        assert report.incident_closed == opened and report.covered[-1]["covered"] is True
        assert report.covered[-1]["learners"] == 2
        assert covered_days(db, alive) == [(dt.date(2026, 12, 4), opened), (dt.date(2026, 12, 5), opened)]
        assert covered_days(db, practising) == [(dt.date(2026, 12, 5), opened)]  # 12-04 was practised
        assert covered_days(db, broken) == []
        assert status_of(alive) | {"data_complete_through": None} == {
            "current_streak": 2,
            "streak_status": "active",
            "data_complete_through": None,
        }
        assert main(["incidents", "list"]) == 0
        assert f"incident {opened}: complete through 2026-12-04 10:00 UTC" in capsys.readouterr().out
        assert main(["incidents", "show", str(opened)]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["covered_now"] == {"learners": 2, "days": 3}
        # an operator vetoes within 24 hours: the covers go, and it says how many learners
        assert main(["incidents", "veto", str(opened)]) == 0
        assert "removed 3 covered days of 2 learners" in capsys.readouterr().out
        assert covered_days(db, alive) == covered_days(db, practising) == []
        assert status_of(alive)["current_streak"] == 0
        assert main(["incidents", "veto", str(opened)]) == 1  # once
        assert "was vetoed" in capsys.readouterr().err


def test_a_veto_comes_too_late_after_a_day(db) -> None:
    from progress_admin.incidents import veto_incident

    with db.connect() as conn:
        incident = conn.execute(
            text(
                "INSERT INTO ingest_incidents (started_at, opened_at, closed_at, covered)"
                " VALUES (:s, :s, :c, true) RETURNING id"
            ),
            {"s": at("2026-12-01T10:00:00"), "c": at("2026-12-01T12:00:00")},
        ).scalar_one()
    assert veto_incident(db, incident, at("2026-12-02T12:00:01"))["outcome"] == "too_late"
    assert veto_incident(db, incident, at("2026-12-02T11:59:59"))["outcome"] == "vetoed"
    assert veto_incident(db, 10**12, at("2026-12-02T11:59:59"))["outcome"] == "not_found"


# ---- locally ------------------------------------------------------------------------------------------


def test_progress_admin_sweep_runs_one_sweep_as_of_an_instant(db, capsys) -> None:
    assert main(["sweep", "--at", "2026-12-04T10:00:00+01:00"]) == 0
    report = json.loads(capsys.readouterr().out)
    # the local queue writes before it answers: the watermark is the sweep's instant
    assert report["watermark"] == "2026-12-04T09:00:00+00:00" and report["lag_seconds"] == 0
    assert main(["sweep", "--at", "2026-12-04T08:00:00+00:00"]) == 0  # an earlier instant moves nothing back
    assert json.loads(capsys.readouterr().out)["watermark"] == "2026-12-04T09:00:00+00:00"
    with pytest.raises(SystemExit):
        main(["sweep", "--at", "2026-12-04T10:00:00"])  # no offset: which instant?
    assert main(["sweep", "--watermark", "sqs"]) == 2  # without ATTEMPTS_QUEUE_URL


def test_serve_runs_the_sweep_function_on_its_schedule(db) -> None:
    import threading
    import time

    from progress_admin.local.serve import create_server
    from tests.conftest import ROOT

    lines: list[str] = []
    server = create_server(ROOT, "127.0.0.1", 0, log=lines.append, sweep_every=0.05)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while (
            not [line for line in lines if line.startswith("sweep: watermark")]
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    assert [line for line in lines if line.startswith("sweep: watermark 20")], lines
    assert watermark_row(db)["watermark"] is not None
