"""RecordAttemptsFunction: SQS consumer of graded attempts, with partial batch failures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from progress_common.ingest import count_failed_batch, new_processor
from progress_common.observability import logger, metrics, tracer
from progress_common.settings import get_settings

get_settings()  # validate the environment at cold start
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
    return response
