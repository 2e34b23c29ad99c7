"""The SQS write path: one graded attempt per message, each written through save_user_attempt_to_db.

A bad message fails alone (reported in batchItemFailures, so SQS retries it and, after the queue's
maxReceiveCount, moves it to the DLQ); the good messages of the same batch are written. Logs name the
message id and what was wrong, never the learner's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from progress_common.errors import ProgressError
from progress_common.models import AttemptMessage
from progress_common.observability import logger, metrics
from progress_common.writes import save_user_attempt_to_db


class InvalidMessageError(ProgressError):
    """The message body is not a valid attempt; retrying will not help (it ends in the DLQ)."""

    code = "invalid_message"


def new_processor() -> BatchProcessor:
    # A batch whose every message failed is still a partial response, not a function error: SQS retries
    # exactly those messages, and one poison message alone does not raise the Errors alarm.
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


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
    """Batch record handler: validate, write, and report "written" or "duplicate"."""
    attempt = parse_message(record)
    try:
        outcome = save_user_attempt_to_db(attempt)
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
    metrics.add_metric(
        name="AttemptsRecorded" if outcome == "written" else "AttemptsDuplicate", unit="Count", value=1
    )
    logger.debug("attempt processed", extra={"message_id": record.message_id, "outcome": outcome})
    return outcome


def count_failed_batch(event: dict[str, Any], response: dict[str, Any]) -> None:
    """A batch whose every message failed (the database is down or behind, a bug) is emitted as
    BatchesFailed: the invocation still succeeds, so Lambda's Errors metric never sees it; an alarm does."""
    records = event.get("Records") or []
    if records and len(response.get("batchItemFailures") or []) >= len(records):
        metrics.add_metric(name="BatchesFailed", unit="Count", value=1)
