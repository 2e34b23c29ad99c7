"""`progress-admin serve`'s network server: aiohttp on loopback, in front of the gateway, the dashboard
and docs, and the live loop. aiohttp does all of HTTP/1.1 (framing, chunked bodies, keep-alive, header
limits, lingering close) and WebSocket; this module picks what answers a request and says every refusal
as JSON. There is NO JWT verification (progress_admin/local/gateway.py): it listens on loopback only.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

from multidict import CIMultiDict

from progress_admin.local.events import http_event
from progress_admin.local.exports import ExportLoop
from progress_admin.local.gateway import (
    GATEWAY_MAX_PAYLOAD_BYTES,
    HttpApi,
    Reply,
    cors_preflight_headers,
    cors_response_headers,
    function_answer,
    json_reply,
    unverified_claims,
)
from progress_admin.local.live import LiveLoop
from progress_admin.local.signals import outbox_reply
from progress_admin.local.signals import serves as serves_signals
from progress_admin.local.static import dashboard_csp, dashboard_reply, docs_reply, serves_docs
from progress_admin.local.sweep import SweepLoop
from progress_admin.local.web import C_PARSER, BadHttpMessage, LineTooLong, web

# aiohttp's limits on a request's head, as serve configures them: the request line (its default; 414
# beyond), each header line (431 beyond: API Gateway's bound on the request line and headers together,
# 10 240 bytes, so no longer field could reach a function in AWS), and the header fields (431 beyond).
MAX_REQUEST_LINE_BYTES = 8190
MAX_HEADER_LINE_BYTES = 10240
MAX_HEADER_FIELDS = 99
# After a refusal that leaves a body unread, aiohttp reads and drops what the client still sends for at
# most this long before it closes, so that a client still uploading reads the answer, not a reset.
LINGER_SECONDS = 2.0
# the messages of the refusals, as API Gateway words them (the same on every Python)
REFUSALS = {
    400: "Bad Request",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
WORKER_THREADS = 32  # the handlers block (database, boto3): each invocation runs in a worker thread


def refusal_reply(status: int) -> Reply:
    return json_reply(status, {"message": REFUSALS.get(status) or HTTPStatus(status).phrase})


def refusal_status(status: int, exc: BaseException | None) -> int:
    """aiohttp refuses a head it cannot take with a 400; the RFCs' own codes for a head too large."""
    if isinstance(exc, LineTooLong):
        return 414 if exc.args[1] == MAX_REQUEST_LINE_BYTES else 431
    if isinstance(exc, BadHttpMessage) and str(exc.message).startswith("Too many headers"):
        return 431
    return status


