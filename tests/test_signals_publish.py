"""Publishing the signal outbox (docs/signals.md, "Publishing"): the sweep sends pending signals to an
EventBridge bus in PutEvents calls of at most ten, a subscriber (a rule whose target is an SQS queue, in moto)
receives each once with its outbox id; entries EventBridge refuses, or a bus that does not answer, leave their
rows pending for the next sweep; a sweep killed before the publish loses nothing; what was marked published is
never sent again. Locally (no bus) each signal is logged and `GET /local/signals` lists the outbox.

The rows are written here as the signals step writes them (one per learner, kind and local day), for
learners whose condition holds at the sweep's instant (the pending read re-checks each row: tests/test_signals.py
tests which learners are due, when, and what is suppressed).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import Engine, text

from progress_common import signals_publish
from progress_common.settings import IngestSettings
from progress_common.signals_publish import EVENT_SOURCE, publish_pending
from progress_common.sweep import run_sweep
from tests.conftest import insert_attempts_sql
from tests.helpers import FAKE_AWS_CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs/signal-event.schema.json").read_text())
UTC = dt.UTC
NOW = dt.datetime(2026, 6, 20, 10, 0, tzinfo=UTC)  # a Saturday
MONDAY = dt.date(2026, 6, 15)
D = dt.timedelta(days=1)
KINDS = ("streak_saver", "weekly_goal_at_risk", "milestone", "freeze_used", "streak_lost")
DETAILS: dict[str, dict[str, Any]] = {
    "streak_saver": {"current_streak": 6, "freeze_would_be_spent": True},
    "weekly_goal_at_risk": {"week_start": "2026-11-30", "days_practised": 1, "weekly_goal": 4},
    "milestone": {"days": 7},
    "freeze_used": {"frozen_day": "2026-12-03", "freezes_left": 1},
    "streak_lost": {"lost_streak": 12, "settled_day": "2026-12-03"},
}


@pytest.fixture
def subscriber(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A bus in moto, and an app's subscription: a rule matching our source whose target is an SQS queue."""
    import boto3

    for name, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", moto_endpoint)
    events = boto3.client("events", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    bus = f"signals-{uuid.uuid4().hex[:12]}"
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"notifier-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # the rule of docs/signals.md and examples/signals-to-sqs.yaml
    events.put_rule(Name="to-notifier", EventBusName=bus, EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
    events.put_targets(Rule="to-notifier", EventBusName=bus, Targets=[{"Id": "notifier", "Arn": queue_arn}])
    signals_publish.forget_client()
    yield {"bus": bus, "sqs": sqs, "queue_url": queue_url, "events": events}
    signals_publish.forget_client()


def received(subscriber: dict[str, Any]) -> list[dict[str, Any]]:
    """Every event the subscriber's queue holds (taken off the queue)."""
    sqs, url = subscriber["sqs"], subscriber["queue_url"]
    events = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return events
        for message in messages:
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def write_outbox(db: Engine, rows: list[tuple[int, str, dt.date, dt.datetime]]) -> list[int]:
    """Signals as the signals step writes them; their ids."""
    with db.begin() as conn:
        return [
            conn.execute(
                text(
                    "INSERT INTO signal_outbox (user_id, kind, local_day, due_at, detail)"
                    " VALUES (:u, :k, :d, :t, CAST(:detail AS jsonb)) RETURNING id"
                ),
                {"u": user, "k": kind, "d": day, "t": due, "detail": json.dumps(DETAILS[kind])},
            ).scalar_one()
            for user, kind, day, due in rows
        ]


def outbox(db: Engine) -> dict[int, tuple[str, int]]:
    with db.connect() as conn:
        return {
            id_: (status, attempts)
            for id_, status, attempts in conn.execute(
                text("SELECT id, status, publish_attempts FROM signal_outbox")
            )
        }


def sweep(subscriber: dict[str, Any] | None, now: dt.datetime = NOW, **kwargs: Any) -> dict[str, Any]:
    ingest = IngestSettings(
        ingest_watermark_source="local", event_bus_name=subscriber["bus"] if subscriber else None
    )
    report = run_sweep(now, ingest=ingest, **kwargs)
    assert report.published is not None
    return report.published.as_dict()


def practise(db: Engine, users: list[int], instant: dt.datetime) -> None:
    insert_attempts_sql(
        db, [{"user_id": u, "exercise_id": 1, "is_correct": True, "created_at": instant} for u in users]
    )


def many(db: Engine, new_user_id: Any, count: int) -> list[tuple[int, str, dt.date, dt.datetime]]:
    """`count` milestones of `count` learners (who practised this morning: nothing else is due for them),
    due in the same minute."""
    users = [new_user_id() for _ in range(count)]
    practise(db, users, NOW.replace(hour=8))
    return [
        (user, "milestone", NOW.date(), NOW - dt.timedelta(seconds=i % 60)) for i, user in enumerate(users)
    ]


def set_watermark(db: Engine, instant: dt.datetime) -> None:
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ingest_watermark (singleton, watermark, advanced_at) VALUES (true, :w, :w)"
                " ON CONFLICT (singleton) DO UPDATE SET watermark = :w, advanced_at = :w"
            ),
            {"w": instant},
        )


