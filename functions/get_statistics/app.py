"""get_statistics: GET /progress/statistics and GET /progress/streak/explain (docs/api.md, "Which function
serves which route"); thin handler: the routes and all logic live in the CommonLayer (progress_common)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from progress_common.http import build_resolver
from progress_common.observability import logger, metrics, tracer
from progress_common.routes import statistics_router, streak_explain_router
from progress_common.settings import get_settings
from progress_common.snapstart import register_hooks

get_settings()  # validate the environment at cold start: a misconfiguration fails loudly, once
register_hooks()  # SnapStart: no connection, secret or random state in the snapshot
app = build_resolver()
app.include_router(statistics_router)
app.include_router(streak_explain_router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
