"""Holds: the attempts consumer keeps a learner's days unsettled while a message of theirs is on its way to
the DLQ (docs/signals.md, "Settled days").

SQS's ApproximateAgeOfOldestMessage, which proves the ingest watermark, ignores a message received three
times or more, so the watermark may pass such a message while it is still in the queue. When a valid message
fails on its third receive or later, the consumer records a hold (ingest_holds): its learner's days from the
attempt's instant stay unsettled until its attempt_uid is recorded (a later receive, a redrive from the DLQ:
the attempts trigger releases it in the same statement) or an operator releases it (`progress-admin holds
release`). An invalid message is not held: it can never be recorded, so there is nothing to wait for.

The holds of a batch are one statement, after the batch; a batch that failed because the database is
unreachable cannot write them either: logged as an error and counted (AttemptHoldsNotRecorded, an alarm
watches it). docs/signals.md says why the watermark still never passes such a message for long.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, text

from progress_common.db import run_idempotent, unavailable_as_typed_error
from progress_common.errors import DatabaseUnavailableError
from progress_common.models import AttemptMessage
from progress_common.observability import logger, metrics

# ApproximateAgeOfOldestMessage stops seeing a message once it has been received three times
HOLD_FROM_RECEIVE_COUNT = 3
HOLD_SQL = text("SELECT progress_hold_attempts_v1(CAST(:holds AS jsonb))")


@dataclass(frozen=True)
class FailedAttempt:
    """A valid attempt message of a batch that failed, and what SQS said of it."""

    message_id: str
    attempt: AttemptMessage
    receive_count: int
    sent_at: dt.datetime | None
    error: str

    def held_from(self) -> dt.datetime:
        """The instant its learner's days are held from: the attempt's own time, else (written with the time
        of writing, which comes later) the time the queue accepted it."""
        return self.attempt.created_at or self.sent_at or dt.datetime.now(dt.UTC)


def hold_failed_attempts(failed: Sequence[FailedAttempt], *, engine: Engine | None = None) -> int:
    """Hold the days of the failed messages at their third receive or later; the number held. Never raises:
    the batch's answer (which messages SQS retries) stands whatever happens here."""
    to_hold = [f for f in failed if f.receive_count >= HOLD_FROM_RECEIVE_COUNT]
    if not to_hold:
        return 0
    holds = [
        {
            "attempt_uid": str(f.attempt.attempt_uid),
            "user_id": f.attempt.user_id,
            "held_from": f.held_from().isoformat(),
            "message_id": f.message_id[:200],
            "receive_count": f.receive_count,
            "reason": f"receive {f.receive_count} failed: {f.error}"[:500],
        }
        for f in to_hold
    ]
    try:
        with unavailable_as_typed_error():
            ((held,),) = run_idempotent(HOLD_SQL, {"holds": json.dumps(holds)}, engine=engine)
    except Exception as exc:
        logger.error(
            "could not hold the days of messages on their way to the DLQ",
            extra={
                "message_ids": [f.message_id for f in to_hold],
                "error_type": type(exc).__name__,
                "database_unavailable": isinstance(exc, DatabaseUnavailableError),
            },
        )
        metrics.add_metric(name="AttemptHoldsNotRecorded", unit="Count", value=len(to_hold))
        return 0
    logger.warning(
        "held learners' days for messages on their way to the DLQ",
        extra={"message_ids": [f.message_id for f in to_hold], "held": held},
    )
    metrics.add_metric(name="AttemptHoldsRecorded", unit="Count", value=len(to_hold))
    return int(held)
