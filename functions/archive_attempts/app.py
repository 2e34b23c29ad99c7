"""ArchiveAttemptsFunction: invoked asynchronously by an EventBridge schedule; moves old attempts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from progress_common.archive import ArchiveInterruptedError, archive_old_attempts
from progress_common.observability import logger, metrics, tracer
from progress_common.settings import get_settings

settings = get_settings()  # validate the environment at cold start


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        result = archive_old_attempts(
            retention_days=settings.archive_retention_days,
            batch_size=settings.archive_batch_size,
            remaining_ms=context.get_remaining_time_in_millis,
        )
    except ArchiveInterruptedError as exc:
        # finished batches are committed; raising lets the asynchronous retries (then the on-failure
        # destination) carry on from there
        metrics.add_metric(name="AttemptsArchived", unit="Count", value=exc.moved)
        metrics.add_metric(name="DatabaseUnavailable", unit="Count", value=1)
        logger.warning(
            "archival run interrupted: database unavailable",
            extra={"moved": exc.moved, "batches": exc.batches},
        )
        raise
    metrics.add_metric(name="AttemptsArchived", unit="Count", value=result.moved)
    logger.info("archival run finished", extra=result.as_dict())
    return result.as_dict()
