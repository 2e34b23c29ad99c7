"""The routes of the learner's own data: the export (the learner's JWT) and erasure (the app's backend, with
its own scope). Apart from routes.py, so that the learner's GET functions import none of this.

No `from __future__ import annotations` here: Powertools reads these annotations at run time.
"""

import uuid
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from progress_common.erasure import erase_user
from progress_common.exports import export_status, request_export
from progress_common.http import current_user_id, require_scope, responses_for
from progress_common.identity import parse_user_id
from progress_common.models import ErasureResponse, ExportResponse
from progress_common.observability import metrics
from progress_common.settings import get_export_settings

export_request_router = APIGatewayHttpRouter()
export_status_router = APIGatewayHttpRouter()
erase_router = APIGatewayHttpRouter()


@export_request_router.post(
    "/progress/export",
    summary="Export all my data",
    description=(
        "Starts an export of everything stored about the caller: profile, every attempt (live and archived),"
        " sessions, covered days, daily and per-exercise totals. Answers 202 with the export's id (and"
        " `Location`); `GET /progress/export/{export_id}` tells when the file is ready. The file is gzip JSON"
        " Lines with a manifest first (docs/export.md). One export at a time: 409 `export_in_progress`, with"
        " the id of the one in progress in `details`."
    ),
    tags=["your data"],
    responses=responses_for(
        ExportResponse,
        "The export was started",
        status=202,
        errors={409: "An export is in progress already (`details` names it)"},
    ),
)
def start_export() -> Response[ExportResponse]:
    user_id = current_user_id(export_request_router)
    export = request_export(user_id)
    metrics.add_metric(name="ExportsRequested", unit="Count", value=1)
    return Response(
        status_code=202,
        content_type="application/json",
        body=export,
        headers={"Location": f"/progress/export/{export.export_id}"},
    )


@export_status_router.get(
    "/progress/export/<export_id>",
    summary="My export",
    description=(
        "The export's status and, once `ready`, counts per kind and `download_url`: the file, valid 15"
        " minutes (ask again for a fresh link). Files are kept 7 days, then the export reads `expired`."
    ),
    tags=["your data"],
    responses=responses_for(
        ExportResponse, "The caller's export", errors={404: "No export of the caller has this id"}
    ),
)
def read_export(
    export_id: Annotated[uuid.UUID, Path(description="`export_id` from POST /progress/export")],
) -> ExportResponse:
    user_id = current_user_id(export_status_router)
    return export_status(user_id, export_id)


@erase_router.delete(
    "/progress/users/<user_id>",
    summary="Erase a learner (account deletion)",
    description=(
        "For the app's backend, with a token carrying the erasure scope (`progress/erase` by default): removes"
        " everything of the learner, the profile, settings, live tickets and connections and export files"
        " included, and answers what it removed. Idempotent: a second call answers zeros."
    ),
    tags=["your data"],
    responses=responses_for(
        ErasureResponse,
        "What was removed",
        errors={403: "The token lacks the erasure scope"},
    ),
)
def erase(
    user_id: Annotated[str, Path(max_length=64, description="the learner: `user_7` or `7`")],
) -> ErasureResponse:
    require_scope(erase_router, get_export_settings().erase_scope)
    return erase_user(parse_user_id(user_id))
