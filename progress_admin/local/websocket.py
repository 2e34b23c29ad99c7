"""The WebSocket API, locally, and its management API: each handshake becomes a `$connect` event for
the function template.yaml routes `$connect` to (anything but 200 refuses the handshake with its status),
a closed socket a `$disconnect` event; `POST|DELETE /@connections/{id}` send to and close a connection,
as the consumer calls them in AWS (boto3, SigV4-signed)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from progress_admin.local.events import websocket_event
from progress_admin.local.gateway import Reply, json_reply
from progress_admin.local.runtime import LocalFunction
from progress_admin.local.web import WSMsgType, web

CONNECTIONS_PREFIX = "/@connections/"
GONE: Reply = json_reply(410, {"message": None}, {"x-amzn-ErrorType": "GoneException"})

# runs a function (a handler, which blocks) in a worker thread and awaits its result: the server's
Invoke = Callable[..., Awaitable[Any]]


class WebSocketApi:
    """The open connections by id, the `$connect`/`$disconnect` functions around them, and the
    management API's calls on them."""

    def __init__(
        self, connect: LocalFunction, disconnect: LocalFunction, invoke: Invoke, log: Callable[[str], None]
    ) -> None:
        self.connect, self.disconnect, self.invoke, self.log = connect, disconnect, invoke, log
        self.connections: dict[str, web.WebSocketResponse] = {}
        self.domain = "127.0.0.1"
        self._closing: set[asyncio.Task[Any]] = set()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """One WebSocket client, from its handshake to its close."""
        socket = web.WebSocketResponse(compress=False)
        if not socket.can_prepare(request).ok:
            return web.Response(status=426, text="Upgrade Required\n")
        connection_id = base64.b64encode(secrets.token_bytes(12)).decode()
        source_ip = request.remote or ""
        event = websocket_event(
            "$connect",
            connection_id,
            domain=self.domain,
            source_ip=source_ip,
            headers=dict(request.headers),
            query=dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)) or None,
        )
        try:
            response = await self.invoke(self.connect, event)
        except Exception as exc:  # the function crashed: API Gateway answers 500
            self.log(f"$connect function error: {type(exc).__name__}")
            return web.Response(status=500, text="Internal Server Error\n")
        status = int(response.get("statusCode", 200))
        if status != 200:
            self.log(f"{source_ip} websocket $connect refused ({status})")
            return web.Response(status=status, text=(response.get("body") or "Forbidden") + "\n")
        await socket.prepare(request)
        self.connections[connection_id] = socket
        self.log(f"{source_ip} websocket $connect {connection_id}")
        try:
            with contextlib.suppress(ConnectionError):  # a broken socket ends the connection like a close
                async for message in socket:
                    if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                        # no route for messages from the client (as in AWS without $default)
                        reply = {
                            "message": "Forbidden",
                            "connectionId": connection_id,
                            "requestId": str(uuid.uuid4()),
                        }
                        await socket.send_str(json.dumps(reply))
        finally:
            await self._disconnected(connection_id, socket.close_code)
        return socket

    async def _disconnected(self, connection_id: str, close_code: int | None) -> None:
        if self.connections.pop(connection_id, None) is None:
            return
        event = websocket_event(
            "$disconnect", connection_id, domain=self.domain, disconnect_status=close_code or 1006
        )
        try:
            await self.invoke(self.disconnect, event)
        except Exception as exc:
            self.log(f"$disconnect function error: {type(exc).__name__}")
        self.log(f"websocket $disconnect {connection_id}")

    async def manage(self, method: str, connection_id: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """The management API: POST sends `body` to the connection, DELETE closes it."""
        if not (headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 "):
            # the real management API takes SigV4-signed requests only
            return json_reply(
                403, {"message": "Missing Authentication Token"}, {"x-amzn-ErrorType": "ForbiddenException"}
            )
        socket = self.connections.get(connection_id)
        if method not in ("POST", "DELETE"):
            return json_reply(405, {"message": "Method Not Allowed"})
        if socket is None:
            return GONE
        if method == "DELETE":  # answered at once, as API Gateway does; the close handshake follows
            task = asyncio.ensure_future(socket.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return 204, {}, b""
        try:
            try:
                await socket.send_str(body.decode("utf-8"))
            except UnicodeDecodeError:
                await socket.send_bytes(body)
        except Exception:  # closing or closed under us
            return GONE
        return 200, {}, b""

    async def close_all(self) -> None:
        """Close every connection (each then gets its $disconnect), as the API does when it goes away."""
        await asyncio.gather(*(socket.close() for socket in list(self.connections.values())))