# ---- what a subscriber receives ------------------------------------------------------------------------


def test_a_subscriber_receives_every_kind_once_with_its_outbox_id_as_the_schema_says(
    db, subscriber, new_user_id
) -> None:
    saver, milestone, freeze, lost, weekly = (new_user_id() for _ in range(5))
    # learners whose signal still holds on Saturday 10:00 UTC, when the publisher re-checks it
    practise(db, [saver, milestone, freeze], NOW - D)  # a streak of 1, today not practised
    practise(db, [lost], NOW - 3 * D)  # the run ended on Thursday, settled by now
    practise(db, [weekly], dt.datetime(2026, 6, 8, 9, tzinfo=UTC))
    practise(db, [weekly], dt.datetime(2026, 6, 15, 9, tzinfo=UTC))
    with db.begin() as conn:  # 3 days a week, Monday practised: at risk on Saturday
        conn.execute(
            text("INSERT INTO user_settings (user_id, effective_from, weekly_goal_days) VALUES (:u, :d, 3)"),
            {"u": weekly, "d": MONDAY - 14 * D},
        )
        conn.execute(text("SELECT progress_refresh_day_summary(:u)"), {"u": weekly})
    set_watermark(db, NOW)
    rows = [
        (saver, "streak_saver", NOW.date(), NOW - dt.timedelta(minutes=1)),
        (weekly, "weekly_goal_at_risk", MONDAY, NOW - dt.timedelta(minutes=2)),
        (milestone, "milestone", NOW.date(), NOW - dt.timedelta(minutes=3)),
        (freeze, "freeze_used", NOW.date() - 2 * D, NOW - dt.timedelta(minutes=4)),
        (lost, "streak_lost", NOW.date() - 2 * D, NOW - dt.timedelta(minutes=5)),
    ]
    ids = write_outbox(db, rows)
    answer = publish_pending(NOW, bus=subscriber["bus"]).as_dict()
    assert (answer["published"], answer["failed"], answer["unavailable"]) == (5, 0, False)
    events = received(subscriber)
    assert sorted(e["detail"]["outbox_id"] for e in events) == sorted(ids)
    expected = {kind: (user, day, due) for user, kind, day, due in rows}
    for event in events:
        jsonschema.validate(event, SCHEMA)  # the whole event as the subscriber reads it: source and detail
        detail = event["detail"]
        kind = detail["kind"]
        user, day, due = expected[kind]
        assert event["source"] == EVENT_SOURCE and event["detail-type"] == kind
        assert (detail["user_id"], detail["local_day"]) == (user, day.isoformat())
        assert dt.datetime.fromisoformat(detail["due_at"]) == due
        assert dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00")) == due  # Time = due_at
        assert {k: detail[k] for k in DETAILS[kind]} == DETAILS[kind]
    assert {status for status, _ in outbox(db).values()} == {"published"}
    # the next publish has nothing to send
    assert publish_pending(NOW, bus=subscriber["bus"]).published == 0
    assert received(subscriber) == []


