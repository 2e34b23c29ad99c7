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
import datetime as dt
import hashlib
import json
import os
import secrets
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from progress_admin.template import (
    FunctionEnvironment,
    function_environment,
    load_template,
    parameter_values,
    sqs_consumer,
    websocket_routes,
)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Reply = tuple[int, dict[str, str], bytes]

LOCAL_ATTEMPTS_PATH = "/local/attempts"
CONNECTIONS_PREFIX = "/@connections/"
STAGE = "local"
# Credentials and region for the consumer's boto3 client; the stand-in checks the request is signed,
# not the signature. Set only when the environment has none, and removed again on close.
LOCAL_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def websocket_event(
    route_key: str,
    connection_id: str,
    *,
    domain: str,
    source_ip: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    disconnect_status: int | None = None,
) -> dict[str, Any]:
    """An API Gateway WebSocket API event (Lambda proxy integration), as the real gateway builds it."""
    now = dt.datetime.now(dt.UTC)
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route_key, "MESSAGE")
    request_id = base64.b64encode(secrets.token_bytes(6)).decode()
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": int(now.timestamp() * 1000),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "identity": {"sourceIp": source_ip, "userAgent": (headers or {}).get("User-Agent", "")},
        "requestId": request_id,
        "domainName": domain,
        "connectionId": connection_id,
        "apiId": "local",
    }
    if disconnect_status is not None:
        context["disconnectStatusCode"] = disconnect_status
        context["disconnectReason"] = ""
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if headers:
        event["headers"] = dict(headers)
        event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    if query:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    return event


def sqs_batch_event(bodies: list[Any]) -> dict[str, Any]:
    """An SQS event for the consumer, one record per body (a JSON value, or a string sent as it is)."""
    records = []
    for index, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                # the position in the list shows in the id, so a batch failure names its message
                "messageId": f"local-{index:02d}-{uuid.uuid4().hex[:12]}",
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(int(dt.datetime.now(dt.UTC).timestamp() * 1000)),
                    "SenderId": "local",
                    "ApproximateFirstReceiveTimestamp": str(int(dt.datetime.now(dt.UTC).timestamp() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:local:000000000000:progress-attempts",
                "awsRegion": "local",
            }
        )
    return {"Records": records}


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class LocalFunction:
    """One function of the template, run in this process one invocation at a time (as one container)."""

    def __init__(
        self, name: str, handler: Handler, timeout: float, environment: FunctionEnvironment | None = None
    ) -> None:
        self.name, self.handler, self.timeout = name, handler, timeout
        self.environment = environment or FunctionEnvironment({}, ())
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        from progress_admin.serve import FakeContext, applied_environment

        with self.lock, applied_environment(self.environment):
            return self.handler(event, FakeContext(self.name, self.timeout))


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

        from progress_admin.serve import applied_environment, load_function_module

        template = load_template(root / "template.yaml")
        default_timeout = float(template.get("Globals", {}).get("Function", {}).get("Timeout", 10))
        parameters = parameter_values(template, parameter_overrides)

        def function(name: str, code_dir: Path, handler: str) -> LocalFunction:
            # each function with its environment from the template, as for the HTTP routes
            environment = function_environment(template, name, parameters)
            with applied_environment(environment):
                module = load_function_module(code_dir / f"{handler.split('.')[0]}.py")
            props = template["Resources"][name]["Properties"]
            return LocalFunction(
                name,
                getattr(module, handler.split(".")[1]),
                float(props.get("Timeout", default_timeout)),
                environment,
            )

        self.log = log
        self.connections: dict[str, Any] = {}
        self.connections_lock = threading.Lock()
        self._added_environment = [k for k in LOCAL_AWS_ENVIRONMENT if k not in os.environ]
        for key in self._added_environment:
            os.environ[key] = LOCAL_AWS_ENVIRONMENT[key]
        routes = {route.route_key: route for route in websocket_routes(template, root)}
        self.connect = function(
            routes["$connect"].function, routes["$connect"].code_dir, routes["$connect"].handler
        )
        self.disconnect = function(
            routes["$disconnect"].function, routes["$disconnect"].code_dir, routes["$disconnect"].handler
        )
        consumer = sqs_consumer(template, root)
        self.consumer = function(consumer.function, consumer.code_dir, consumer.handler)
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
