"""LiveDisconnectFunction: the WebSocket API's $disconnect route; forgets the connection."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from progress_common.live_connections import handle_disconnect
from progress_common.observability import logger, metrics, tracer
from progress_common.settings import get_settings

get_settings()  # validate the environment at cold start


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_disconnect(event)
