"""The SQS write path: one graded attempt per message; the valid messages of a batch in one statement.

AttemptBatchProcessor writes every valid message of the batch with one statement (write_attempts) before
Powertools walks the records; each record then reports its own outcome, so a bad message fails alone
(reported in batchItemFailures, so SQS retries it and, after the queue's maxReceiveCount, moves it to the
DLQ) and the good messages of the same batch are written. A timezone the database does not know yet is
dropped and the batch written again in one statement. When the batch statement fails on anything else but
an unavailable database, the messages are written one at a time (save_user_attempt_to_db), so the one that
caused it fails alone. Logs name the message id and what was wrong, never the answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from progress_common.errors import (
    DatabaseUnavailableError,
    InvalidTimezoneError,
    ProgressError,
    SessionOwnershipError,
)
from progress_common.holds import FailedAttempt
from progress_common.models import AttemptMessage
from progress_common.observability import logger, metrics
from progress_common.writes import (
    WriteOutcome,
    save_user_attempt_to_db,
    timezones_unknown_to_database,
    write_attempts,
)

# What the batch statement decided for one message; ONE_AT_A_TIME: it failed, write this one alone.
Prepared: TypeAlias = WriteOutcome | Literal["one_at_a_time"] | ProgressError
ONE_AT_A_TIME: Literal["one_at_a_time"] = "one_at_a_time"


class InvalidMessageError(ProgressError):
    """The message body is not a valid attempt; retrying will not help (it ends in the DLQ)."""

    code = "invalid_message"


class AttemptBatchProcessor(BatchProcessor):
    """Powertools' SQS batch processor, with the batch's valid messages written by one statement first."""

    def __init__(self) -> None:
        # A batch whose every message failed is still a partial response, not a function error: SQS retries
        # exactly those messages, and one poison message alone does not raise the Errors alarm.
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.prepared: dict[str, tuple[AttemptMessage, Prepared]] = {}
        self.invalid: dict[str, InvalidMessageError] = {}
        # message id -> the timezone it named that the database does not know (written without it)
        self.timezone_not_applied: dict[str, str | None] = {}
        # the learners whose messages of this batch were recorded (written or duplicate): who to push to
        self.recorded_users: set[int] = set()
        # the valid messages of this batch that failed: the consumer holds their learners' days (holds.py)
        self.failed_attempts: list[FailedAttempt] = []

    def _prepare(self) -> None:
        super()._prepare()
        self.prepared, self.invalid, self.timezone_not_applied = {}, {}, {}
        self.recorded_users = set()
        self.failed_attempts = []
        valid: list[tuple[str, AttemptMessage]] = []
        for raw in self.records:
            record = SQSRecord(raw)
            try:
                valid.append((record.message_id, parse_message(record)))
            except InvalidMessageError as exc:
                self.invalid[record.message_id] = exc  # logged and counted by parse_message
        if not valid:
            return
        outcomes = self._write_batch(valid)
        self.prepared = {
            mid: (attempt, outcome) for (mid, attempt), outcome in zip(valid, outcomes, strict=True)
        }

    def _write_batch(self, valid: list[tuple[str, AttemptMessage]]) -> list[Prepared]:
        """The outcome of each valid message, from one statement (two more when a zone is unknown)."""
        attempts = [attempt for _, attempt in valid]
        try:
            try:
                return list(write_attempts(attempts))
            except InvalidTimezoneError:
                # A zone the layer accepts that the database's (older) tz data lacks: the same batch again,
                # still one statement, as if those messages named no timezone; the order of the batch (which
                # attempt claims a session, which zone a later message takes) stays the statement's own.
                unknown = timezones_unknown_to_database(a.timezone for a in attempts if a.timezone)
                if not unknown:
                    raise
                self.timezone_not_applied = {mid: a.timezone for mid, a in valid if a.timezone in unknown}
                return list(
                    write_attempts(
                        [
                            a.model_copy(update={"timezone": None}) if a.timezone in unknown else a
                            for a in attempts
                        ]
                    )
                )
        except DatabaseUnavailableError as exc:
            return [exc] * len(valid)  # every message fails and is retried; no point in trying each
        except Exception as exc:
            logger.warning(
                "the batch statement failed; writing its messages one at a time",
                extra={"messages": len(valid), "error_type": type(exc).__name__},
            )
            self.timezone_not_applied = {}
            return [ONE_AT_A_TIME] * len(valid)

    def record_attempt(self, record: SQSRecord) -> str:
        """Batch record handler: report this message's outcome ("written" or "duplicate"), or fail it."""
        if record.message_id in self.invalid:
            raise self.invalid[record.message_id]
        prepared = self.prepared.get(record.message_id)
        if prepared is None:  # not in the batch _prepare saw (called outside one): alone
            attempt = parse_message(record)
            return self._alone(record, attempt)
        attempt, outcome = prepared
        if outcome == ONE_AT_A_TIME:
            return self._alone(record, attempt)
        if outcome == "session_of_another_user":
            outcome = SessionOwnershipError("the attempt names a session that belongs to another user")
        if isinstance(outcome, ProgressError):
            _failed(logger.warning, "could not record an attempt", record, attempt, error=outcome.code)
            self._note_failure(record, attempt, outcome.code)
            raise outcome
        if record.message_id in self.timezone_not_applied:
            _timezone_not_applied(record, attempt, outcome)
        self.recorded_users.add(attempt.user_id)
        return _counted(record, outcome)

    def _alone(self, record: SQSRecord, attempt: AttemptMessage) -> str:
        try:
            outcome = _write_one(record, attempt)
        except Exception as exc:
            self._note_failure(record, attempt, getattr(exc, "code", type(exc).__name__))
            raise
        self.recorded_users.add(attempt.user_id)
        return outcome

    def _note_failure(self, record: SQSRecord, attempt: AttemptMessage, error: str) -> None:
        sent = record.attributes.sent_timestamp
        self.failed_attempts.append(
            FailedAttempt(
                message_id=record.message_id,
                attempt=attempt,
                receive_count=int(record.attributes.approximate_receive_count or 1),
                sent_at=dt.datetime.fromtimestamp(int(sent) / 1000, dt.UTC) if sent else None,
                error=error,
            )
        )


