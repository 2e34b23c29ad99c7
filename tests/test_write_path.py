"""RecordAttemptsFunction and save_user_attempt_to_db against the real database."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import text

from progress_common.errors import InvalidTimezoneError, SessionOwnershipError
from progress_common.models import AttemptMessage
from progress_common.writes import save_user_attempt_to_db
from tests.events import FakeLambdaContext, attempt_body, call, http_event, sqs_event, sqs_record
from tests.helpers import assert_aggregates_match_rows

SECRET_ANSWER = "my-very-private-answer-7f3a"


@pytest.fixture
def consumer(load_function, db):
    handler = load_function("record_attempts").lambda_handler

    def run(event: dict) -> list[str]:
        result = handler(event, FakeLambdaContext())
        return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]

    return run


def count_attempts(db, user: int) -> int:
    with db.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM attempts WHERE user_id = :u"), {"u": user}
        ).scalar_one()


def test_mixed_batch_reports_exactly_the_bad_messages(consumer, db, new_user_id, captured_logs) -> None:
    user, other = new_user_id(), new_user_id()
    save_user_attempt_to_db(
        AttemptMessage.model_validate_json(attempt_body(user_id=other, session_id=5150, user_answer="x"))
    )
    earlier_uid = str(uuid.uuid4())
    save_user_attempt_to_db(
        AttemptMessage.model_validate_json(attempt_body(user_id=user, attempt_uid=earlier_uid))
    )
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    good_uid = str(uuid.uuid4())
    messages = {
        "good": attempt_body(user_id=f"user_{user}", attempt_uid=good_uid, user_answer=SECRET_ANSWER),
        "good-numeric-id": attempt_body(
            user_id=user, exercise_id=4, session_id=6160, timezone="Europe/Berlin"
        ),
        "duplicate-in-batch": attempt_body(user_id=str(user), attempt_uid=good_uid),
        "duplicate-earlier": attempt_body(user_id=user, attempt_uid=earlier_uid),
        "good-no-created-at": attempt_body(user_id=user, created_at=...),
        "not-json": "{not json",
        "empty": "",
        "missing-field": attempt_body(user_id=user, is_correct=...),
        "bad-user": attempt_body(user_id="user_-1", user_answer=SECRET_ANSWER),
        "bad-uid": attempt_body(user_id=user, attempt_uid="not-a-uuid"),
        "string-bool": attempt_body(user_id=user, is_correct="yes"),
        "unknown-timezone": attempt_body(user_id=user, timezone="Mars/Olympus", user_answer=SECRET_ANSWER),
        "answer-too-long": attempt_body(user_id=user, user_answer="x" * 10_001),
        "nul-in-answer": attempt_body(user_id=user, user_answer="a\u0000b"),
        "future": attempt_body(user_id=user, created_at=future),
        "naive-time": attempt_body(user_id=user, created_at="2026-01-01T10:00:00"),
        "foreign-session": attempt_body(user_id=user, session_id=5150, user_answer=SECRET_ANSWER),
    }
    failures = consumer(sqs_event(*(sqs_record(body, message_id=mid) for mid, body in messages.items())))
    assert sorted(failures) == sorted(
        [
            "not-json",
            "empty",
            "missing-field",
            "bad-user",
            "bad-uid",
            "string-bool",
            "unknown-timezone",
            "answer-too-long",
            "nul-in-answer",
            "future",
            "naive-time",
            "foreign-session",
        ]
    )
    assert count_attempts(db, user) == 4  # earlier + good + good-numeric-id + good-no-created-at
    with db.connect() as conn:
        tz = conn.execute(
            text("SELECT timezone FROM user_profiles WHERE user_id = :u"), {"u": user}
        ).scalar_one()
        session_owner = conn.execute(text("SELECT user_id FROM sessions WHERE id = 6160")).scalar_one()
    assert tz == "Europe/Berlin" and session_owner == user
    assert_aggregates_match_rows(db, user)
    logs = captured_logs()
    assert SECRET_ANSWER not in logs
    for message_id in failures:  # every failure is logged with its message id
        assert f'"message_id":"{message_id}"' in logs


def test_a_retried_batch_writes_nothing_twice(consumer, db, new_user_id) -> None:
    user = new_user_id()
    event = sqs_event(
        *(
            sqs_record(attempt_body(user_id=user, exercise_id=i % 3, session_id=7000 + user % 1000))
            for i in range(10)
        )
    )
    assert consumer(event) == []
    with db.connect() as conn:
        before = conn.execute(
            text("SELECT total_attempts, session_count FROM user_profiles WHERE user_id = :u"), {"u": user}
        ).one()
    assert consumer(event) == []
    assert consumer(event) == []
    with db.connect() as conn:
        after = conn.execute(
            text("SELECT total_attempts, session_count FROM user_profiles WHERE user_id = :u"), {"u": user}
        ).one()
    assert before == after == (10, 1)
    assert count_attempts(db, user) == 10
    assert_aggregates_match_rows(db, user)


def test_a_batch_of_only_poison_is_a_partial_response_not_an_error(consumer, db) -> None:
    assert consumer(sqs_event(sqs_record("nope", message_id="m1"), sqs_record("{}", message_id="m2"))) == [
        "m1",
        "m2",
    ]


@mock_aws
def test_messages_through_sqs_then_get_progress_shows_them(consumer, load_function, db, new_user_id) -> None:
    """Send through an (emulated) SQS queue, deliver what it hands out, then read over the API."""
    user = new_user_id()
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="progress-attempts")["QueueUrl"]
    for i in range(3):
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=attempt_body(user_id=f"user_{user}", exercise_id=i, is_correct=i != 1),
        )
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])[
        "Messages"
    ]
    event = sqs_event(
        *(
            sqs_record(
                m["Body"],
                message_id=m["MessageId"],
                receive_count=int(m["Attributes"]["ApproximateReceiveCount"]),
            )
            for m in received
        )
    )
    assert consumer(event) == []
    status, _, body = call(
        load_function("get_progress").lambda_handler,
        http_event("GET", "/progress", claims={"sub": str(user)}),
    )
    assert status == 200
    assert body["total_attempts"] == 3 and body["correct_attempts"] == 2 and body["current_streak"] == 1
    assert sorted(a["exercise_id"] for a in body["recent_attempts"]) == [0, 1, 2]


def test_save_reports_duplicates_and_typed_errors(db, new_user_id) -> None:
    user = new_user_id()
    message = AttemptMessage.model_validate_json(attempt_body(user_id=user))
    assert save_user_attempt_to_db(message) == "written"
    assert save_user_attempt_to_db(message) == "duplicate"
    owner = new_user_id()
    save_user_attempt_to_db(AttemptMessage.model_validate_json(attempt_body(user_id=owner, session_id=4444)))
    with pytest.raises(SessionOwnershipError):
        save_user_attempt_to_db(
            AttemptMessage.model_validate_json(attempt_body(user_id=user, session_id=4444))
        )
    # a name that passed Python's check but PostgreSQL does not know (their tz databases can differ):
    # SQLSTATE 22023 from the database becomes the typed error, and nothing is written
    unknown_to_postgres = AttemptMessage.model_validate_json(attempt_body(user_id=user)).model_copy(
        update={"timezone": "Mars/Olympus"}
    )
    with pytest.raises(InvalidTimezoneError):
        save_user_attempt_to_db(unknown_to_postgres)
    assert count_attempts(db, user) == 1


def test_a_duplicate_of_an_archived_attempt_is_still_a_duplicate(db, new_user_id) -> None:
    user = new_user_id()
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=400)).isoformat()
    message = AttemptMessage.model_validate_json(attempt_body(user_id=user, created_at=old))
    assert save_user_attempt_to_db(message) == "written"
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT progress_archive_batch_v1(now() - interval '365 days', 10)")).scalar()
            == 1
        )
    assert save_user_attempt_to_db(message) == "duplicate"
    assert count_attempts(db, user) == 0
    assert_aggregates_match_rows(db, user)


def test_unicode_and_sql_looking_answers_round_trip(db, load_function, new_user_id) -> None:
    user = new_user_id()
    answers = [
        "'; DROP TABLE attempts; --",
        "Ünïcødé ✓ 日本語 🦜",
        "tab\tnew\nline\rbell\x07",
        "100% %s %% done",
    ]
    for answer in answers:
        save_user_attempt_to_db(
            AttemptMessage.model_validate_json(attempt_body(user_id=user, user_answer=answer))
        )
    _, _, body = call(
        load_function("get_progress").lambda_handler,
        http_event("GET", "/progress", claims={"sub": str(user)}),
    )
    assert sorted(a["user_answer"] for a in body["recent_attempts"]) == sorted(answers)


# Each is a JSON fragment for one field, as a careless or hostile producer might send it.
LOOSE_VALUES = [
    ("exercise_id", "true"),
    ("exercise_id", '"42"'),
    ("exercise_id", '"  42 "'),
    ("exercise_id", "12.0"),
    ("exercise_id", "1e1"),
    ("exercise_id", "-1"),
    ("exercise_id", str(2**63)),
    # beyond what a JSON reader keeps exactly (I-JSON): a browser would show 2**53 + 1 as 2**53
    ("exercise_id", str(2**53)),
    ("session_id", str(2**53)),
    ("session_id", "true"),
    ("session_id", '"5"'),
    ("session_id", "5.0"),
    ("is_correct", "1"),
    ("is_correct", '"true"'),
    ("created_at", "1e9"),
    ("created_at", "1000000000"),
    ("created_at", '"1000000000"'),
    ("created_at", "true"),
    ("created_at", '"2026-01-01T10:00:00"'),
    ("created_at", '"2026-01-01"'),
    ("created_at", '"0001-01-01T00:00:00+05:00"'),
    ("created_at", '"1999-12-31T23:59:59.999999Z"'),
    ("created_at", '"2000-01-01T00:30:00+00:45"'),
]


@pytest.mark.parametrize(("field", "raw"), LOOSE_VALUES)
def test_loose_json_types_and_out_of_range_times_are_rejected_never_stored(
    consumer, db, new_user_id, captured_logs, field, raw
) -> None:
    user = new_user_id()
    body = json.loads(attempt_body(user_id=user, user_answer=SECRET_ANSWER))
    body[field] = "PLACEHOLDER"
    message = json.dumps(body).replace('"PLACEHOLDER"', raw)
    assert consumer(sqs_event(sqs_record(message, message_id="loose"))) == ["loose"]
    assert count_attempts(db, user) == 0
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM user_profiles WHERE user_id = :u"), {"u": user}).scalar()
            == 0
        )
    logged = [json.loads(line) for line in captured_logs().splitlines() if "rejected an attempt" in line]
    assert [p["loc"] for p in logged[0]["problems"]] == [field]
    assert logged[0]["problems"][0]["reason"]  # the reason, never the value
    assert SECRET_ANSWER not in captured_logs()


def test_created_at_bounds_are_inclusive_and_the_same_for_every_writer(consumer, db, new_user_id) -> None:
    from pydantic import ValidationError

    from progress_common.models import EARLIEST_CREATED_AT, MAX_CLOCK_SKEW

    user = new_user_id()
    earliest = attempt_body(user_id=user, created_at="2000-01-01T00:00:00Z")
    almost_now = attempt_body(
        user_id=user,
        created_at=(dt.datetime.now(dt.UTC) + MAX_CLOCK_SKEW - dt.timedelta(seconds=20)).isoformat(),
    )
    too_late = attempt_body(
        user_id=user,
        created_at=(dt.datetime.now(dt.UTC) + MAX_CLOCK_SKEW + dt.timedelta(seconds=20)).isoformat(),
    )
    assert consumer(
        sqs_event(sqs_record(earliest), sqs_record(almost_now), sqs_record(too_late, message_id="late"))
    ) == ["late"]
    assert count_attempts(db, user) == 2
    # save_user_attempt_to_db's callers build the same model: the same bounds, from Python values too
    for created_at in (
        EARLIEST_CREATED_AT - dt.timedelta(microseconds=1),
        dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    ):
        with pytest.raises(ValidationError, match="created_at must not be before 2000-01-01"):
            AttemptMessage(
                attempt_uid=uuid.uuid4(),
                user_id=user,
                exercise_id=1,
                is_correct=True,
                user_answer="",
                created_at=created_at,
            )
    assert (
        AttemptMessage(
            attempt_uid=uuid.uuid4(),
            user_id=user,
            exercise_id=1,
            is_correct=True,
            user_answer="",
            created_at=EARLIEST_CREATED_AT,
        ).created_at
        == EARLIEST_CREATED_AT
    )


# --- what an operator sees: each message's outcome in the metrics and the logs ----------------------


def emitted_metrics(out: str) -> dict[str, float]:
    """The EMF documents printed to stdout, summed per metric name (the cold-start one left out)."""
    totals: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                assert metric["Unit"] == "Count"
                if metric["Name"] != "ColdStart":
                    totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(document[metric["Name"]])
    return totals


def log_lines(captured: str, message: str) -> list[dict]:
    return [line for line in map(json.loads, captured.splitlines()) if line["message"] == message]


@pytest.fixture
def observed(load_function, db, capsys, captured_logs):
    """Run RecordAttemptsFunction with the logger at DEBUG; returns (failed ids, metrics, log lines)."""
    from progress_common.observability import logger, metrics

    handler = load_function("record_attempts").lambda_handler

    def run(event: dict) -> tuple[list[str], dict[str, float], str]:
        metrics.clear_metrics()  # what code outside a handler (other tests) added is not this batch's
        capsys.readouterr()
        quiet = logger.log_level
        logger.setLevel("DEBUG")
        try:
            result = handler(event, FakeLambdaContext())
        finally:
            logger.setLevel(quiet)
        failed = [failure["itemIdentifier"] for failure in result["batchItemFailures"]]
        return failed, emitted_metrics(capsys.readouterr().out), captured_logs()

    return run


def test_every_outcome_is_counted_and_logged_by_message_id(observed, db, new_user_id) -> None:
    user, other = new_user_id(), new_user_id()
    save_user_attempt_to_db(AttemptMessage.model_validate_json(attempt_body(user_id=other, session_id=8181)))
    earlier_uid, good_uid, foreign_uid = (str(uuid.uuid4()) for _ in range(3))
    save_user_attempt_to_db(
        AttemptMessage.model_validate_json(attempt_body(user_id=user, attempt_uid=earlier_uid))
    )
    records = [
        sqs_record(attempt_body(user_id=user, attempt_uid=good_uid), message_id="good"),
        sqs_record(attempt_body(user_id=user, exercise_id=9), message_id="good-2"),
        sqs_record(attempt_body(user_id=user, attempt_uid=good_uid), message_id="duplicate-in-batch"),
        sqs_record(attempt_body(user_id=user, attempt_uid=earlier_uid), message_id="duplicate-earlier"),
        sqs_record("{not json", message_id="not-json", receive_count=4),
        sqs_record(
            attempt_body(user_id=user, is_correct=..., user_answer=SECRET_ANSWER), message_id="no-grade"
        ),
        sqs_record(
            attempt_body(user_id=user, session_id=8181, attempt_uid=foreign_uid, user_answer=SECRET_ANSWER),
            message_id="foreign-session",
        ),
    ]
    failed, metrics, logs = observed(sqs_event(*records))
    assert failed == ["not-json", "no-grade", "foreign-session"]
    assert metrics == {
        "AttemptsRecorded": 2,
        "AttemptsDuplicate": 2,
        "AttemptsRejected": 2,
        "AttemptsFailed": 1,
    }  # no BatchesFailed: part of the batch was written
    assert count_attempts(db, user) == 3
    rejected = {line["message_id"]: line for line in log_lines(logs, "rejected an attempt message")}
    assert sorted(rejected) == ["no-grade", "not-json"]
    assert [(r["level"], r["receive_count"]) for r in rejected.values()] == [
        ("WARNING", "4"),
        ("WARNING", "1"),
    ]
    assert rejected["no-grade"]["problems"] == [
        {"loc": "is_correct", "type": "missing", "reason": "Field required"}
    ]
    assert [p["type"] for p in rejected["not-json"]["problems"]] == ["json_invalid"]
    (refused,) = log_lines(logs, "could not record an attempt")
    assert (refused["level"], refused["message_id"], refused["attempt_uid"], refused["error"]) == (
        "WARNING",
        "foreign-session",
        foreign_uid,
        "session_owned_by_other_user",
    )
    processed = {(line["message_id"], line["outcome"]) for line in log_lines(logs, "attempt processed")}
    assert processed == {
        ("good", "written"),
        ("good-2", "written"),
        ("duplicate-in-batch", "duplicate"),
        ("duplicate-earlier", "duplicate"),
    }
    assert SECRET_ANSWER not in logs


def test_a_batch_counts_as_failed_only_when_every_message_failed(observed, new_user_id) -> None:
    user = new_user_id()
    failed, metrics, _ = observed(
        sqs_event(sqs_record("nope", message_id="p1"), sqs_record("{}", message_id="p2"))
    )
    assert failed == ["p1", "p2"] and metrics == {"AttemptsRejected": 2, "BatchesFailed": 1}
    failed, metrics, _ = observed(
        sqs_event(
            sqs_record("nope", message_id="p3"), sqs_record(attempt_body(user_id=user), message_id="ok")
        )
    )
    assert failed == ["p3"] and metrics == {"AttemptsRejected": 1, "AttemptsRecorded": 1}
    failed, metrics, _ = observed(sqs_event(sqs_record(attempt_body(user_id=user), message_id="ok-2")))
    assert failed == [] and metrics == {"AttemptsRecorded": 1}


@pytest.fixture
def no_metrics_left_over():
    """Metrics added outside a handler stay in the shared buffer until some handler flushes them: clear."""
    from progress_common.observability import metrics

    yield
    metrics.clear_metrics()


def test_a_processor_of_its_own_writes_records_it_was_not_given_and_reports_failures(
    db, new_user_id, no_metrics_left_over
) -> None:
    """new_processor() is the consumer's processor. A record handed to its record_attempt outside a batch
    (before any batch, too) is validated and written on its own; a batch that fails entirely is a partial
    response, not an exception (so one poison message alone does not fail the invocation)."""
    from aws_lambda_powertools.utilities.batch import process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from progress_common.ingest import InvalidMessageError, new_processor, record_attempt

    user = new_user_id()
    processor = new_processor()
    record = SQSRecord(sqs_record(attempt_body(user_id=user)))
    assert processor.record_attempt(record) == "written"
    assert processor.record_attempt(record) == "duplicate"
    with pytest.raises(InvalidMessageError):
        processor.record_attempt(SQSRecord(sqs_record(attempt_body(user_id=user, is_correct="yes"))))
    assert record_attempt(SQSRecord(sqs_record(attempt_body(user_id=user)))) == "written"
    with pytest.raises(InvalidMessageError):
        record_attempt(SQSRecord(sqs_record(attempt_body(user_id=user, is_correct="yes"))))
    assert count_attempts(db, user) == 2
    response = process_partial_response(
        event=sqs_event(sqs_record("nope", message_id="n1")),
        record_handler=processor.record_attempt,
        processor=processor,
        context=FakeLambdaContext(),
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "n1"}]}


def test_a_timezone_the_database_does_not_know_is_logged_and_counted_with_its_outcome(
    observed, db, new_user_id, monkeypatch
) -> None:
    """The layer's tz database can be newer than PostgreSQL's: such an attempt is written without its
    timezone, and the operator sees which message, which zone and what became of it (so as to update
    PostgreSQL). Its redelivery is a plain duplicate."""
    from progress_common import models

    newer = "Mars/Olympus_Mons"  # a name in the layer's list that no PostgreSQL knows
    known = models.iana_timezones()
    monkeypatch.setattr(models, "iana_timezones", lambda: known | {newer})
    user = new_user_id()
    uid = str(uuid.uuid4())
    body = attempt_body(user_id=user, attempt_uid=uid, timezone=newer)
    message = "the database does not know the attempt's timezone; recorded in the profile's timezone"

    other = new_user_id()  # in the same batch, naming a zone the database knows: that one is applied
    failed, metrics, logs = observed(
        sqs_event(
            sqs_record(body, message_id="first"),
            sqs_record(attempt_body(user_id=user)),
            sqs_record(attempt_body(user_id=other, timezone="Asia/Tokyo")),
        )
    )
    assert failed == []
    assert metrics == {"AttemptsRecorded": 3, "AttemptTimezonesNotApplied": 1}
    with db.connect() as conn:
        zones = dict(
            conn.execute(
                text("SELECT user_id, timezone FROM user_profiles WHERE user_id IN (:u, :o)"),
                {"u": user, "o": other},
            ).all()
        )
    assert zones == {user: "UTC", other: "Asia/Tokyo"}  # the unknown zone is not the profile's
    assert [
        (n["level"], n["message_id"], n["attempt_uid"], n["timezone"], n["outcome"])
        for n in log_lines(logs, message)
    ] == [("WARNING", "first", uid, newer, "written")]

    failed, metrics, logs = observed(
        sqs_event(sqs_record(body, message_id="again"), sqs_record(attempt_body(user_id=user)))
    )
    assert failed == []
    assert metrics == {"AttemptsRecorded": 1, "AttemptsDuplicate": 1}
    assert [n["message_id"] for n in log_lines(logs, message)] == ["first"]  # nothing new about "again"
    assert count_attempts(db, user) == 3


def test_a_legacy_insert_of_an_id_beyond_json_precision_is_refused_by_the_database(db, new_user_id) -> None:
    """The CHECK constraints of migration 0012 hold writers of plain SQL to the models' bound."""
    import sqlalchemy.exc

    from progress_common.models import JSON_SAFE_INT_MAX

    user = new_user_id()
    insert = (
        "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at) VALUES (:u, :e, true, now())"
    )
    with db.connect() as conn:
        conn.execute(text(insert), {"u": user, "e": JSON_SAFE_INT_MAX})
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="attempts_exercise_id_json_safe"):
            conn.execute(text(insert), {"u": user, "e": JSON_SAFE_INT_MAX + 1})
    assert count_attempts(db, user) == 1
