"""The HTTP plumbing every API function shares, through a real handler and real API Gateway v2.0 events
(fast; found by `./dev mutate`): each malformed event is a 400 that says what is wrong (and is logged
with its reason), the body limit's 413, the 401s with their reasons and WWW-Authenticate, the 503 with
Retry-After, its metric and its log line carrying the caller."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from progress_common import db as common_db
from progress_common.http import MAX_BODY_BYTES
from progress_common.settings import get_settings
from tests.events import call, http_event
from tests.faults import silent_server

pytestmark = pytest.mark.usefixtures("engine")  # the functions' environment: a database configured


def _event(change: Callable[[dict[str, Any]], Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    event = http_event("GET", "/progress", claims={"sub": "7"}, **kwargs)
    if change is not None:
        change(event)
    return event


def _lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


MALFORMED: dict[str, tuple[Any, str]] = {
    "a list": ([], "the event is not an object"),
    "no requestContext": ({"rawPath": "/progress"}, "requestContext is missing or not an object"),
    "requestContext a string": (
        _event(lambda e: e.update(requestContext="x")),
        "requestContext is missing or not an object",
    ),
    "no http": (
        _event(lambda e: e["requestContext"].pop("http")),
        "requestContext.http.method is missing or not a string",
    ),
    "method a number": (
        _event(lambda e: e["requestContext"]["http"].update(method=1)),
        "requestContext.http.method is missing or not a string",
    ),
    "method empty": (
        _event(lambda e: e["requestContext"]["http"].update(method="")),
        "requestContext.http.method is missing or not a string",
    ),
    "rawPath missing": (_event(lambda e: e.pop("rawPath")), "rawPath is missing or not a path"),
    "rawPath relative": (_event(lambda e: e.update(rawPath="progress")), "rawPath is missing or not a path"),
    "headers a list": (
        _event(lambda e: e.update(headers=[["a", "b"]])),
        "headers is not an object of strings",
    ),
    "header value a number": (
        _event(lambda e: e["headers"].update(accept=1)),
        "headers is not an object of strings",
    ),
    "query value a number": (
        _event(lambda e: e.update(queryStringParameters={"limit": 5})),
        "queryStringParameters is not an object of strings",
    ),
    "pathParameters a list": (
        _event(lambda e: e.update(pathParameters=[])),
        "pathParameters is not an object of strings",
    ),
    "stageVariables with a number": (
        _event(lambda e: e.update(stageVariables={"stage": 1})),
        "stageVariables is not an object of strings",
    ),
    "cookies a string": (_event(lambda e: e.update(cookies="a=b")), "cookies is not a list of strings"),
    "cookies with a number": (
        _event(lambda e: e.update(cookies=["a=b", 1])),
        "cookies is not a list of strings",
    ),
    "rawQueryString a number": (_event(lambda e: e.update(rawQueryString=5)), "rawQueryString is not a str"),
    "body an object": (_event(lambda e: e.update(body={"a": 1})), "body is not a str"),
    "isBase64Encoded a string": (
        _event(lambda e: e.update(isBase64Encoded="yes")),
        "isBase64Encoded is not a bool",
    ),
    "authorizer a list": (
        _event(lambda e: e["requestContext"].update(authorizer=[])),
        "requestContext.authorizer is not an object",
    ),
    "jwt a string": (
        _event(lambda e: e["requestContext"]["authorizer"].update(jwt="x")),
        "requestContext.authorizer.jwt is not an object with claims",
    ),
    "claims a list": (
        _event(lambda e: e["requestContext"]["authorizer"]["jwt"].update(claims=["sub"])),
        "requestContext.authorizer.jwt is not an object with claims",
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_event_is_a_400_that_says_what_is_wrong_and_is_logged(
    load_function, captured_logs, name
) -> None:
    event, reason = MALFORMED[name]
    status, headers, body = call(load_function("get_progress").lambda_handler, copy.deepcopy(event))
    assert (status, headers["content-type"]) == (400, "application/json")
    assert body == {
        "error": {"code": "bad_request", "message": f"not an API Gateway HTTP API request: {reason}"}
    }
    (line,) = [line for line in _lines(captured_logs()) if line["level"] == "WARNING"]
    assert line["message"] == "rejected an event that is not an API Gateway HTTP API v2.0 request"
    assert line["reason"] == reason


# What API Gateway may leave out or send empty: none of it is malformed.
OPTIONAL_PARTS = {
    "no headers": lambda e: e.update(headers=None),
    "cookies": lambda e: e.update(cookies=["a=b", "c=d"]),
    "stage variables": lambda e: e.update(stageVariables={"stage": "prod"}),
    "path parameters": lambda e: e.update(pathParameters={}),
    "no body": lambda e: e.update(body=None, isBase64Encoded=None, rawQueryString=None),
}


@pytest.mark.parametrize("name", list(OPTIONAL_PARTS))
def test_optional_parts_of_an_event_may_be_missing(load_function, db, name) -> None:
    status, _, body = call(load_function("get_progress").lambda_handler, _event(OPTIONAL_PARTS[name]))
    assert status == 200, body


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e["requestContext"].pop("authorizer"),
        lambda e: e["requestContext"].update(authorizer=None),
        lambda e: e["requestContext"].update(authorizer={}),
        lambda e: e["requestContext"]["authorizer"].update(jwt=None),
        lambda e: e["requestContext"]["authorizer"]["jwt"].update(claims=None),
        lambda e: e["requestContext"]["authorizer"]["jwt"].update(claims={"email": "a@b.c"}),
    ],
)
def test_no_verified_identity_is_a_401_asking_for_a_bearer_token(load_function, change) -> None:
    status, headers, body = call(load_function("get_progress").lambda_handler, _event(change))
    assert (status, headers["www-authenticate"]) == (401, "Bearer")
    assert body == {"error": {"code": "unauthorized", "message": "the request carries no verified identity"}}


@pytest.mark.parametrize("sub", ["user_x", "-1", "", "9" * 30])
def test_an_identity_that_is_not_a_user_id_is_a_401_that_says_so(load_function, sub) -> None:
    status, headers, body = call(
        load_function("reset_progress").lambda_handler,
        http_event("POST", "/progress/reset", claims={"sub": sub}),
    )
    assert (status, headers["www-authenticate"]) == (401, "Bearer")
    assert body == {
        "error": {"code": "unauthorized", "message": "the identity in the token is not a valid user id"}
    }


def test_a_body_over_the_limit_is_a_413_that_names_the_limit(load_function) -> None:
    event = http_event("POST", "/progress/reset", claims={"sub": "7"}, body="x" * (MAX_BODY_BYTES + 1))
    status, headers, body = call(load_function("reset_progress").lambda_handler, event)
    assert (status, headers["content-type"]) == (413, "application/json")
    assert body == {
        "error": {"code": "payload_too_large", "message": f"request body exceeds {MAX_BODY_BYTES} bytes"}
    }


@pytest.fixture
def database_down(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The shared engine replaced by one whose server refuses connections; RETRY_AFTER_SECONDS=17."""
    with silent_server() as port:
        pass  # closed again: nothing listens there now
    monkeypatch.setenv("RETRY_AFTER_SECONDS", "17")
    monkeypatch.setenv("DATABASE_URL", f"postgresql://root@127.0.0.1:{port}/test")
    get_settings.cache_clear()
    common_db._engine = None  # the container builds its engine from these settings
    try:
        yield
    finally:
        common_db.dispose_engine()
        common_db._engine = engine
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_database_outage_is_a_503_with_retry_after_counted_and_logged_with_the_caller(
    load_function, database_down, captured_logs, capsys
) -> None:
    capsys.readouterr()
    status, headers, body = call(
        load_function("get_progress").lambda_handler,
        http_event("GET", "/progress", claims={"sub": "user_31"}),
    )
    assert (status, headers["retry-after"], headers["content-type"]) == (503, "17", "application/json")
    assert body == {
        "error": {
            "code": "database_unavailable",
            "message": "the service is temporarily unavailable, retry later",
        }
    }
    (line,) = [line for line in _lines(captured_logs()) if line["message"] == "database unavailable"]
    assert line["level"] == "WARNING" and line["user_id"] == 31 and line["error_type"] == "InterfaceError"
    emitted = [json.loads(out) for out in capsys.readouterr().out.splitlines() if out.startswith('{"_aws"')]
    (document,) = [d for d in emitted if "DatabaseUnavailable" in d]
    assert document["DatabaseUnavailable"] == [1.0] or document["DatabaseUnavailable"] == 1.0
    (definition,) = [
        m
        for directive in document["_aws"]["CloudWatchMetrics"]
        for m in directive["Metrics"]
        if m["Name"] == "DatabaseUnavailable"
    ]
    assert definition["Unit"] == "Count"


