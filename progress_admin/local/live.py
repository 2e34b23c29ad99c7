"""Live updates in `serve`: the same loop as in AWS, over real sockets on loopback. The WebSocket API
listens on a port of its own (in AWS it has a domain of its own); its management API stand-in
(`/@connections/{id}`) and the local attempts queue (`POST /local/attempts`) are on the HTTP port, where
LIVE_MANAGEMENT_ENDPOINT points the consumer."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from progress_admin.local.events import WEBSOCKET_STAGE
from progress_admin.local.gateway import Reply
from progress_admin.local.intrinsics import local_values
from progress_admin.local.queue import LOCAL_ATTEMPTS_PATH, LocalQueue
from progress_admin.local.runtime import load_function
from progress_admin.local.template import sqs_consumer, websocket_routes
from progress_admin.local.websocket import CONNECTIONS_PREFIX, Invoke, WebSocketApi

# Credentials and region for the consumer's boto3 client; the stand-in checks the request is signed,
# not the signature. Set only when the environment has none, and removed again on close.
LOCAL_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class LiveLoop:
    """The WebSocket API, its management API and the local attempts queue, around the real handlers."""

    def __init__(
        self,
        root: Path,
        template: dict[str, Any],
        host: str,
        http_port: int,
        websocket_socket: socket.socket,
        invoke: Invoke,
        log: Callable[[str], None],
        parameter_overrides: Mapping[str, str] | None = None,
    ) -> None:
        values = local_values(template, parameter_overrides)
        routes = {route.route_key: route for route in websocket_routes(template, root)}
        # each function with its environment from the template, as for the HTTP routes
        connect = load_function(template, routes["$connect"].function, root, values)
        disconnect = load_function(template, routes["$disconnect"].function, root, values)
        consumer = sqs_consumer(template, root)
        # the most messages one batch may hold: what the template's event source mapping delivers
        self.queue = LocalQueue(load_function(template, consumer.function, root, values), consumer.batch_size)
        self.invoke = invoke
        self.websocket_socket = websocket_socket
        self.ws_port = int(websocket_socket.getsockname()[1])
        self.websockets = WebSocketApi(connect, disconnect, invoke, log)
        self.websockets.domain = f"127.0.0.1:{self.ws_port}"
        self.websocket_url = f"ws://{host}:{self.ws_port}/{WEBSOCKET_STAGE}"
        self.management_endpoint = f"http://{host}:{http_port}"
        self._added_environment = [k for k in LOCAL_AWS_ENVIRONMENT if k not in os.environ]
        for key in self._added_environment:
            os.environ[key] = LOCAL_AWS_ENVIRONMENT[key]
        self._configure(live=True)

    def _configure(self, *, live: bool) -> None:
        """Point the layer's live settings at this loop (or back at the environment)."""
        from progress_common.live_management import reset_push_state
        from progress_common.settings import LiveSettings, get_live_settings, set_live_settings

        reset_push_state()
        if not live:
            set_live_settings(None)
            return
        budget = get_live_settings().live_push_budget_seconds
        set_live_settings(
            LiveSettings(
                live_websocket_url=self.websocket_url,
                live_management_endpoint=self.management_endpoint,
                live_push_budget_seconds=budget,
            )
        )

    def close(self) -> None:
        self._configure(live=False)
        for key in self._added_environment:
            os.environ.pop(key, None)

    def serves(self, method: str, raw_path: str) -> bool:
        return raw_path.startswith(CONNECTIONS_PREFIX) or (
            method == "POST" and raw_path == LOCAL_ATTEMPTS_PATH
        )

    async def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if raw_path == LOCAL_ATTEMPTS_PATH:
            reply: Reply = await self.invoke(self.queue.deliver, body)
            return reply
        connection_id = unquote(raw_path.removeprefix(CONNECTIONS_PREFIX))
        return await self.websockets.manage(method, connection_id, headers, body)
