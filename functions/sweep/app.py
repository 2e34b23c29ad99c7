"""SweepFunction: every minute (EventBridge Scheduler); the ingest watermark, incidents and their covers."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from progress_common.observability import logger, metrics, tracer
from progress_common.settings import get_ingest_settings, get_settings
from progress_common.sweep import run_sweep

get_settings()  # validate the environment at cold start
get_ingest_settings()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # "now" is the clock's, not the event's time: a retried invocation sweeps as of when it runs
    return run_sweep(remaining_ms=context.get_remaining_time_in_millis).as_dict()