def test_a_signal_whose_condition_no_longer_holds_is_suppressed_never_sent(
    db, subscriber, new_user_id
) -> None:
    user = new_user_id()
    practise(db, [user], NOW - D)
    (id_,) = write_outbox(db, [(user, "streak_saver", NOW.date(), NOW - dt.timedelta(minutes=1))])
    practise(db, [user], NOW - dt.timedelta(seconds=30))  # practice arrived before the send
    assert publish_pending(NOW, bus=subscriber["bus"]).published == 0
    assert received(subscriber) == []
    with db.connect() as conn:
        assert conn.execute(
            text("SELECT status, suppressed_reason FROM signal_outbox WHERE id = :i"), {"i": id_}
        ).one() == ("suppressed", "practised")


def test_put_events_carries_at_most_ten_entries(db, subscriber, new_user_id, monkeypatch) -> None:
    ids = write_outbox(db, many(db, new_user_id, 25))
    client = signals_publish.events_client()
    real = client.put_events
    sizes: list[int] = []

    def counting(**kwargs: Any) -> Any:
        sizes.append(len(kwargs["Entries"]))
        return real(**kwargs)

    monkeypatch.setattr(client, "put_events", counting)
    assert sweep(subscriber)["published"] == 25
    assert sizes == [10, 10, 5]
    assert sorted(e["detail"]["outbox_id"] for e in received(subscriber)) == sorted(ids)


def test_a_sweep_reads_again_while_time_remains_and_leaves_the_rest_for_the_next(
    db, subscriber, new_user_id
) -> None:
    write_outbox(db, many(db, new_user_id, 7))
    budget = iter([60_000, 0])  # time for one more read, then none
    answer = publish_pending(NOW, bus=subscriber["bus"], remaining_ms=lambda: next(budget), limit=3)
    assert (answer.published, answer.more) == (6, True)
    assert sweep(subscriber)["published"] == 1
    assert len(received(subscriber)) == 7


# ---- failures: nothing lost, nothing sent twice --------------------------------------------------------


def test_entries_eventbridge_refuses_stay_pending_and_go_out_on_the_next_sweep_none_twice(
    db, subscriber, new_user_id, monkeypatch
) -> None:
    ids = write_outbox(db, many(db, new_user_id, 12))
    refused = {ids[1], ids[4], ids[11]}
    client = signals_publish.events_client()
    real = client.put_events

    def refusing(**kwargs: Any) -> Any:
        entries = kwargs["Entries"]
        keep = [e for e in entries if json.loads(e["Detail"])["outbox_id"] not in refused]
        answer = real(Entries=keep) if keep else {"Entries": []}
        results = iter(answer["Entries"])
        out = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
            if json.loads(e["Detail"])["outbox_id"] in refused
            else next(results)
            for e in entries
        ]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in out), "Entries": out}

    monkeypatch.setattr(client, "put_events", refusing)
    first = sweep(subscriber)
    assert (first["published"], first["failed"], first["error_codes"]) == (9, 3, {"InternalFailure": 3})
    state = outbox(db)
    assert {i for i, (status, _) in state.items() if status == "pending"} == refused
    assert all(state[i][1] == 1 for i in refused)  # one failed attempt counted
    monkeypatch.setattr(client, "put_events", real)  # EventBridge takes them again
    second = sweep(subscriber, NOW + dt.timedelta(minutes=1))
    assert (second["published"], second["failed"]) == (3, 0)
    events = received(subscriber)
    assert sorted(e["detail"]["outbox_id"] for e in events) == sorted(ids)  # each once
    assert {status for status, _ in outbox(db).values()} == {"published"}


