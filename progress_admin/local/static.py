"""What `serve` answers itself, without a function: the dashboard's static files, and the OpenAPI
document with Swagger UI (from the assets inside the Powertools package, no CDN)."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from pathlib import Path

from progress_admin.local.gateway import Reply, json_reply

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"
DASHBOARD_PREFIX = "/dashboard/"
# the page loads its own files only and talks to its API (this origin by default, or the one it is given)
DASHBOARD_CSP = (
    "default-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SWAGGER_ASSETS = ("swagger-ui-bundle.min.js", "swagger-ui.min.css")
SWAGGER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Progress service API (local)</title>
<link rel="stylesheet" href="/docs/swagger-ui.min.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.min.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


def dashboard_file(path: str) -> Path | None:
    """The static dashboard file for a request path (`/` is its page), or None."""
    if path == "/":
        return DASHBOARD_DIR / "index.html"
    if path.startswith(DASHBOARD_PREFIX):
        name = path.removeprefix(DASHBOARD_PREFIX)
        candidate = DASHBOARD_DIR / name
        # only files that ship in the folder itself: no traversal, no subfolders
        if "/" not in name and name and candidate.is_file():
            return candidate
    return None


def dashboard_reply(path: str) -> Reply | None:
    """The dashboard file for `path` with the headers that keep the page to itself, or None."""
    file = dashboard_file(path)
    if file is None:
        return None
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind == "application/javascript":
        kind += "; charset=utf-8"
    headers = {
        "Content-Type": kind,
        "Cache-Control": "no-cache",
        "Content-Security-Policy": DASHBOARD_CSP,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return 200, headers, file.read_bytes()


def serves_docs(path: str) -> bool:
    return path in ("/openapi.json", "/docs") or path.startswith("/docs/")


def docs_reply(path: str, openapi: Callable[[], str]) -> Reply:
    """The OpenAPI document (made from the code by `openapi`), Swagger UI's page and its assets."""
    if path == "/openapi.json":
        return 200, {"Content-Type": "application/json"}, openapi().encode()
    if path in ("/docs", "/docs/"):
        return 200, {"Content-Type": "text/html; charset=utf-8"}, SWAGGER_PAGE.encode()
    name = path.removeprefix("/docs/")
    if name in SWAGGER_ASSETS:
        import aws_lambda_powertools.event_handler.openapi.swagger_ui as swagger_ui

        kind = "text/css" if name.endswith(".css") else "application/javascript"
        return 200, {"Content-Type": kind}, (Path(swagger_ui.__file__).parent / name).read_bytes()
    return json_reply(404, {"message": "Not Found"})
