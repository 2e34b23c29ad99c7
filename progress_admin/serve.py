"""`progress-admin serve`: the HTTP API on loopback, without Docker.

Routes come from template.yaml. Each HTTP request becomes an API Gateway HTTP API v2.0 event and is
handed to the real Lambda handler, in this process. There is NO JWT verification: the claims of the
Bearer token are read as they are, so this server must never listen beyond 127.0.0.1.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import mimetypes
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from progress_admin.local.events import http_event
from progress_admin.local.intrinsics import local_values
from progress_admin.local.runtime import LocalFunction, load_function
from progress_admin.local.template import (
    CorsConfiguration,
    FunctionEnvironment,
    Route,
    cors_configuration,
    http_routes,
    load_template,
)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
SWAGGER_ASSETS = ("swagger-ui-bundle.min.js", "swagger-ui.min.css")
DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"
DASHBOARD_PREFIX = "/dashboard/"
# Parameters whose deployed value cannot work on loopback (as one would pass `sam local
# --parameter-overrides`): the local PostgreSQL speaks no TLS. --parameter-overrides still wins.
LOCAL_PARAMETER_VALUES = {"DbTls": "disable"}
# the page loads its own files only and talks to its API (this origin by default, or the one it is given)
DASHBOARD_CSP = (
    "default-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# API Gateway's own payload limit (HTTP API: 10 MB), not the functions': each function refuses bodies
# over progress_common.http.MAX_BODY_BYTES itself, with the project's 413 body, here as in AWS.
GATEWAY_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# http.server bounds the request line (414) and each header line (431) to 64 KB and a request to 99 header
# fields (431: it counts the blank line that ends them); serve bounds the header block as a whole too (431),
# and each line of a chunked body (size line with its extensions, trailer field) like a header line (400).
MAX_LINE_BYTES = 65536
MAX_HEADER_BLOCK_BYTES = 64 * 1024
MAX_TRAILER_FIELDS = 100
# After a refusal that leaves input unread, serve reads and drops what the client still sends, for at most
# this long, before it closes: closing with unread input resets the connection, and a client still
# sending its body would get the reset instead of the answer.
LINGER_SECONDS = 2.0

SWAGGER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Progress service API (local)</title>
<link rel="stylesheet" href="/docs/swagger-ui.min.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.min.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


def unverified_claims(authorization: str | None) -> dict[str, Any] | None:
    """The claims of `Bearer <JWT>`, NOT verified. None when there is no readable token."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    parts = authorization.split(" ", 1)[1].strip().split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def make_token(claims: dict[str, Any]) -> str:
    """An unsigned JWT (alg "none") for local use with `serve`, which does not verify tokens."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


class UnservableRouteError(ValueError):
    """A template route serve cannot match, refused at start rather than silently never matched."""


# A path parameter of an HTTP API route: one segment, `{name}`. Greedy ones (`{proxy+}`) serve does not match.
PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def route_pattern(path: str) -> re.Pattern[str]:
    """The paths a route with `{name}` parameters matches (each one non-empty segment)."""
    parts = PATH_PARAMETER.split(path)
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(pattern)


def unservable_reason(route: Route) -> str | None:
    """Why serve cannot serve a route, or None. serve matches a method and a path whose parameters are
    whole segments (`/progress/export/{export_id}`)."""
    if "{" in PATH_PARAMETER.sub("", route.path) or "}" in PATH_PARAMETER.sub("", route.path):
        return "it has a greedy or malformed path parameter, which serve does not match"
    if route.method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") or route.path == "$default":
        return "serve matches one method and one exact path per route"
    return None


class LocalApi:
    """The routes of template.yaml bound to their handlers, each run with its template environment."""

    # live updates (serve_live.LiveLoop): the WebSocket endpoint, /@connections/{id}, /local/attempts
    live: Any = None
    # the export queue and bucket (serve_exports.ExportLoop): POST /local/sqs, GET /local/exports/...
    exports: Any = None

    def __init__(
        self, root: Path, openapi: Callable[[], str], parameter_overrides: dict[str, str] | None = None
    ) -> None:
        template = load_template(root / "template.yaml")
        local = {k: v for k, v in LOCAL_PARAMETER_VALUES.items() if k in (template.get("Parameters") or {})}
        self.overrides = {**local, **(parameter_overrides or {})}
        values = local_values(template, self.overrides)
        self.cors: CorsConfiguration | None = cors_configuration(template, values)
        self.routes: dict[tuple[str, str], tuple[Route, LocalFunction]] = {}
        self.environments: dict[str, FunctionEnvironment] = {}
        functions: dict[str, LocalFunction] = {}
        # Powertools keeps the current event on the layer's routers, which the functions share: one
        # request at a time across the HTTP API's functions
        lock = threading.Lock()
        for route in http_routes(template, root):
            reason = unservable_reason(route)
            if reason:
                raise UnservableRouteError(
                    f"cannot serve {route.method} {route.path} of {route.function} from template.yaml: "
                    f"{reason}. Change the route, or extend progress_admin/serve.py to match it."
                )
            if route.function not in functions:
                functions[route.function] = load_function(template, route.function, root, values, lock)
                self.environments[route.function] = functions[route.function].environment
            self.routes[(route.method, route.path)] = (route, functions[route.function])
        # routes with path parameters, matched after the exact ones
        self.patterns = [
            (route.method, route.path, route_pattern(route.path))
            for route, _ in self.routes.values()
            if PATH_PARAMETER.search(route.path)
        ]
        self.openapi = openapi

    def match(self, method: str, path: str) -> tuple[tuple[str, str], dict[str, str]] | None:
        """The route (method, template path) a request reaches and its path parameters, or None."""
        if (method, path) in self.routes:
            return (method, path), {}
        for route_method, route_path, pattern in self.patterns:
            found = pattern.fullmatch(path)
            if route_method == method and found:
                return (route_method, route_path), found.groupdict()
        return None

    def invoke(self, route_key: tuple[str, str], event: dict[str, Any]) -> dict[str, Any]:
        _, function = self.routes[route_key]
        result: dict[str, Any] = function(event)
        return result


def cors_preflight_headers(cors: CorsConfiguration | None, headers: Any) -> dict[str, str]:
    """The headers API Gateway answers a CORS preflight with: all of them for an allowed origin,
    method and header list; none otherwise (the browser then blocks the request)."""
    origin = headers.get("Origin")
    method = (headers.get("Access-Control-Request-Method") or "").upper()
    requested = [
        h.strip().lower()
        for h in (headers.get("Access-Control-Request-Headers") or "").split(",")
        if h.strip()
    ]
    if cors is None or not origin or not cors.allows(origin):
        return {}
    if "*" not in cors.allow_methods and method not in cors.allow_methods:
        return {}
    if "*" not in cors.allow_headers and any(h not in cors.allow_headers for h in requested):
        return {}
    answer = {
        "Access-Control-Allow-Origin": cors.origin_header(origin),
        "Access-Control-Allow-Methods": ",".join(cors.allow_methods),
        "Access-Control-Allow-Headers": ",".join(cors.allow_headers),
        "Vary": "Origin",
    }
    if cors.max_age is not None:
        answer["Access-Control-Max-Age"] = str(cors.max_age)
    if cors.allow_credentials:
        answer["Access-Control-Allow-Credentials"] = "true"
    return answer


def cors_response_headers(cors: CorsConfiguration | None, origin: str | None) -> dict[str, str]:
    """The CORS headers API Gateway adds to an actual response for a request from `origin`."""
    if cors is None or not origin or not cors.allows(origin):
        return {}
    answer = {"Access-Control-Allow-Origin": cors.origin_header(origin), "Vary": "Origin"}
    if cors.expose_headers:
        answer["Access-Control-Expose-Headers"] = ",".join(cors.expose_headers)
    if cors.allow_credentials:
        answer["Access-Control-Allow-Credentials"] = "true"
    return answer


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


class HeaderBlockReader:
    """The request's input as http.server's header parser reads it (line by line), with the header block
    bounded: past MAX_HEADER_BLOCK_BYTES it raises the parser's own LineTooLong, which http.server
    answers with 431."""

    def __init__(self, rfile: Any, limit: int = MAX_HEADER_BLOCK_BYTES) -> None:
        self._rfile = rfile
        self._left = limit

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self._rfile.readline(size)
        self._left -= len(line)
        if self._left < 0:
            raise http.client.LineTooLong("header block")
        return line


def _swagger_asset(name: str) -> bytes:
    import aws_lambda_powertools.event_handler.openapi.swagger_ui as swagger_ui

    return (Path(swagger_ui.__file__).parent / name).read_bytes()


def make_request_handler(api: LocalApi, log: Callable[[str], None]) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        server_version = "progress-local"
        protocol_version = "HTTP/1.1"
        linger = False  # set by a refusal that leaves input unread (see finish)

        def handle_one_request(self) -> None:
            # the instance serves every request of a keep-alive connection: a refusal that comes before
            # this request's headers are read (414, 431) must not take the previous request's Origin
            self.headers = None  # type: ignore[assignment]
            super().handle_one_request()

        def parse_request(self) -> bool:
            rfile = self.rfile
            self.rfile = HeaderBlockReader(rfile)  # type: ignore[assignment]
            try:
                return super().parse_request()
            finally:
                self.rfile = rfile

        def finish(self) -> None:
            if self.linger:
                self._linger()
            super().finish()

        def _linger(self) -> None:
            """A lingering close: the answer is sent and the write side shut, then what the client
            still sends is read and dropped until it closes (or LINGER_SECONDS pass), so that it can
            read the answer rather than a connection reset."""
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + LINGER_SECONDS
                while (left := deadline - time.monotonic()) > 0:
                    self.connection.settimeout(left)
                    if not self.connection.recv(65536):
                        break
            except OSError:  # a timeout, or the client is gone: close now
                pass

        def _refuse(self, status: int, message: str) -> None:
            """An error answer, after which the connection closes with the rest of the body unread."""
            self.close_connection = True
            self.linger = True
            self._json(status, {"message": message})

        def log_message(self, format: str, *args: Any) -> None:
            log(f"{self.address_string()} {format % args}")

        def _send(
            self,
            status: int,
            body: bytes,
            headers: dict[str, str] | None = None,
            cookies: list[str] | None = None,
        ) -> None:
            self.send_response(status)
            # http.server's own refusals (send_error) come before the request's headers were read
            request_headers = getattr(self, "headers", None)
            origin = request_headers.get("Origin") if request_headers is not None else None
            headers = {**(headers or {}), **cors_response_headers(api.cors, origin)}
            for name, value in headers.items():
                self.send_header(name, value)
            for cookie in cookies or []:
                self.send_header("Set-Cookie", cookie)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":  # a HEAD answer is the GET one without its body
                self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

        def _handle(self) -> None:
            url = urlsplit(self.path)
            method = self.command.upper()
            # the body first, whatever answers: on a keep-alive connection, a body left unread would be
            # parsed as the next request
            body = self._read_body()
            if body is None:
                return
            if method == "OPTIONS" and self.headers.get("Access-Control-Request-Method"):
                self._preflight()
                return
            if method == "GET" and self._serve_dashboard(url.path):
                return
            if method == "GET" and (
                url.path in ("/openapi.json", "/docs", "/docs/") or url.path.startswith("/docs/")
            ):
                self._serve_docs(url.path)
                return
            if api.live is not None and api.live.serves(method, url.path):
                status, headers, payload = api.live.handle(method, url.path, dict(self.headers.items()), body)
                self._send(status, payload, headers)
                return
            if api.exports is not None and api.exports.serves(method, url.path):
                status, headers, payload = api.exports.handle(
                    method, url.path, url.query, dict(self.headers.items()), body
                )
                self._send(status, payload, headers)
                return
            matched = api.match(method, url.path)
            if matched is None:
                # what API Gateway answers for a route it does not have
                self._json(404, {"message": "Not Found"})
                return
            key, path_parameters = matched
            claims = unverified_claims(self.headers.get("Authorization"))
            if claims is None:
                # what the JWT authorizer answers before any function runs
                self._json(401, {"message": "Unauthorized"})
                return
            request_id = str(uuid.uuid4())
            event = http_event(
                method,
                url.path,
                query=url.query,
                headers=dict(self.headers.items()),
                body=body or None,
                base64_body=True,
                claims=claims,
                # API Gateway lists the token's scopes (its `scope` claim) for routes that require some
                scopes=str(claims.get("scope") or "").split(),
                source_ip=self.client_address[0],
                request_id=request_id,
                route_key=f"{key[0]} {key[1]}",
                path_parameters=path_parameters,
            )
            try:
                response = api.invoke(key, event)
            except Exception as exc:  # the function crashed: API Gateway answers 500
                # the type only: an exception's message may quote the request's values
                log(f"function error for {method} {url.path}: {type(exc).__name__}")
                self._json(500, {"message": "Internal Server Error"})
                return
            payload = response.get("body") or ""
            raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
            headers = dict(response.get("headers") or {})
            for name, values in (response.get("multiValueHeaders") or {}).items():
                headers[name] = ", ".join(values)
            headers["apigw-requestid"] = request_id
            self._send(int(response.get("statusCode", 200)), raw, headers, response.get("cookies"))

        def _read_body(self) -> bytes | None:
            """The request body, by Content-Length or chunked; None when an error has been answered."""
            lengths = {value.strip() for value in self.headers.get_all("Content-Length") or []}
            encoding = ",".join(self.headers.get_all("Transfer-Encoding") or []).strip().lower()
            if encoding:
                # RFC 9112: Transfer-Encoding wins over Content-Length; chunked is the only one clients send
                if encoding != "chunked":
                    self._refuse(501, "Not Implemented")
                    return None
                if lengths:
                    self.close_connection = True  # RFC 9112 6.1: both framings may be an attempt to smuggle
                return self._read_chunked()
            raw_length = lengths.pop() if lengths else "0"
            if lengths or not raw_length.isascii() or not raw_length.isdigit():
                # "abc" or "-5": no body length to read by (int() would raise, read(-5) would wait for EOF);
                # Content-Length fields that disagree: no telling which one frames the body
                self._refuse(400, "Bad Request")
                return None
            length = int(raw_length)
            if length > GATEWAY_MAX_PAYLOAD_BYTES:
                self._refuse(413, "Request Entity Too Large")
                return None
            return self.rfile.read(length) if length else b""

        def _read_line(self) -> bytes | None:
            """One line of a chunked body (a size line, a trailer field) with its ending; None for a line
            cut short by the end of the input or longer than MAX_LINE_BYTES, which is no line at all."""
            line: bytes = self.rfile.readline(MAX_LINE_BYTES + 1)
            return line if line.endswith(b"\n") and len(line) <= MAX_LINE_BYTES else None

        def _read_chunked(self) -> bytes | None:
            """A chunked body (as API Gateway accepts one), bounded like a Content-Length one."""
            body = bytearray()
            while True:
                line = self._read_line()
                size_line = b"" if line is None else line.split(b";", 1)[0].strip()  # extensions: unused
                if not size_line or any(c not in b"0123456789abcdefABCDEF" for c in size_line):
                    self._refuse(400, "Bad Request")
                    return None
                size = int(size_line, 16)
                if len(body) + size > GATEWAY_MAX_PAYLOAD_BYTES:
                    self._refuse(413, "Request Entity Too Large")
                    return None
                if size == 0:
                    # trailer fields (none are used), then the blank line that ends the body
                    for _ in range(MAX_TRAILER_FIELDS + 1):
                        line = self._read_line()
                        if line is None:
                            break
                        if line in (b"\r\n", b"\n"):
                            return bytes(body)
                    self._refuse(400, "Bad Request")
                    return None
                chunk = self.rfile.read(size)
                if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    self._refuse(400, "Bad Request")
                    return None
                body += chunk

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own refusals (header too large 431, URI too long 414, bad request line 400,
            unknown method 501) as JSON like every other answer, not its HTML page."""
            self.close_connection = True
            self.linger = True
            try:
                reason = self.responses[code][0]
            except KeyError:
                reason = message or "Error"
            self._json(code, {"message": reason})

        def _serve_docs(self, path: str) -> None:
            if path == "/openapi.json":
                self._send(200, api.openapi().encode(), {"Content-Type": "application/json"})
            elif path in ("/docs", "/docs/"):
                self._send(200, SWAGGER_PAGE.encode(), {"Content-Type": "text/html; charset=utf-8"})
            elif path.removeprefix("/docs/") in SWAGGER_ASSETS:
                name = path.removeprefix("/docs/")
                kind = "text/css" if name.endswith(".css") else "application/javascript"
                self._send(200, _swagger_asset(name), {"Content-Type": kind})
            else:
                self._json(404, {"message": "Not Found"})

        def _preflight(self) -> None:
            """API Gateway answers preflights itself (no authorizer, no function): 204."""
            self.send_response(204)
            for name, value in cors_preflight_headers(api.cors, self.headers).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _serve_dashboard(self, path: str) -> bool:
            file = dashboard_file(path)
            if file is None:
                return False
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind == "application/javascript":
                kind += "; charset=utf-8"
            self._send(
                200,
                file.read_bytes(),
                {
                    "Content-Type": kind,
                    "Cache-Control": "no-cache",
                    "Content-Security-Policy": DASHBOARD_CSP,
                    "Referrer-Policy": "no-referrer",
                    "X-Content-Type-Options": "nosniff",
                },
            )
            return True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

    RequestHandler.api_routes = sorted(api.routes)  # type: ignore[attr-defined]
    return RequestHandler


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalHttpServer(ThreadingHTTPServer):
    """The local HTTP server; closing it also stops what was attached to it (the live loop)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_close: list[Callable[[], None]] = []

    def server_close(self) -> None:
        super().server_close()
        while self.on_close:
            self.on_close.pop()()


def attach_live_loop(
    server: LocalHttpServer, api: LocalApi, root: Path, host: str, log: Callable[[str], None]
) -> None:
    """Live updates, as in AWS: a WebSocket endpoint calling the $connect/$disconnect functions, the
    management API stand-in and POST /local/attempts (progress_admin/serve_live.py)."""
    from progress_admin.local.template import websocket_routes
    from progress_admin.serve_live import LiveLoop

    if not websocket_routes(load_template(root / "template.yaml"), root):
        return  # a template without a WebSocket API: no live loop, the live routes answer 404
    api.live = LiveLoop(root, host, int(server.server_address[1]), log, parameter_overrides=api.overrides)
    server.on_close.append(api.live.close)


def create_server(
    root: Path,
    host: str,
    port: int,
    log: Callable[[str], None],
    parameter_overrides: dict[str, str] | None = None,
    exports_dir: Path | None = None,
) -> LocalHttpServer:
    """exports_dir: the folder that stands in for the export bucket (default `.local/exports`)."""
    if not is_loopback(host):
        raise ValueError(
            f"serve listens on loopback only (it does not verify tokens); {host!r} is not loopback"
        )
    from progress_admin.database import local_exports_dir
    from progress_admin.openapi import render
    from progress_admin.serve_exports import ExportLoop, has_export_queue

    # before the functions are imported: their cold start needs the export store
    exports = None
    if has_export_queue(load_template(root / "template.yaml"), root):
        exports = ExportLoop(root, host, exports_dir or local_exports_dir(), log, parameter_overrides)
    api = LocalApi(root, render, parameter_overrides)
    server = LocalHttpServer((host, port), make_request_handler(api, log))
    server.local_api = api  # type: ignore[attr-defined]
    server.daemon_threads = True
    if exports is not None:
        exports.bind(int(server.server_address[1]), api)
        api.exports = exports
        server.on_close.append(exports.close)
    attach_live_loop(server, api, root, host, log)
    return server


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
 A token for user_7 and its dashboard URL: progress-admin token --user user_7
==============================================================================
"""