class _Protocol(web.RequestHandler):
    """aiohttp's connection handler, with its own refusals (a request it cannot parse) said as JSON."""

    def __init__(self, manager: _Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.log = manager.log

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # an answer is under way: nothing else can be said
            raise ConnectionError("an answer was already being sent")
        status = refusal_status(status, exc)
        self.log(f"{request.remote} refused: {status} ({type(exc).__name__ if exc else 'error'})")
        response = to_response(refusal_reply(status))
        response.force_close()
        return response


class _Server(web.Server):
    """aiohttp's low-level server, making its connections' handlers _Protocol."""

    def __init__(self, handler: Any, log: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.log = log

    def __call__(self) -> web.RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


def to_response(reply: Reply, cookies: list[str] | None = None) -> web.Response:
    status, headers, body = reply
    all_headers: CIMultiDict[str] = CIMultiDict(headers)
    for cookie in cookies or []:
        all_headers.add("Set-Cookie", cookie)
    return web.Response(status=status, body=body, headers=all_headers)


class LocalServer:
    """The HTTP API (and the WebSocket API) on loopback: sockets bound when made, served by
    serve_forever() until shutdown() from another thread; server_close() releases them."""

    def __init__(
        self,
        api: HttpApi,
        openapi: Callable[[], str],
        http_socket: socket.socket,
        log: Callable[[str], None],
    ) -> None:
        self.local_api, self.openapi, self.http_socket, self.log = api, openapi, http_socket, log
        self.server_address: tuple[str, int] = http_socket.getsockname()[:2]
        self.executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="lambda")
        self.live: LiveLoop | None = None
        self.exports: ExportLoop | None = None
        self.sweep: SweepLoop | None = None
        # what the dashboard may talk to besides its own origin (set by create_server)
        self.dashboard_csp = dashboard_csp(())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._finished = threading.Event()
        self._state_lock = threading.Lock()  # orders shutdown() with _serve()'s start
        self._stop_requested = False

    async def invoke(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking call (a handler) in a worker thread; the loop serves on meanwhile (the consumer's
        pushes reach the management API stand-in on this very server)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def serve_forever(self) -> None:
        if C_PARSER:
            self.log("warning: aiohttp uses its C parser here (imported before serve set it up)")
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        with self._state_lock:
            if self._stop_requested:  # shutdown() came before this thread got here: serve nothing
                self._finished.set()
                return
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        limits = {
            "max_line_size": MAX_REQUEST_LINE_BYTES,
            "max_field_size": MAX_HEADER_LINE_BYTES,
            "max_headers": MAX_HEADER_FIELDS + 2,  # aiohttp counts the request line and the blank line
            "lingering_time": LINGER_SECONDS,
            "access_log": None,
        }
        runners = [web.ServerRunner(_Server(self.handle, self.log, **limits), shutdown_timeout=2)]
        await runners[0].setup()
        await web.SockSite(runners[0], self.http_socket).start()
        if self.sweep is not None:
            self.sweep.start()
        if self.live is not None:
            # the same bounded wait for open connections at shutdown as the HTTP runner's (aiohttp's default is
            # 60 s: shutdown() gives up after 10 and server_close() would close the socket under a cleanup)
            runners.append(
                web.ServerRunner(_Server(self.live.websockets.handle, self.log, **limits), shutdown_timeout=2)
            )
            await runners[1].setup()
            await web.SockSite(runners[1], self.live.websocket_socket).start()
        try:
            await self._stop.wait()
        finally:
            if self.live is not None:
                await self.live.websockets.close_all()  # each gets its $disconnect, as when the API goes
            for runner in reversed(runners):
                await runner.cleanup()
            self._finished.set()

    def shutdown(self) -> None:
        """Stop serve_forever() (called from another thread) and wait until it has; before it has started
        serving, it will not (a thread that starts it late finds the request)."""
        with self._state_lock:
            self._stop_requested = True
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not self._finished.is_set():
            loop.call_soon_threadsafe(stop.set)
            self._finished.wait(10)

    def server_close(self) -> None:
        self.http_socket.close()
        if self.live is not None:
            self.live.websocket_socket.close()
            self.live.close()
        if self.exports is not None:
            self.exports.close()
        if self.sweep is not None:
            self.sweep.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        origin = request.headers.get("Origin")
        # the whole body first, whatever answers (aiohttp frames it; API Gateway's 10 MB bound is ours)
        body = await self._body(request)
        preflight = request.method == "OPTIONS" and bool(request.headers.get("Access-Control-Request-Method"))
        response: web.StreamResponse
        if isinstance(body, tuple):
            response = to_response(body)
            response.force_close()
        elif preflight:  # API Gateway answers preflights itself (no authorizer, no function): 204
            response = web.Response(
                status=204, headers=cors_preflight_headers(self.local_api.cors, request.headers)
            )
        else:
            response = await self._answer(request, raw_path, body)
        if not preflight:  # the CORS headers of an actual response, the gateway's own answers included
            response.headers.update(cors_response_headers(self.local_api.cors, origin))
        self.log(f'{request.remote} "{request.method} {request.rel_url.raw_path_qs}" {response.status}')
        return response

    async def _body(self, request: web.BaseRequest) -> bytes | Reply:
        if (request.content_length or 0) > GATEWAY_MAX_PAYLOAD_BYTES:
            return refusal_reply(413)
        body = bytearray()
        try:
            while chunk := await request.content.readany():
                body += chunk
                if len(body) > GATEWAY_MAX_PAYLOAD_BYTES:
                    return refusal_reply(413)
        except (web.RequestPayloadError, BadHttpMessage):  # a body aiohttp could not read (broken chunks)
            return refusal_reply(400)
        return bytes(body)

    async def _answer(self, request: web.BaseRequest, raw_path: str, body: bytes) -> web.StreamResponse:
        method = request.method
        if method in ("GET", "HEAD") and (dashboard := dashboard_reply(raw_path, self.dashboard_csp)):
            return to_response(dashboard)
        if method in ("GET", "HEAD") and serves_docs(raw_path):
            return to_response(docs_reply(raw_path, self.openapi))
        if serves_signals(method, raw_path):
            return to_response(await self.invoke(outbox_reply, request.rel_url.raw_query_string))
        if self.live is not None and self.live.serves(method, raw_path):
            return to_response(await self.live.handle(method, raw_path, request.headers, body))
        if self.exports is not None and self.exports.serves(method, raw_path):
            query, headers = request.rel_url.raw_query_string, dict(request.headers)
            return to_response(await self.invoke(self.exports.handle, method, raw_path, query, headers, body))
        matched = self.local_api.match(method, raw_path)
        if matched is None:
            return to_response(json_reply(404, {"message": "Not Found"}))  # API Gateway's: no such route
        claims = unverified_claims(request.headers.get("Authorization"))
        if claims is None:  # what the JWT authorizer answers before any function runs
            return to_response(json_reply(401, {"message": "Unauthorized"}))
        bound, path_parameters = matched
        request_id = str(uuid.uuid4())
        event = http_event(
            method,
            raw_path,
            query=request.rel_url.raw_query_string,
            headers=dict(request.headers),
            body=body or None,
            base64_body=True,
            claims=claims,
            # API Gateway lists the token's scopes (its `scope` claim) for routes that require some
            scopes=str(claims.get("scope") or "").split(),
            route_key=bound.key,
            path_parameters=path_parameters,
            source_ip=request.remote or "",
            request_id=request_id,
        )
        try:
            answer = function_answer(await self.invoke(bound.function, event))
        except Exception as exc:  # the function crashed: API Gateway answers 500
            # the type only: an exception's message may quote the request's values
            self.log(f"function error for {method} {raw_path}: {type(exc).__name__}")
            return to_response(refusal_reply(500))
        headers = {**answer.headers, "apigw-requestid": request_id}
        return to_response((answer.status, headers, answer.body), answer.cookies)
