"""The OpenAPI document, generated from the routes and models in the layer (Powertools).

`progress-admin openapi` writes it to docs/openapi.json; `progress-admin openapi --check` fails when the
committed file differs from what the code generates (CI runs it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from progress_common.models import ErrorBody

DOC_PATH = Path("docs") / "openapi.json"
TITLE = "Progress service"
VERSION = "1.0.0"


def build_openapi() -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    from progress_common.data_routes import erase_router, export_request_router, export_status_router
    from progress_common.http import build_resolver
    from progress_common.routes import (
        live_ticket_router,
        progress_router,
        reset_router,
        statistics_router,
        streak_explain_router,
    )
    from progress_common.streak_routes import freeze_grant_router, repair_router, settings_router

    app = build_resolver()
    for router in (
        progress_router,
        statistics_router,
        streak_explain_router,
        reset_router,
        live_ticket_router,
        export_request_router,
        export_status_router,
        erase_router,
        settings_router,
        repair_router,
        freeze_grant_router,
    ):
        app.include_router(router)
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=(
                "Learner progress: how am I doing, my statistics, start over, my data, keeping a streak (settings,"
                " repair, explain). The caller is whoever the verified JWT says (claim `sub` by default), except for"
                " erasure and freeze grants (the app's backend, each with its own scope); errors are"
                ' `{"error": {"code", "message"}}`.'
            ),
            security_schemes={"jwt": HTTPBearer(bearerFormat="JWT")},
            security=[{"jwt": []}],
        )
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    return document


def render() -> str:
    return json.dumps(build_openapi(), indent=2, sort_keys=True) + "\n"


def write(path: Path = DOC_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path


def check(path: Path = DOC_PATH) -> bool:
    """True when the committed document matches the code."""
    return path.exists() and path.read_text(encoding="utf-8") == render()