def test_eventbridge_not_answering_costs_bounded_time_and_the_rows_stay_pending(
    db, subscriber, new_user_id, monkeypatch, captured_logs
) -> None:
    from progress_common.settings import get_settings
    from tests.faults import silent_server

    ids = write_outbox(db, many(db, new_user_id, 25))
    settings = get_settings()
    bound = settings.aws_max_attempts * (
        settings.aws_connect_timeout_seconds + settings.aws_read_timeout_seconds
    )
    with silent_server() as port:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", f"http://127.0.0.1:{port}")
        signals_publish.forget_client()
        started = time.monotonic()
        answer = sweep(subscriber)
        elapsed = time.monotonic() - started
    # one call tried (with its retries), not three: the rest waits for the next sweep
    assert elapsed < bound + 2.0, elapsed
    assert answer["unavailable"] is True and answer["published"] == 0 and answer["more"] is True
    assert {status for status, _ in outbox(db).values()} == {"pending"}
    assert "EventBridge did not take the signals" in captured_logs()
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", subscriber["events"].meta.endpoint_url)
    signals_publish.forget_client()
    assert sweep(subscriber, NOW + dt.timedelta(minutes=1))["published"] == 25
    assert sorted(e["detail"]["outbox_id"] for e in received(subscriber)) == sorted(ids)


