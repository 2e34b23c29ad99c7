"""Live updates in `progress-admin serve`: the same loop as in AWS, over real sockets on loopback.

- A WebSocket endpoint (the `websockets` package) standing in for the API Gateway WebSocket API: each
  handshake becomes a `$connect` event for the function template.yaml routes `$connect` to, and a closed
  socket a `$disconnect` event; a refused `$connect` refuses the handshake with the function's status.
- A stand-in of the management API on the HTTP port, `POST|DELETE /@connections/{id}`, which the
  attempts consumer calls exactly as in AWS (boto3, SigV4-signed; LIVE_MANAGEMENT_ENDPOINT points here).
- `POST /local/attempts`: a JSON list of attempt message bodies, run through the SQS consumer of
  template.yaml as one batch; the answer is its batch response.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from progress_admin.local.events import WEBSOCKET_STAGE, sqs_batch_event, websocket_event
from progress_admin.local.intrinsics import local_values
from progress_admin.local.runtime import LocalFunction, load_function
from progress_admin.local.template import load_template, sqs_consumer, websocket_routes

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Reply = tuple[int, dict[str, str], bytes]

LOCAL_ATTEMPTS_PATH = "/local/attempts"
CONNECTIONS_PREFIX = "/@connections/"
STAGE = WEBSOCKET_STAGE
# Credentials and region for the consumer's boto3 client; the stand-in checks the request is signed,
# not the signature. Set only when the environment has none, and removed again on close.
LOCAL_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class LiveLoop:
    """The WebSocket API, its management API and the local attempts queue, around the real handlers."""

    def __init__(
        self,
        root: Path,
        host: str,
        http_port: int,
        log: Callable[[str], None],
        ws_port: int = 0,
        parameter_overrides: dict[str, str] | None = None,
    ):
        from websockets.sync.server import serve

        template = load_template(root / "template.yaml")
        values = local_values(template, parameter_overrides)

        def function(name: str) -> LocalFunction:
            # each function with its environment from the template, as for the HTTP routes
            return load_function(template, name, root, values)

        self.log = log
        self.connections: dict[str, Any] = {}
        self.connections_lock = threading.Lock()
        self._added_environment = [k for k in LOCAL_AWS_ENVIRONMENT if k not in os.environ]
        for key in self._added_environment:
            os.environ[key] = LOCAL_AWS_ENVIRONMENT[key]
        routes = {route.route_key: route for route in websocket_routes(template, root)}
        self.connect = function(routes["$connect"].function)
        self.disconnect = function(routes["$disconnect"].function)
        consumer = sqs_consumer(template, root)
        self.consumer = function(consumer.function)
        self.max_batch = consumer.batch_size  # what the template's event source mapping delivers at most
        self.server = serve(
            self._on_open,
            host,
            ws_port,
            process_request=self._on_handshake,
            server_header="progress-local",
            compression=None,
        )
        self.ws_port = int(self.server.socket.getsockname()[1])
        self.websocket_url = f"ws://{host}:{self.ws_port}/{STAGE}"
        self.management_endpoint = f"http://{host}:{http_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-websocket", daemon=True)
        self.thread.start()
        self._configure(live=True)

    def _configure(self, *, live: bool) -> None:
        """Point the layer's live settings at this loop (or back at the environment)."""
        from progress_common.live import reset_push_state
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
        self.server.shutdown()
        self.thread.join(5)
        self._configure(live=False)
        for key in self._added_environment:
            os.environ.pop(key, None)

    # --- the WebSocket API ---------------------------------------------------------------------------

    def _on_handshake(self, connection: Any, request: Any) -> Any:
        """$connect: the function decides; anything but 200 refuses the handshake with its status."""
        connection_id = base64.b64encode(secrets.token_bytes(12)).decode()
        query = dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
        headers = {name: value for name, value in request.headers.raw_items()}
        source_ip = str(connection.remote_address[0])
        event = websocket_event(
            "$connect",
            connection_id,
            domain=f"127.0.0.1:{self.ws_port}",
            source_ip=source_ip,
            headers=headers,
            query=query or None,
        )
        try:
            response = self.connect(event)
        except Exception as exc:  # the function crashed: API Gateway answers 500
            self.log(f"$connect function error: {type(exc).__name__}: {exc}")
            return connection.respond(500, "Internal Server Error\n")
        status = int(response.get("statusCode", 200))
        if status != 200:
            self.log(f"{source_ip} websocket $connect refused ({status})")
            return connection.respond(status, (response.get("body") or "Forbidden") + "\n")
        connection.live_connection_id = connection_id
        with self.connections_lock:
            self.connections[connection_id] = connection
        self.log(f"{source_ip} websocket $connect {connection_id}")
        return None

    def _on_open(self, connection: Any) -> None:
        """An open connection: messages from the client have no route (as in AWS without $default)."""
        connection_id = getattr(connection, "live_connection_id", "")
        try:
            for _message in connection:
                connection.send(
                    json.dumps(
                        {
                            "message": "Forbidden",
                            "connectionId": connection_id,
                            "requestId": str(uuid.uuid4()),
                        }
                    )
                )
        except Exception:  # noqa: S110 - a broken socket ends the connection like a close
            pass
        finally:
            self._disconnected(connection_id, connection.close_code)

    def _disconnected(self, connection_id: str, close_code: int | None) -> None:
        with self.connections_lock:
            known = self.connections.pop(connection_id, None) is not None
        if not known:
            return
        event = websocket_event(
            "$disconnect",
            connection_id,
            domain=f"127.0.0.1:{self.ws_port}",
            disconnect_status=close_code or 1006,
        )
        try:
            self.disconnect(event)
        except Exception as exc:
            self.log(f"$disconnect function error: {type(exc).__name__}: {exc}")
        self.log(f"websocket $disconnect {connection_id}")

    # --- HTTP: the management API stand-in and the local queue -----------------------------------------

    def serves(self, method: str, path: str) -> bool:
        return path.startswith(CONNECTIONS_PREFIX) or (method == "POST" and path == LOCAL_ATTEMPTS_PATH)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if path == LOCAL_ATTEMPTS_PATH:
            return self._local_attempts(body)
        return self._management(method, unquote(path.removeprefix(CONNECTIONS_PREFIX)), headers, body)

    def _management(self, method: str, connection_id: str, headers: dict[str, str], body: bytes) -> Reply:
        lowered = {name.lower(): value for name, value in headers.items()}
        if not lowered.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            # the real management API takes SigV4-signed requests only
            return _json(
                403, {"message": "Missing Authentication Token"}, {"x-amzn-ErrorType": "ForbiddenException"}
            )
        with self.connections_lock:
            connection = self.connections.get(connection_id)
        if method not in ("POST", "DELETE"):
            return _json(405, {"message": "Method Not Allowed"})
        if connection is None:
            return _json(410, {"message": None}, {"x-amzn-ErrorType": "GoneException"})
        try:
            if method == "DELETE":  # answered at once, as API Gateway does; the close handshake follows
                threading.Thread(target=connection.close, daemon=True).start()
                return 204, {}, b""
            try:
                connection.send(body.decode("utf-8"))
            except UnicodeDecodeError:
                connection.send(body)
        except Exception:
            return _json(410, {"message": None}, {"x-amzn-ErrorType": "GoneException"})
        return 200, {}, b""

    def _local_attempts(self, body: bytes) -> Reply:
        try:
            bodies = json.loads(body or b"null")
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            bodies = None
        if not isinstance(bodies, list) or not 1 <= len(bodies) <= self.max_batch:
            return _json(
                400,
                {
                    "error": {
                        "code": "bad_request",
                        "message": f"send a JSON list of 1 to {self.max_batch} attempt message bodies",
                    }
                },
            )
        return _json(200, self.consumer(sqs_batch_event(bodies)))
