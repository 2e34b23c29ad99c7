"""ExportWorkerFunction: makes the exports POST /progress/export queued (one message each, batches of one)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from progress_common.export_store import required_export_store
from progress_common.exports import run_export
from progress_common.models import ExportMessage
from progress_common.observability import logger, metrics, tracer
from progress_common.settings import get_export_settings, get_settings

get_settings()  # validate the environment at cold start
get_export_settings()
required_export_store()
processor = BatchProcessor(event_type=EventType.SQS)


def make_export(record: SQSRecord) -> None:
    # a message that is not ours fails alone and reaches the DLQ; a failed export is recorded, not raised
    run_export(ExportMessage.model_validate_json(record.body).export_id)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=make_export, processor=processor, context=context
        )
    )
