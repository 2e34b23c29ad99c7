"""Real API Gateway HTTP API v2.0 events and a fake Lambda context for handler tests."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from progress_admin.serve import FakeContext

# The fake context `progress-admin serve` hands the handlers; tests use the same one.
FakeLambdaContext = FakeContext


def http_event(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    claims: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    body: str | bytes | None = None,
    base64_body: bool = False,
    authorizer: bool = True,
) -> dict[str, Any]:
    """An event as API Gateway HTTP API (payload 2.0) with a JWT authorizer sends it."""
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {
            "accept": "application/json",
            "user-agent": "pytest",
            "x-forwarded-proto": "https",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api1234567",
            "domainName": "api1234567.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "api1234567",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "pytest",
            },
            "requestId": request_id,
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "25/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1795564800000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if authorizer:
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": claims if claims is not None else {}, "scopes": None}
        }
    if body is not None:
        raw = body.encode() if isinstance(body, str) else body
        if base64_body:
            event["body"] = base64.b64encode(raw).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = raw.decode()
    return event


def call(handler: Any, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """Invoke a handler; return status, headers (lower-cased names) and the decoded JSON body."""
    response = handler(event, FakeLambdaContext())
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    body = response.get("body")
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return response["statusCode"], headers, json.loads(body) if body else None


def sqs_record(body: str, *, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    """One record of a Lambda SQS event, as the event source mapping delivers it."""
    import hashlib

    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"AQEB{uuid.uuid4().hex}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1795564800000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795564800001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:progress-attempts",
        "awsRegion": "eu-west-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def attempt_body(**overrides: Any) -> str:
    """A valid attempt message body; overrides replace or (with value ...) remove fields."""
    import datetime as dt

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


def http_request(
    url: str,
    method: str = "GET",
    token: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A real HTTP request; returns status, headers (lower-cased names) and the raw body."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()
