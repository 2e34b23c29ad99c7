"""`progress-admin serve` put together: the loopback check, template.yaml read once, the HTTP API, the
export queue and bucket and the live loop when the template has them, and the banner."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from progress_admin.local.exports import ExportLoop, has_export_queue
from progress_admin.local.gateway import HttpApi
from progress_admin.local.live import LiveLoop
from progress_admin.local.server import LocalServer
from progress_admin.local.static import dashboard_csp, origin_of
from progress_admin.local.sweep import SweepLoop, has_sweep
from progress_admin.local.template import load_template, websocket_routes


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_server(
    root: Path,
    host: str,
    port: int,
    log: Callable[[str], None],
    parameter_overrides: Mapping[str, str] | None = None,
    exports_dir: Path | None = None,
    dashboard_api_origins: Iterable[str] = (),
    sweep_every: float | None = None,
) -> LocalServer:
    """exports_dir: the folder that stands in for the export bucket (default `.local/exports`).
    dashboard_api_origins: origins the dashboard may call besides this server's own (a deployed stage's
    HTTP API and its WebSocket API). sweep_every: run the template's SweepFunction every that many seconds
    (60: at the start of each minute, as `progress-admin serve` does); None: never (tests)."""
    if not is_loopback(host):
        raise ValueError(
            f"serve listens on loopback only (it does not verify tokens); {host!r} is not loopback"
        )
    from progress_admin.openapi import render
    from progress_schema.database import local_exports_dir

    template = load_template(root / "template.yaml")
    # before the functions are imported: their cold start needs the export store
    exports = None
    if has_export_queue(template, root):
        exports_dir = exports_dir or local_exports_dir()
        exports = ExportLoop(root, host, exports_dir, log, parameter_overrides, template)
    api = HttpApi(root, parameter_overrides, template)
    server = LocalServer(api, render, socket.create_server((host, port)), log)
    if exports is not None:
        exports.bind(server.server_address[1], api.environments.values())
        server.exports = exports
    if websocket_routes(template, root):  # else no live loop: the live routes answer 404
        websocket_socket = socket.create_server((host, 0))
        server.live = LiveLoop(
            root,
            template,
            host,
            server.server_address[1],
            websocket_socket,
            server.invoke,
            log,
            api.overrides,
        )
    if sweep_every is not None and has_sweep(template):
        server.sweep = SweepLoop(root, template, log, api.overrides, interval=sweep_every)
    ws_port = server.live.ws_port if server.live is not None else None
    own = own_origins(host, server.server_address[1], ws_port)
    server.dashboard_csp = dashboard_csp([*own, *(origin_of(o) for o in dashboard_api_origins)])
    return server


def own_origins(host: str, port: int, ws_port: int | None) -> list[str]:
    """This server's HTTP and WebSocket origins under each loopback name a page may use for it."""
    names = sorted({f"[{host}]" if ":" in host else host, "localhost", "127.0.0.1"})
    origins = [f"http://{name}:{port}" for name in names]
    if ws_port is not None:
        origins += [f"ws://{name}:{ws_port}" for name in names]
    return origins


BANNER = """\
==============================================================================
 progress-admin serve: LOCAL DEVELOPMENT ONLY
 There is NO JWT verification here: the claims of any Bearer token are taken
 as they are (in AWS, the API Gateway JWT authorizer verifies them).
 Listening on {url} (loopback only).
 Routes from template.yaml: {routes}
 Dashboard: {url}/   OpenAPI: {url}/openapi.json   Swagger UI: {url}/docs
 Live updates: POST {url}/progress/live-ticket, open its "url" (WebSocket);
 attempts: POST {url}/local/attempts (a JSON list of message bodies, one SQS batch)
 Exports: POST {url}/progress/export; files in .local/exports, download links
 on {url}/local/exports/... (signed, 15 minutes); the worker runs in this process
 The minute sweep (SweepFunction) runs at the start of every minute; signals
 go to no bus here: logged, and listed newest first on {url}/local/signals
 A token for user_7 and its dashboard URL: progress-admin token --user user_7
==============================================================================
"""
