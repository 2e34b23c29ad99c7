"""erase_user: DELETE /progress/users/{user_id}; thin handler, the route and its logic live in the CommonLayer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from progress_common.data_routes import erase_router
from progress_common.export_store import required_export_store
from progress_common.http import build_resolver
from progress_common.observability import logger, metrics, tracer
from progress_common.settings import get_live_settings, get_settings
from progress_common.snapstart import register_hooks

get_settings()  # validate the environment at cold start: a misconfiguration fails loudly, once
required_export_store()  # the store it deletes the learner's export files from
get_live_settings()  # closes the learner's open live pages
register_hooks()  # SnapStart: no connection, secret or random state in the snapshot
app = build_resolver()
app.include_router(erase_router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
