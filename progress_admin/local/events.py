"""The one builder of the events AWS hands the functions: API Gateway HTTP API payload 2.0 (with a JWT
authorizer), API Gateway WebSocket `$connect`/`$disconnect`, an SQS batch from the event source mapping,
and a schedule. `serve` builds them from real requests; the tests and the benchmarks build them directly.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
API_ID = "local"
WEBSOCKET_STAGE = "local"
# what an HTTP client sends when a test or benchmark names no headers
SAMPLE_HEADERS = {"accept": "application/json", "user-agent": "progress-local", "x-forwarded-proto": "https"}


def _request_time(now: dt.datetime) -> str:
    return now.strftime("%d/%b/%Y:%H:%M:%S +0000")


def query_parameters(raw_query: str) -> dict[str, str]:
    """queryStringParameters as API Gateway builds them: a repeated name's values joined by commas."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


def http_event(
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | str | None = None,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    base64_body: bool = False,
    claims: Mapping[str, Any] | None = None,
    scopes: Sequence[str] | None = None,
    authorizer: bool = True,
    route_key: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = "192.0.2.10",
    request_id: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the gateway with a JWT authorizer sends it.

    `query`: a mapping, or the raw query string as received. `headers`: as received (names are
    lower-cased; a Cookie header becomes `cookies`); SAMPLE_HEADERS when None. `route_key`: the matched
    route ("GET /items/{id}"), `method path` by default. `scopes`: the token's scopes, as the authorizer
    lists them for a route that requires some. `authorizer=False`: a route without one."""
    lowered = {
        name.lower(): value for name, value in (SAMPLE_HEADERS if headers is None else headers).items()
    }
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    raw_query = query if isinstance(query, str) else urlencode(query or {})
    params = query_parameters(raw_query) if isinstance(query, str) else dict(query or {})
    route_key = route_key or f"{method} {path}"
    now = dt.datetime.now(dt.UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": lowered.get("host", f"{API_ID}.execute-api.{REGION}.amazonaws.com"),
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": _request_time(now),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if params:
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if authorizer:
        jwt = {"claims": dict(claims or {}), "scopes": list(scopes) if scopes else None}
        event["requestContext"]["authorizer"] = {"jwt": jwt}
    if body is not None:
        raw = body.encode() if isinstance(body, str) else body
        if base64_body:
            event["body"] = base64.b64encode(raw).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = raw.decode()
    return event


def websocket_event(
    route_key: str,
    connection_id: str,
    *,
    domain: str,
    source_ip: str = "127.0.0.1",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    disconnect_status: int | None = None,
) -> dict[str, Any]:
    """An API Gateway WebSocket API event (Lambda proxy integration): `$connect` (with the handshake's
    headers and query), `$disconnect` (with its close code), or a message route."""
    now = dt.datetime.now(dt.UTC)
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route_key, "MESSAGE")
    request_id = base64.b64encode(secrets.token_bytes(6)).decode()
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": _request_time(now),
        "messageDirection": "IN",
        "stage": WEBSOCKET_STAGE,
        "connectedAt": int(now.timestamp() * 1000),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "identity": {"sourceIp": source_ip, "userAgent": (headers or {}).get("User-Agent", "")},
        "requestId": request_id,
        "domainName": domain,
        "connectionId": connection_id,
        "apiId": API_ID,
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


def sqs_record(body: str, *, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    """One record of a Lambda SQS event, as the event source mapping delivers it."""
    sent = str(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"AQEB{uuid.uuid4().hex}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": sent,
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": sent,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:progress-attempts",
        "awsRegion": REGION,
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def sqs_batch_event(bodies: list[Any]) -> dict[str, Any]:
    """An SQS event of these message bodies (a JSON value each, or a string sent as it is); the position
    in the list shows in each message id, so a batch failure names its message."""
    return sqs_event(
        *(
            sqs_record(
                body if isinstance(body, str) else json.dumps(body),
                message_id=f"local-{index:02d}-{uuid.uuid4().hex[:12]}",
            )
            for index, body in enumerate(bodies)
        )
    )


def attempt_body(**overrides: Any) -> str:
    """A valid attempt message body; overrides replace or (with value ...) remove fields."""
    body: dict[str, Any] = {
        "attempt_uid": str(uuid.uuid4()),
        "user_id": "user_7",
        "exercise_id": 3,
        "is_correct": True,
        "user_answer": "la maison",
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    for key, value in overrides.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return json.dumps(body)


def schedule_event(schedule_input: str | None = None) -> dict[str, Any]:
    """What a schedule hands its function: the schedule's Input (a JSON text, as template.yaml gives the
    archival schedule) when it has one, else EventBridge's Scheduled Event."""
    if schedule_input is not None:
        parsed: dict[str, Any] = json.loads(schedule_input)
        return parsed
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/progress-archive"],
        "detail": {},
    }
