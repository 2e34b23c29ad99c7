"""Shared test helpers: recounts from the raw rows, to compare with what the aggregates say; fake AWS
credentials for moto and loopback stand-ins; invoking a handler and sending a real HTTP request."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, text

from progress_admin.local.runtime import FakeContext


def call(handler: Any, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """Invoke a handler; return status, headers (lower-cased names) and the decoded JSON body."""
    response = handler(event, FakeContext())
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    body = response.get("body")
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return response["statusCode"], headers, json.loads(body) if body else None


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


def aggregates_of(engine: Engine, user_id: int) -> dict[str, Any]:
    """What the aggregate tables and the profile say about one user."""
    with engine.connect() as conn:
        profile = (
            conn.execute(
                text(
                    "SELECT total_attempts, correct_attempts, practice_days, first_practice_date, last_practice_date,"
                    " current_streak, longest_streak, session_count, session_exercises_sum, timezone"
                    " FROM user_profiles WHERE user_id = :u"
                ),
                {"u": user_id},
            )
            .mappings()
            .one_or_none()
        )
        daily = conn.execute(
            text("SELECT day, attempts, correct FROM user_daily_stats WHERE user_id = :u ORDER BY day"),
            {"u": user_id},
        ).all()
        exercises = conn.execute(
            text(
                "SELECT exercise_id, attempts, correct, last_attempt_at FROM user_exercise_stats"
                " WHERE user_id = :u ORDER BY exercise_id"
            ),
            {"u": user_id},
        ).all()
        sessions = conn.execute(
            text("SELECT id, total_exercises, correct_answers FROM sessions WHERE user_id = :u ORDER BY id"),
            {"u": user_id},
        ).all()
    return {
        "profile": dict(profile) if profile else None,
        "daily": [tuple(r) for r in daily],
        "exercises": [tuple(r) for r in exercises],
        "sessions": [tuple(r) for r in sessions],
    }


def recount_from_rows(engine: Engine, user_id: int) -> dict[str, Any]:
    """The same figures, recounted from every live and archived attempt (the ground truth)."""
    # each attempt's practice day is the one fixed when it was written (local_day)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT exercise_id, is_correct, created_at, local_day, session_id"
                " FROM attempts WHERE user_id = :u UNION ALL"
                " SELECT exercise_id, is_correct, created_at, local_day, session_id"
                " FROM attempts_archive WHERE user_id = :u"
            ),
            {"u": user_id},
        ).all()
    days: dict[dt.date, list[int]] = {}
    exercises: dict[int, list[Any]] = {}
    sessions: dict[int, list[int]] = {}
    for exercise_id, is_correct, created_at, day, session_id in rows:
        d = days.setdefault(day, [0, 0])
        d[0] += 1
        d[1] += int(is_correct)
        e = exercises.setdefault(exercise_id, [0, 0, created_at])
        e[0] += 1
        e[1] += int(is_correct)
        e[2] = max(e[2], created_at)
        if session_id is not None:
            s = sessions.setdefault(session_id, [0, 0])
            s[0] += 1
            s[1] += int(is_correct)
    return {
        "total": len(rows),
        "correct": sum(int(r[1]) for r in rows),
        "daily": sorted((day, v[0], v[1]) for day, v in days.items()),
        "exercises": sorted((ex, v[0], v[1], v[2]) for ex, v in exercises.items()),
        "sessions": sorted((sid, v[0], v[1]) for sid, v in sessions.items()),
    }


def assert_aggregates_match_rows(engine: Engine, user_id: int) -> None:
    truth = recount_from_rows(engine, user_id)
    agg = aggregates_of(engine, user_id)
    profile = agg["profile"]
    if truth["total"] == 0:
        assert profile is None or profile["total_attempts"] == 0
        assert agg["daily"] == [] and agg["exercises"] == []
        return
    assert profile is not None
    assert (profile["total_attempts"], profile["correct_attempts"]) == (truth["total"], truth["correct"])
    assert agg["daily"] == truth["daily"]
    assert agg["exercises"] == truth["exercises"]
    assert agg["sessions"] == truth["sessions"]
    assert profile["practice_days"] == len(truth["daily"])
    assert profile["session_count"] == len(truth["sessions"])
    assert profile["session_exercises_sum"] == sum(s[1] for s in truth["sessions"])
    assert profile["first_practice_date"] == truth["daily"][0][0]
    assert profile["last_practice_date"] == truth["daily"][-1][0]


# What botocore needs to sign a request without looking for real credentials (no instance metadata).
FAKE_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def sam_translate(sam: dict[str, Any], layer_location: str = "s3://artifacts/layer.zip") -> dict[str, Any]:
    """A SAM template as SAM's translator turns it into CloudFormation, with the S3 locations `sam deploy`
    would upload in place of the code folders (every function's code at one location, the layer's at
    `layer_location`)."""
    import copy

    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(sam)
    for resource in sam["Resources"].values():
        properties = resource.get("Properties", {})
        if "CodeUri" in properties:
            properties["CodeUri"] = "s3://artifacts/code.zip"
        if "ContentUri" in properties:
            properties["ContentUri"] = layer_location

    def no_policy_names() -> dict[str, str]:
        raise AssertionError("a policy named by its name: SAM would look it up in the account")

    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="eu-west-1"))
    cloudformation: dict[str, Any] = translator.translate(
        sam, parameter_values={}, get_managed_policy_map=no_policy_names
    )
    return cloudformation