def test_the_error_summary_names_frames_of_generated_code_too() -> None:
    from progress_common.http import error_summary

    # dataclasses, pydantic and namedtuple run code compiled from strings: its file name has no folder
    try:
        exec(compile("def generated():\n    raise ValueError('secret 42')\ngenerated()", "<string>", "exec"))
    except ValueError as error:
        summary = error_summary(error)
    assert summary["stack"][-2:] == ["<string>:3 in <module>", "<string>:2 in generated"]
    assert summary["stack"][0].startswith("test_http_plumbing.py:")
    assert summary["error_types"] == ["builtins.ValueError"] and summary["sqlstate"] is None


def test_the_openapi_document_says_what_the_route_declarations_say() -> None:
    import importlib
    from pathlib import Path

    from progress_admin import openapi
    from progress_common import routes

    importlib.reload(routes)  # the declarations run at import: run them again, here
    document = json.loads(openapi.render())
    assert openapi.check(Path(__file__).resolve().parent.parent / "docs" / "openapi.json")
    for path, method, model in (
        ("/progress", "get", "ProgressResponse"),
        ("/progress/statistics", "get", "StatisticsResponse"),
        ("/progress/reset", "post", "ResetResponse"),
        ("/progress/live-ticket", "post", "LiveTicketResponse"),
    ):
        ok = document["paths"][path][method]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
        assert ok["description"]
