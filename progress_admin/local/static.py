"""What `serve` answers itself, without a function: the dashboard's static files, and the OpenAPI
document with Swagger UI (from the assets inside the Powertools package, no CDN)."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from progress_admin.local.gateway import Reply, json_reply

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"
DASHBOARD_PREFIX = "/dashboard/"


def dashboard_csp(api_origins: Iterable[str]) -> str:
    """The page's Content-Security-Policy: it loads its own files only, and may talk to the API origins
    the deployment names (and their WebSocket origins), nowhere else. So even a token the page was handed
    together with a foreign API address never leaves for a host nobody configured."""
    connect = " ".join(["'self'", *api_origins])
    return (
        f"default-src 'self'; connect-src {connect}; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def origin_of(url: str) -> str:
    """scheme://host[:port] of an http(s) or ws(s) URL; ValueError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname or parts.username:
        raise ValueError(f"{url!r} is no http(s) or ws(s) origin")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is more than an origin (scheme://host[:port])")
    return f"{parts.scheme}://{parts.netloc.lower()}"


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


def dashboard_reply(path: str, csp: str) -> Reply | None:
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
        "Content-Security-Policy": csp,
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
