"""No log line holds a parameter, an answer or a token: hostile requests, with the logs captured."""

from __future__ import annotations

import json
import re

import pytest

from progress_common import queries
from progress_common.models import ProgressResponse
from tests.events import FakeLambdaContext, attempt_body, call, http_event, sqs_event, sqs_record

SECRET = "S3CRET-value-4f2a"
TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiI3In0.SECRETSIGNATURE"


def _lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


def test_a_500_from_postgresql_quoting_the_input_logs_no_value(
    load_function, db, captured_logs, monkeypatch
) -> None:
    # a request value that reached SQL as a literal PostgreSQL refuses (as a week-date cursor once did):
    # its error quotes it ("invalid input syntax for type timestamp with time zone: ...")
    monkeypatch.setattr(
        queries,
        "_progress_sql",
        lambda *args: f"SELECT CAST('2026-W01-1T00:00:00+00:00 {SECRET}' AS timestamptz)::text",
    )
    status, _, body = call(
        load_function("get_progress").lambda_handler,
        http_event(
            "GET",
            "/progress",
            claims={"sub": "7"},
            query={"cursor": "x" + SECRET},
            headers={"authorization": f"Bearer {TOKEN}"},
        ),
    )
    assert status == 500 and body == {"error": {"code": "internal_error", "message": "internal error"}}
    logged = captured_logs()
    assert SECRET not in logged and TOKEN not in logged and "2026-W01" not in logged
    (error,) = [line for line in _lines(logged) if line["message"] == "unhandled error"]
    assert error["sqlstate"] == "22007"
    assert error["error_types"][0].startswith("sqlalchemy.exc.")
    assert error["stack"] and all(re.fullmatch(r"[\w.]+:\d+ in \w+", frame) for frame in error["stack"])
    assert "exception" not in error  # no formatted traceback: its last line is the message


def test_a_500_from_pydantic_logs_no_input_value(load_function, db, captured_logs, monkeypatch) -> None:
    def broken(user_id: int, **kwargs: object) -> ProgressResponse:
        return ProgressResponse.model_validate({"user_id": SECRET, "timezone": TOKEN})

    monkeypatch.setattr("progress_common.routes.get_progress", broken)
    status, _, _ = call(
        load_function("get_progress").lambda_handler, http_event("GET", "/progress", claims={"sub": "7"})
    )
    assert status == 500
    logged = captured_logs()
    assert SECRET not in logged and TOKEN not in logged and "input_value" not in logged
    assert "pydantic_core._pydantic_core.ValidationError" in logged


@pytest.mark.parametrize("claims", [{"sub": f"user_{SECRET}"}, {"sub": TOKEN}, {"email": SECRET}])
def test_refused_identities_and_tokens_are_not_logged(load_function, db, captured_logs, claims) -> None:
    status, _, _ = call(
        load_function("get_progress").lambda_handler,
        http_event("GET", "/progress", claims=claims, headers={"authorization": f"Bearer {TOKEN}"}),
    )
    assert status == 401
    logged = captured_logs()
    assert SECRET not in logged and TOKEN not in logged


def test_rejected_and_failed_messages_log_reasons_not_values(load_function, db, captured_logs) -> None:
    handler = load_function("record_attempts").lambda_handler
    bodies = [
        attempt_body(user_id=7, user_answer=SECRET, exercise_id=SECRET),
        attempt_body(user_id=7, user_answer=SECRET, created_at=f"{SECRET}"),
        attempt_body(user_id=f"user_{SECRET}", user_answer=SECRET),
        attempt_body(user_id=7, user_answer=SECRET, timezone=f"Mars/{SECRET}"),
        "{" + f'"user_answer": "{SECRET}"',
    ]
    result = handler(
        sqs_event(*(sqs_record(b, message_id=f"m{i}") for i, b in enumerate(bodies))), FakeLambdaContext()
    )
    assert len(result["batchItemFailures"]) == len(bodies)
    logged = captured_logs()
    assert SECRET not in logged
    rejected = [line for line in _lines(logged) if line["message"] == "rejected an attempt message"]
    assert len(rejected) == len(bodies) and all(line["problems"] for line in rejected)