def test_two_overlapping_sweeps_send_disjoint_signals(db, subscriber, new_user_id, monkeypatch) -> None:
    ids = write_outbox(db, many(db, new_user_id, 40))
    client = signals_publish.events_client()
    real = client.put_events

    def slow(**kwargs: Any) -> Any:
        time.sleep(0.05)  # each sweep is still sending while the other reads
        return real(**kwargs)

    monkeypatch.setattr(client, "put_events", slow)
    answers: list[Any] = []
    start = threading.Barrier(2)

    def one_sweep() -> None:
        start.wait()
        answers.append(publish_pending(NOW, bus=subscriber["bus"], limit=10))

    threads = [threading.Thread(target=one_sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(a.published for a in answers)[0] > 0  # both sent some: they did overlap
    assert sum(a.published for a in answers) == 40
    events = received(subscriber)
    assert sorted(e["detail"]["outbox_id"] for e in events) == sorted(ids)  # each once


class Killed(BaseException):
    """The invocation's end (a timeout, the container gone): no handler of ours sees it."""


def test_a_sweep_killed_between_the_outbox_write_and_the_publish_loses_nothing(
    db, subscriber, new_user_id, monkeypatch
) -> None:
    ids = write_outbox(db, many(db, new_user_id, 4))  # the signals step committed its outbox rows ...

    def killed(**kwargs: Any) -> Any:
        raise Killed

    client = signals_publish.events_client()
    real = client.put_events
    monkeypatch.setattr(client, "put_events", killed)  # ... and the sweep died before anything was sent
    with pytest.raises(Killed):
        sweep(subscriber)
    assert {status for status, _ in outbox(db).values()} == {"pending"}
    monkeypatch.setattr(client, "put_events", real)
    assert sweep(subscriber, NOW + dt.timedelta(minutes=1))["published"] == 4
    assert sorted(e["detail"]["outbox_id"] for e in received(subscriber)) == sorted(ids)


def test_a_retried_publish_never_sends_what_was_marked_published(db, subscriber, new_user_id) -> None:
    ids = write_outbox(db, many(db, new_user_id, 3))
    assert sweep(subscriber)["published"] == 3
    # the sweep retried (a second invocation, the mark run again): nothing goes out again
    signals_publish.mark(ids, [], NOW)
    assert sweep(subscriber)["published"] == 0
    assert sweep(subscriber, NOW + dt.timedelta(minutes=5))["published"] == 0
    assert sorted(e["detail"]["outbox_id"] for e in received(subscriber)) == sorted(ids)
    assert set(outbox(db).values()) == {("published", 1)}


def test_a_sweep_killed_after_put_events_sends_again_with_the_same_outbox_id(
    db, subscriber, new_user_id, monkeypatch
) -> None:
    """The one duplicate at-least-once allows: EventBridge took the events, the mark never ran. The subscriber
    drops it by its outbox id."""
    ids = write_outbox(db, many(db, new_user_id, 2))

    def killed(*args: Any, **kwargs: Any) -> None:
        raise Killed

    monkeypatch.setattr(signals_publish, "mark", killed)
    with pytest.raises(Killed):
        sweep(subscriber)
    monkeypatch.undo()
    assert sweep(subscriber, NOW + dt.timedelta(minutes=1))["published"] == 2
    events = received(subscriber)
    assert len(events) == 4
    assert sorted({e["detail"]["outbox_id"] for e in events}) == sorted(ids)


# ---- locally: no bus ----------------------------------------------------------------------------------


def test_without_a_bus_each_signal_is_logged_as_one_line_and_marked_published(
    db, new_user_id, captured_logs
) -> None:
    from progress_common.observability import logger

    user = new_user_id()
    practise(db, [user], NOW - D)
    (id_,) = write_outbox(db, [(user, "streak_saver", NOW.date(), NOW)])
    level = logger._logger.level
    logger.setLevel("INFO")  # the template's level (the tests run at WARNING)
    try:
        answer = sweep(None)
    finally:
        logger.setLevel(level)
    assert answer["published"] == 1
    (line,) = answer["local"]
    assert line.startswith(f"signal streak_saver outbox_id={id_} user_id={user} local_day={NOW.date()}")
    assert '"freeze_would_be_spent": true' in line
    assert json.dumps(line)[1:-1] in captured_logs()  # one JSON log line whose message is that line
    assert outbox(db)[id_] == ("published", 1)
    assert sweep(None)["published"] == 0


def test_serve_lists_the_outbox_newest_first_and_logs_what_its_sweep_publishes(db, new_user_id) -> None:
    from progress_admin.local.serve import create_server
    from tests.events import http_request

    lines: list[str] = []
    server = create_server(ROOT, "127.0.0.1", 0, log=lines.append, sweep_every=3600.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        user, other = new_user_id(), new_user_id()
        now = dt.datetime.now(UTC).replace(microsecond=0)
        practise(db, [user, other], now - dt.timedelta(minutes=10))
        write_outbox(
            db,
            [
                (user, "milestone", now.date() - D, now - dt.timedelta(minutes=2)),
                (user, "freeze_used", now.date() - 2 * D, now - dt.timedelta(minutes=1)),
                (other, "freeze_used", now.date() - 2 * D, now - dt.timedelta(minutes=3)),
            ],
        )
        assert server.sweep is not None
        answer = server.sweep.sweep_once()
        assert answer is not None and answer["published"]["published"] == 3
        assert sum(line.startswith("signal ") for line in lines) == 3
        url = f"http://127.0.0.1:{server.server_address[1]}/local/signals"
        status, _, body = http_request(url, "GET")
        assert status == 200
        listed = json.loads(body)["signals"]
        assert [(s["kind"], s["user_id"], s["status"]) for s in listed[:3]] == [
            ("freeze_used", user, "published"),
            ("milestone", user, "published"),
            ("freeze_used", other, "published"),
        ]
        assert listed[0]["detail"] == DETAILS["freeze_used"]
        status, _, body = http_request(f"{url}?user_id=user_{other}", "GET")
        assert [s["kind"] for s in json.loads(body)["signals"]] == ["freeze_used"]
        status, _, _ = http_request(f"{url}?limit=0", "GET")
        assert status == 400
    finally:
        server.shutdown()
        server.server_close()
