"""RecordAttemptsFunction: SQS consumer of graded attempts, with partial batch failures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from progress_common.holds import hold_failed_attempts
from progress_common.ingest import count_failed_batch, new_processor
from progress_common.live_push import push_after_batch
from progress_common.observability import logger, metrics, tracer
from progress_common.settings import get_live_settings, get_settings

get_settings()  # validate the environment at cold start
get_live_settings()
processor = new_processor()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = dict(
        process_partial_response(
            event=event, record_handler=processor.record_attempt, processor=processor, context=context
        )
    )
    count_failed_batch(event, response)
    # A valid message that failed on its third receive or later is on its way to the DLQ: its learner's days
    # stay unsettled until it is recorded (one statement; never changes the response).
    hold_failed_attempts(processor.failed_attempts)
    # After the batch has committed: fresh progress to the open WebSocket connections of the learners
    # whose messages were recorded. Best effort and bounded (LIVE_PUSH_BUDGET_SECONDS); it never changes
    # or fails the response.
    push_after_batch(processor.recorded_users, context.get_remaining_time_in_millis)
    return response