def new_processor() -> AttemptBatchProcessor:
    return AttemptBatchProcessor()


def _validation_summary(exc: ValidationError) -> list[dict[str, Any]]:
    # Where and why, never the value: pydantic's `input` (and its str(), which quotes input_value) would
    # repeat the answer text. Our own validators' messages name no input.
    return [
        {"loc": ".".join(str(p) for p in err["loc"]), "type": err["type"], "reason": err["msg"]}
        for err in exc.errors(include_input=False, include_url=False)
    ]


def parse_message(record: SQSRecord) -> AttemptMessage:
    try:
        return AttemptMessage.model_validate_json(record.body or "")
    except ValidationError as exc:
        problems = _validation_summary(exc)
        logger.warning(
            "rejected an attempt message",
            extra={
                "message_id": record.message_id,
                "problems": problems,
                "receive_count": record.attributes.approximate_receive_count,
            },
        )
        metrics.add_metric(name="AttemptsRejected", unit="Count", value=1)
        raise InvalidMessageError(f"message {record.message_id} is not a valid attempt") from None


def _failed(
    log: Callable[..., None], message: str, record: SQSRecord, attempt: AttemptMessage, **detail: str
) -> None:
    log(message, extra={"message_id": record.message_id, "attempt_uid": str(attempt.attempt_uid), **detail})
    metrics.add_metric(name="AttemptsFailed", unit="Count", value=1)


def record_attempt(record: SQSRecord) -> str:
    """Validate and write one message on its own; report "written" or "duplicate"."""
    return _write_one(record, parse_message(record))


def _counted(record: SQSRecord, outcome: str) -> str:
    metrics.add_metric(
        name="AttemptsRecorded" if outcome == "written" else "AttemptsDuplicate", unit="Count", value=1
    )
    logger.debug("attempt processed", extra={"message_id": record.message_id, "outcome": outcome})
    return outcome


def _write_one(record: SQSRecord, attempt: AttemptMessage) -> str:
    try:
        try:
            outcome = save_user_attempt_to_db(attempt)
        except InvalidTimezoneError:
            outcome = _write_without_timezone(record, attempt)
    except ProgressError as exc:
        _failed(logger.warning, "could not record an attempt", record, attempt, error=exc.code)
        raise
    except Exception as exc:
        # str(exc) of a database error holds the statement, not the parameters (hide_parameters)
        _failed(
            logger.error,
            "unexpected error recording an attempt",
            record,
            attempt,
            error_type=type(exc).__name__,
        )
        raise
    return _counted(record, outcome)


def _write_without_timezone(record: SQSRecord, attempt: AttemptMessage) -> str:
    """Write an attempt whose IANA timezone the database does not know (the layer's tz database, tzdata, can be
    newer than PostgreSQL's) as if it named none: its practice day in the profile's timezone, the profile's
    timezone unchanged. One day possibly off beats an attempt retried into the DLQ."""
    outcome = save_user_attempt_to_db(attempt.model_copy(update={"timezone": None}))
    _timezone_not_applied(record, attempt, outcome)
    return outcome


def _timezone_not_applied(record: SQSRecord, attempt: AttemptMessage, outcome: str) -> None:
    """Say so when an attempt was written without its timezone; the metric (and its alarm) tells the operator
    to update PostgreSQL. A duplicate wrote nothing: nothing to say."""
    if outcome != "written":
        return
    logger.warning(
        "the database does not know the attempt's timezone; recorded in the profile's timezone",
        extra={
            "message_id": record.message_id,
            "attempt_uid": str(attempt.attempt_uid),
            "timezone": attempt.timezone,
            "outcome": outcome,
        },
    )
    metrics.add_metric(name="AttemptTimezonesNotApplied", unit="Count", value=1)


def count_failed_batch(event: dict[str, Any], response: dict[str, Any]) -> None:
    """A batch whose every message failed (the database is down or behind, a bug) is emitted as
    BatchesFailed: the invocation still succeeds, so Lambda's Errors metric never sees it; an alarm does."""
    records = event.get("Records") or []
    if records and len(response.get("batchItemFailures") or []) >= len(records):
        metrics.add_metric(name="BatchesFailed", unit="Count", value=1)
