"""The HTTP functions, driven with real API Gateway HTTP API v2.0 events against PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import Engine, text

from progress_admin.local.template import http_routes, load_template
from progress_common import db as common_db
from progress_common.settings import get_settings, load_settings
from tests.conftest import insert_attempts_sql
from tests.events import ERASE_SCOPE_CLAIM, call, http_event, sample_body, sample_path

ROOT = Path(__file__).resolve().parent.parent

UTC = dt.UTC
TEMPLATE = load_template(ROOT / "template.yaml")
# (function folder, method, path) of every HttpApi route in template.yaml: a new route is covered too
HTTP_ROUTES = [(r.code_dir.name, r.method, r.path) for r in http_routes(TEMPLATE)]
# Routes for the app's backend (their events require scopes): the caller is not a learner
BACKEND_ROUTES = {
    (event["Properties"]["Method"], event["Properties"]["Path"])
    for resource in TEMPLATE["Resources"].values()
    if resource.get("Type") == "AWS::Serverless::Function"
    for event in (resource["Properties"].get("Events") or {}).values()
    if event["Type"] == "HttpApi" and event["Properties"].get("Auth", {}).get("AuthorizationScopes")
}


@pytest.fixture
def api(load_function: Callable[[str], ModuleType], db: Engine) -> Callable[..., tuple[int, dict, Any]]:
    """api("GET", "/progress", user="user_7", query={...}) -> (status, headers, body)."""
    handlers = {(method, path): load_function(folder).lambda_handler for folder, method, path in HTTP_ROUTES}

    def invoke(method: str, path: str, *, user: Any = None, handler_path: str | None = None, **kwargs: Any):
        claims = kwargs.pop("claims", None)
        if claims is None:
            claims = {} if user is None else {"sub": user}
        handler = handlers[(method, handler_path or path)]
        return call(handler, http_event(method, path, claims=claims, **kwargs))

    return invoke


def attempts_for(user: int, *created: dt.datetime, exercise_id: int = 1, correct: bool = True) -> list[dict]:
    return [
        {
            "user_id": user,
            "exercise_id": exercise_id,
            "is_correct": correct,
            "created_at": c,
            "user_answer": "a",
        }
        for c in created
    ]


def test_empty_user_gets_zeros_and_defaults(api, new_user_id) -> None:
    user = new_user_id()
    status, _, body = api("GET", "/progress", user=f"user_{user}")
    assert status == 200
    assert body == {
        "user_id": user,
        "total_attempts": 0,
        "correct_attempts": 0,
        "accuracy": None,
        "current_streak": 0,
        "longest_streak": 0,
        "last_practice_date": None,
        "practiced_today": False,
        "streak_expires_at": None,
        "timezone": "UTC",
        "streak_status": None,  # no history
        "data_complete_through": None,  # no sweep has established the watermark yet
        "reminders_paused": [],  # no signal kind paused (docs/signals.md)
        "recent_attempts": [],
        "next_cursor": None,
        # keeping a streak: nothing held before the first attempt, the default goal, no week
        "current_streak_perfect": False,
        "freezes_held": 0,
        "freezes_max": body["freezes_max"],
        "next_freeze_in": body["freezes_max"] and body["next_freeze_in"],
        "rest_weekdays": [],
        "repair": None,
        "today": {
            "date": body["today"]["date"],
            "attempts": 0,
            "correct": 0,
            "goal": {
                "unit": "attempts",
                "target": body["today"]["goal"]["target"],
                "done": 0,
                "met": False,
                "met_at": None,
            },
        },
        "week": None,
        "weekly_streak": 0,
    }
    # "today" of a learner in UTC (read a moment ago)
    assert abs(dt.date.fromisoformat(body["today"]["date"]) - dt.datetime.now(UTC).date()) <= dt.timedelta(
        days=1
    )
    status, _, stats = api("GET", "/progress/statistics", user=str(user), query={"days": "7"})
    assert status == 200
    assert stats["accuracy"] is None and stats["total_attempts"] == 0 and stats["practice_days"] == 0
    assert stats["first_practice_date"] is None and stats["last_practice_date"] is None
    assert stats["sessions"] == {"total": 0, "average_exercises": None, "average_accuracy": None}
    assert stats["by_exercise"] == []
    assert stats["practiced_today"] is False and stats["streak_expires_at"] is None
    assert len(stats["daily"]) == 7
    assert all(d["attempts"] == 0 and d["correct"] == 0 and d["covered"] is False for d in stats["daily"])


def test_legacy_sql_insert_shows_at_once_and_spellings_reach_the_same_user(api, db, new_user_id) -> None:
    user = new_user_id()
    now = dt.datetime.now(UTC)
    insert_attempts_sql(db, attempts_for(user, now - dt.timedelta(seconds=2), now - dt.timedelta(seconds=1)))
    bodies = [api("GET", "/progress", user=spelling)[2] for spelling in (f"user_{user}", str(user), user)]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["total_attempts"] == 2 and bodies[0]["current_streak"] == 1
    insert_attempts_sql(db, attempts_for(user, now, correct=False))
    body = api("GET", "/progress", user=user)[2]
    assert body["total_attempts"] == 3 and body["correct_attempts"] == 2
    assert body["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert body["recent_attempts"][0]["is_correct"] is False
    stats = api("GET", "/progress/statistics", user=user)[2]
    assert stats["total_attempts"] == 3 and stats["daily"][-1]["attempts"] >= 1


def test_one_user_never_sees_or_resets_another(api, db, new_user_id) -> None:
    alice, bob = new_user_id(), new_user_id()
    now = dt.datetime.now(UTC)
    insert_attempts_sql(db, attempts_for(alice, now) + attempts_for(bob, now, now, exercise_id=9))
    # identity comes from the verified claims only: query strings and bodies naming another user are ignored
    status, _, body = api("GET", "/progress", user=alice, query={"user_id": str(bob)})
    assert status == 200 and body["user_id"] == alice and body["total_attempts"] == 1
    body = api("GET", "/progress", user=alice)[2]
    assert body["user_id"] == alice and body["total_attempts"] == 1
    assert all(a["exercise_id"] == 1 for a in body["recent_attempts"])
    status, _, reset = api(
        "POST",
        "/progress/reset",
        user=alice,
        body=f'{{"user_id": {bob}}}',
        headers={"Content-Type": "application/json"},
    )
    assert status == 200
    assert reset == {
        "user_id": alice,
        "deleted": {
            "attempts": 1,
            "archived_attempts": 0,
            "sessions": 0,
            "exports": 0,
            "live_connections": 0,
        },
        "profile_reset": True,
    }
    assert api("GET", "/progress", user=bob)[2]["total_attempts"] == 2
    assert api("GET", "/progress", user=alice)[2]["total_attempts"] == 0


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"sub": ""},
        {"sub": "7abc"},
        {"sub": "user_"},
        {"sub": "-3"},
        {"sub": 7.5},
        {"sub": None},
        {"email": "a@b.c"},
        {"sub": str(2**80)},
    ],
)
def test_missing_or_bad_identity_is_401_on_every_route(api, claims) -> None:
    # their scopes: tests/test_erasure.py, tests/test_streak_api.py
    assert {("DELETE", "/progress/users/{user_id}"), ("POST", "/progress/freezes")} == BACKEND_ROUTES
    for _, method, path in HTTP_ROUTES:
        if (method, path) in BACKEND_ROUTES:
            continue
        status, headers, body = api(
            method, sample_path(path), claims=claims, handler_path=path, body=sample_body(method, path)
        )
        assert status == 401, (method, path, claims)
        assert body["error"]["code"] == "unauthorized"
        assert headers["content-type"] == "application/json"


def test_no_authorizer_at_all_is_401(load_function, db) -> None:
    handler = load_function("get_progress").lambda_handler
    status, _, body = call(handler, http_event("GET", "/progress", authorizer=False))
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_missing_request_context_is_a_clean_400(load_function, db) -> None:
    handler = load_function("get_progress").lambda_handler
    event = http_event("GET", "/progress", claims={"sub": "7"})
    del event["requestContext"]
    status, _, body = call(handler, event)
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, _, body = call(handler, {"hello": "world"})
    assert status == 400


def _broken(change: Callable[[dict], Any]) -> dict:
    event = http_event("GET", "/progress", claims={"sub": "7"})
    change(event)
    return event


MALFORMED_EVENTS = {
    "requestContext missing": _broken(lambda e: e.pop("requestContext")),
    "requestContext a string": _broken(lambda e: e.update(requestContext="x")),
    "requestContext a list": _broken(lambda e: e.update(requestContext=[1])),
    "requestContext null": _broken(lambda e: e.update(requestContext=None)),
    "http a string": _broken(lambda e: e["requestContext"].update(http="GET")),
    "method a number": _broken(lambda e: e["requestContext"]["http"].update(method=1)),
    "authorizer a string": _broken(lambda e: e["requestContext"].update(authorizer="jwt")),
    "authorizer a list": _broken(lambda e: e["requestContext"].update(authorizer=[])),
    "jwt a string": _broken(lambda e: e["requestContext"]["authorizer"].update(jwt="x")),
    "jwt a list": _broken(lambda e: e["requestContext"]["authorizer"].update(jwt=[1])),
    "claims a list": _broken(lambda e: e["requestContext"]["authorizer"]["jwt"].update(claims=["sub"])),
    "headers a list": _broken(lambda e: e.update(headers=[["accept", "x"]])),
    "headers a string": _broken(lambda e: e.update(headers="accept: x")),
    "header value a number": _broken(lambda e: e["headers"].update(accept=1)),
    "query value a number": _broken(lambda e: e.update(queryStringParameters={"limit": 5})),
    "query value a list": _broken(lambda e: e.update(queryStringParameters={"limit": ["5"]})),
    "query value null": _broken(lambda e: e.update(queryStringParameters={"cursor": None})),
    "query a list": _broken(lambda e: e.update(queryStringParameters=["limit=5"])),
    "rawPath null": _broken(lambda e: e.update(rawPath=None)),
    "rawPath a number": _broken(lambda e: e.update(rawPath=7)),
    "rawPath missing": _broken(lambda e: e.pop("rawPath")),
    "rawQueryString a number": _broken(lambda e: e.update(rawQueryString=5)),
    "cookies a string": _broken(lambda e: e.update(cookies="a=b")),
    "body a number": _broken(lambda e: e.update(body=5)),
    "body an object": _broken(lambda e: e.update(body={"a": 1})),
    "isBase64Encoded a string": _broken(lambda e: e.update(isBase64Encoded="yes")),
    "pathParameters a list": _broken(lambda e: e.update(pathParameters=[])),
    "event a list": [],
    "event a string": "GET /progress",
    "event null": None,
}


@pytest.mark.parametrize("name", list(MALFORMED_EVENTS))
def test_malformed_events_are_a_clean_400_never_an_exception(load_function, db, name) -> None:
    import copy

    for function, _, _ in HTTP_ROUTES:
        handler = load_function(function).lambda_handler
        status, headers, body = call(handler, copy.deepcopy(MALFORMED_EVENTS[name]))
        assert status == 400, (function, body)
        assert headers["content-type"] == "application/json"
        assert body["error"]["code"] == "bad_request"
        assert body["error"]["message"].startswith("not an API Gateway HTTP API request: "), body


def test_user_id_claim_is_configurable(api, db, new_user_id, monkeypatch) -> None:
    user = new_user_id()
    insert_attempts_sql(db, attempts_for(user, dt.datetime.now(UTC)))
    monkeypatch.setenv("USER_ID_CLAIM", "custom:learner_id")
    get_settings.cache_clear()
    try:
        status, _, body = api("GET", "/progress", claims={"sub": "999", "custom:learner_id": f"user_{user}"})
        assert status == 200 and body["user_id"] == user and body["total_attempts"] == 1
        assert api("GET", "/progress", claims={"sub": str(user)})[0] == 401
    finally:
        monkeypatch.delenv("USER_ID_CLAIM")
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/progress", {"limit": "0"}, "limit"),
        ("/progress", {"limit": "101"}, "limit"),
        ("/progress", {"limit": "ten"}, "limit"),
        ("/progress/statistics", {"days": "0"}, "days"),
        ("/progress/statistics", {"days": "367"}, "days"),
        ("/progress/statistics", {"days": "1.5"}, "days"),
    ],
)
def test_bad_query_values_are_422_with_details(api, path, query, field) -> None:
    status, _, body = api("GET", path, user="7", query=query)
    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["details"][0]["loc"] == ["query", field]


# Integer query parameters are plain ASCII digits (DESIGN, HTTP API): pydantic's lax int would take a
# sign, spaces, a zero fraction or digit separators, so one value had many spellings.
NOT_PLAIN_DIGITS = ["+5", "-5", "1.0", "5.", " 5", "5 ", "5_0", "1e1", "0x10", "\u0665", "\uff15", "", "5,6"]
# every integer query parameter the OpenAPI document declares, so a new one is held to the rule too
INTEGER_QUERY_PARAMETERS = [
    (method.upper(), path, parameter["name"], parameter["schema"])
    for path, operations in json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"].items()
    for method, operation in operations.items()
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "query" and parameter["schema"].get("type") == "integer"
]


def test_the_integer_query_parameters_are_known() -> None:
    assert {(path, name) for _, path, name, _ in INTEGER_QUERY_PARAMETERS} == {
        ("/progress", "limit"),
        ("/progress/statistics", "days"),
    }


@pytest.mark.parametrize(("method", "path", "name", "schema"), INTEGER_QUERY_PARAMETERS)
def test_integer_query_values_must_be_plain_ascii_digits_within_bounds(api, db, method, path, name, schema):
    low, high = int(schema["minimum"]), int(schema["maximum"])
    for value in [*NOT_PLAIN_DIGITS, str(low - 1), str(high + 1), "9" * 5000]:
        status, _, body = api(method, path, user="7", query={name: value})
        assert status == 422, (value, body)
        assert body["error"]["code"] == "validation_error"
        assert [d["loc"] for d in body["error"]["details"]] == [["query", name]]
        if value in NOT_PLAIN_DIGITS:  # what the client reads, of the same type as pydantic's "ten"
            assert body["error"]["details"][0] | {"loc": None} == {
                "loc": None,
                "type": "int_parsing",
                "message": "Input should be an integer written with the digits 0-9 only",
            }
    for value in (str(low), f"0{low}", str(high)):
        assert api(method, path, user="7", query={name: value})[0] == 200, value


def test_integer_query_values_are_taken_up_to_both_bounds(api, db, new_user_id) -> None:
    user = new_user_id()
    now = dt.datetime.now(UTC)
    insert_attempts_sql(db, attempts_for(user, *(now - dt.timedelta(minutes=m) for m in range(101))))
    for limit, shown in (("1", 1), ("0100", 100), ("100", 100)):
        status, _, body = api("GET", "/progress", user=str(user), query={"limit": limit})
        assert status == 200 and len(body["recent_attempts"]) == shown, limit
    for days, shown in (("1", 1), ("366", 366)):
        status, _, body = api("GET", "/progress/statistics", user=str(user), query={"days": days})
        assert status == 200 and len(body["daily"]) == shown, days


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "eyJ0IjoxfQ",
        base64.urlsafe_b64encode(b'{"t":"x","i":1}').decode(),
        base64.urlsafe_b64encode(b'{"t":"2026-01-01T00:00:00","i":1}').decode(),
    ],
)
def test_bad_cursor_is_400(api, cursor) -> None:
    status, _, body = api("GET", "/progress", user="7", query={"cursor": cursor})
    assert status == 400 and body["error"]["code"] == "invalid_cursor"


def forged(data: str) -> str:
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        forged('{"t":"2026-01-01T00:00:00+00:00","i":' + str(2**63) + "}"),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":-1}'),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":1.0}'),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":true}'),
        forged('{"t":"2026-W01-1T00:00:00+00:00","i":1}'),
        forged('{"t":"2026-01-01T00:00:00,5+00:00","i":1}'),
        forged('{"t":"2026-01-01T00:00:00+00:00:30","i":1}'),
        forged('{"t":"2026-01-01T00:00:00+00:00\\u0000","i":1}'),
        forged('{"t":"2026-01-01T00:00:00+00:00\\n","i":1}'),
        forged('{"t":"0001-01-01T00:00:00+05:00","i":1}'),
        forged('{"t":"20260101T000000+0000","i":1}'),
        forged('{"t":"2026-02-30T00:00:00+00:00","i":1}'),
        forged('{"t":"\uff12\uff10\uff12\uff16-01-01T00:00:00+00:00","i":1}'),  # fullwidth digits
        forged('{"t":"\\uff12\\uff10\\uff12\\uff16-01-01T00:00:00+00:00","i":1}'),
        forged('{"i":1,"t":"2026-01-01T00:00:00+00:00"}'),
        forged('{"t": "2026-01-01T00:00:00+00:00", "i": 1}'),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":1,"u":7}'),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":1}') + "==",
        "!" + forged('{"t":"2026-01-01T00:00:00+00:00","i":1}'),
    ],
)
def test_forged_cursors_are_400_before_any_sql(api, db, cursor) -> None:
    status, _, body = api("GET", "/progress", user="7", query={"cursor": cursor})
    assert status == 400 and body["error"]["code"] == "invalid_cursor", body


def test_a_cursor_in_the_issued_form_is_accepted(api, db, new_user_id) -> None:
    user = new_user_id()
    insert_attempts_sql(db, attempts_for(user, dt.datetime(2026, 1, 1, 12, 30, 0, 500000, tzinfo=UTC)))
    # the form PostgreSQL writes (fraction trimmed) and the largest id, through the real read function
    for cursor in (
        forged('{"t":"2026-01-02T00:00:00.5+00:00","i":9223372036854775807}'),
        forged('{"t":"2026-01-02T00:00:00+00:00","i":0}'),
    ):
        status, _, body = api("GET", "/progress", user=user, query={"cursor": cursor})
        assert status == 200 and [a["exercise_id"] for a in body["recent_attempts"]] == [1], body


def test_unknown_route_is_a_json_404(load_function, db) -> None:
    handler = load_function("get_progress").lambda_handler
    status, _, body = call(handler, http_event("GET", "/progress/elsewhere", claims={"sub": "7"}))
    assert status == 404 and body["error"]["code"] == "not_found"


def test_reset_accepts_base64_bodies_and_odd_header_case_and_refuses_huge_ones(api, db, new_user_id) -> None:
    user = new_user_id()
    insert_attempts_sql(db, attempts_for(user, dt.datetime.now(UTC)))
    status, _, body = api(
        "POST",
        "/progress/reset",
        user=user,
        body="{}",
        base64_body=True,
        headers={"CoNtEnT-TyPe": "application/json", "AUTHORIZATION": "Bearer x"},
    )
    assert status == 200 and body["deleted"]["attempts"] == 1
    status, _, body = api("POST", "/progress/reset", user=user, body="x" * 100_000)
    assert status == 413 and body["error"]["code"] == "payload_too_large"


def test_the_body_limit_is_exact_for_plain_and_base64_bodies(api, db, new_user_id, load_function) -> None:
    from progress_common.http import MAX_BODY_BYTES

    def load_reset():
        return load_function("reset_progress").lambda_handler

    user = new_user_id()
    for size, expected in ((MAX_BODY_BYTES - 1, 200), (MAX_BODY_BYTES, 200), (MAX_BODY_BYTES + 1, 413)):
        for encoded in (False, True):
            status, _, body = api("POST", "/progress/reset", user=user, body="x" * size, base64_body=encoded)
            assert status == expected, (size, encoded, body)
    # base64 without its padding (4 characters carry 3 bytes, the last group fewer)
    import base64 as b64

    for size, expected in ((MAX_BODY_BYTES, 200), (MAX_BODY_BYTES + 1, 413)):
        event = http_event("POST", "/progress/reset", claims={"sub": str(user)})
        event["body"], event["isBase64Encoded"] = b64.b64encode(b"x" * size).decode().rstrip("="), True
        assert call(load_reset(), event)[0] == expected, size
    # characters are not bytes: 8 193 two-byte characters are 16 386 bytes
    assert api("POST", "/progress/reset", user=user, body="é" * (MAX_BODY_BYTES // 2 + 1))[0] == 413


def test_pagination_walks_every_attempt_once_and_is_stable_under_inserts(api, db, new_user_id) -> None:
    user = new_user_id()
    base = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    # 45 attempts, some sharing a timestamp, so the id breaks ties
    created = [base + dt.timedelta(seconds=i // 3) for i in range(45)]
    insert_attempts_sql(db, attempts_for(user, *created))
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "20"} | ({"cursor": cursor} if cursor else {})
        status, _, body = api("GET", "/progress", user=user, query=query)
        assert status == 200
        seen += [a["id"] for a in body["recent_attempts"]]
        pages += 1
        if pages == 1:
            # a new attempt arriving between pages must not shift the next page
            insert_attempts_sql(db, attempts_for(user, dt.datetime.now(UTC)))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 45 == len(set(seen))
    with db.connect() as conn:
        expected = (
            conn.execute(
                text(
                    "SELECT id FROM attempts WHERE user_id = :u AND created_at <= :t ORDER BY created_at DESC, id DESC"
                ),
                {"u": user, "t": created[-1]},
            )
            .scalars()
            .all()
        )
    assert seen == expected


def test_statistics_figures(api, db, new_user_id) -> None:
    user = new_user_id()
    now = dt.datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    rows = []
    for exercise_id, (n, correct) in {1: (5, 4), 2: (3, 0), 3: (7, 7)}.items():
        for i in range(n):
            rows.append(
                {
                    "user_id": user,
                    "exercise_id": exercise_id,
                    "is_correct": i < correct,
                    "created_at": now - dt.timedelta(days=i),
                    "session_id": None,
                }
            )
    insert_attempts_sql(db, rows)
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at, session_id) VALUES"
                " (:u, 4, true, :t, 777001), (:u, 4, false, :t, 777001), (:u, 4, true, :t, 777002)"
            ),
            {"u": user, "t": now - dt.timedelta(days=40)},
        )
    status, _, stats = api("GET", "/progress/statistics", user=user, query={"days": "10"})
    assert status == 200
    assert stats["total_attempts"] == 18 and stats["correct_attempts"] == 13
    assert stats["accuracy"] == pytest.approx(13 / 18, abs=1e-6)
    assert [e["exercise_id"] for e in stats["by_exercise"]] == [3, 1, 2, 4]
    by_id = {e["exercise_id"]: e for e in stats["by_exercise"]}
    assert by_id[1]["attempts"] == 5 and by_id[1]["correct"] == 4 and by_id[1]["accuracy"] == 0.8
    assert by_id[2]["accuracy"] == 0.0
    assert dt.datetime.fromisoformat(by_id[3]["last_attempt_at"]) == now
    assert stats["practice_days"] == 8  # today .. today-6, and the day 40 days ago
    assert stats["first_practice_date"] == (today - dt.timedelta(days=40)).isoformat()
    assert stats["last_practice_date"] == today.isoformat()
    assert stats["current_streak"] == 7 and stats["longest_streak"] == 7
    assert stats["sessions"] == {"total": 2, "average_exercises": 1.5, "average_accuracy": 0.75}
    assert [d["date"] for d in stats["daily"]] == [
        (today - dt.timedelta(days=9 - i)).isoformat() for i in range(10)
    ]
    assert stats["daily"][-1] == {
        "date": today.isoformat(),
        "attempts": 3,
        "correct": 2,
        "covered": False,
        "kind": "practice",
        "goal_met": False,
    }
    assert stats["daily"][0]["attempts"] == 0  # zero days filled
    assert sum(d["attempts"] for d in stats["daily"]) == 15


def test_by_exercise_is_capped_at_100(api, db, new_user_id) -> None:
    user = new_user_id()
    now = dt.datetime.now(UTC)
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " SELECT :u, e, true, :t FROM generate_series(1, 130) e"
            ),
            {"u": user, "t": now},
        )
    stats = api("GET", "/progress/statistics", user=user)[2]
    assert len(stats["by_exercise"]) == 100


def test_reset_removes_everything_of_the_user_atomically_and_twice_gives_zeros(api, db, new_user_id) -> None:
    user, other = new_user_id(), new_user_id()
    now = dt.datetime.now(UTC)
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at, session_id) VALUES"
                " (:u, 1, true, :t, 880001), (:u, 2, true, :t, 880001), (:o, 1, true, :t, 880002)"
            ),
            {"u": user, "o": other, "t": now},
        )
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at) VALUES (:u, 3, true, :old)"
            ),
            {"u": user, "old": now - dt.timedelta(days=800)},
        )
        conn.execute(
            text("SELECT progress_archive_batch_v1(:cut, 100)"), {"cut": now - dt.timedelta(days=365)}
        )
    before_other = api("GET", "/progress/statistics", user=other)[2]
    status, _, body = api("POST", "/progress/reset", user=user)
    assert status == 200
    assert body["deleted"] == {
        "attempts": 2,
        "archived_attempts": 1,
        "sessions": 1,
        "exports": 0,
        "live_connections": 0,
    }
    status, _, body = api("POST", "/progress/reset", user=user)
    assert body["deleted"] == {
        "attempts": 0,
        "archived_attempts": 0,
        "sessions": 0,
        "exports": 0,
        "live_connections": 0,
    }
    after = api("GET", "/progress/statistics", user=user)[2]
    assert after["total_attempts"] == 0 and after["longest_streak"] == 0 and after["by_exercise"] == []
    assert after["sessions"]["total"] == 0 and after["practice_days"] == 0
    with db.connect() as conn:
        for table in ("attempts", "attempts_archive", "sessions", "user_daily_stats", "user_exercise_stats"):
            assert (
                conn.execute(text(f"SELECT count(*) FROM {table} WHERE user_id = :u"), {"u": user}).scalar()
                == 0
            )
    assert api("GET", "/progress/statistics", user=other)[2] == before_other


@pytest.mark.parametrize("history", [10, 400])
def test_each_endpoint_costs_one_statement_whatever_the_history(
    api, db, count_sql, new_user_id, history
) -> None:
    user = new_user_id()
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at, session_id)"
                " SELECT :u, mod(i, 37), mod(i, 3) = 0, now() - make_interval(hours => i), 990000 + i / 10"
                " FROM generate_series(1, :n) i"
            ),
            {"u": user, "n": history},
        )
    for method, path, query in (
        ("GET", "/progress", {"limit": "50"}),
        ("GET", "/progress/statistics", {"days": "366"}),
        ("POST", "/progress/reset", None),
    ):
        count_sql.reset()
        status, _, _ = api(method, path, user=user, query=query)
        assert status == 200
        assert count_sql.count == 1, (path, count_sql.statements)


def test_database_down_gives_503_with_retry_after_and_recovers(api, db, new_user_id) -> None:
    user = new_user_id()
    working = common_db.get_engine()
    dead = common_db.make_engine(load_settings({"DATABASE_URL": "postgresql://root@127.0.0.1:1/none"}))
    common_db._engine = dead
    try:
        for _, method, path in HTTP_ROUTES:
            # the erasure scope as well: learners' routes ignore it, the backend's needs it
            claims = {"sub": str(user), **ERASE_SCOPE_CLAIM}
            status, headers, body = api(
                method, sample_path(path), claims=claims, handler_path=path, body=sample_body(method, path)
            )
            assert status == 503, path
            assert headers["retry-after"] == str(get_settings().retry_after_seconds)
            assert body == {
                "error": {
                    "code": "database_unavailable",
                    "message": "the service is temporarily unavailable, retry later",
                }
            }
    finally:
        dead.dispose()
        common_db._engine = working
    assert api("GET", "/progress", user=user)[0] == 200


def test_log_keys_of_one_request_never_leak_into_the_next(api, new_user_id) -> None:
    from progress_common.observability import logger

    assert api("GET", "/progress", user=new_user_id())[0] == 200
    assert "user_id" in logger.get_current_keys()
    assert api("GET", "/progress", claims={})[0] == 401
    assert "user_id" not in logger.get_current_keys()


def test_a_page_that_is_exactly_full_is_the_last_one(api, db, new_user_id) -> None:
    user = new_user_id()
    base = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    insert_attempts_sql(db, attempts_for(user, *(base + dt.timedelta(seconds=i) for i in range(6))))
    status, _, body = api("GET", "/progress", user=user, query={"limit": "6"})
    assert status == 200 and len(body["recent_attempts"]) == 6 and body["next_cursor"] is None
    # one fewer per page: a cursor, then a last page of one and no cursor (never an empty page)
    body = api("GET", "/progress", user=user, query={"limit": "5"})[2]
    assert len(body["recent_attempts"]) == 5 and body["next_cursor"]
    last = api("GET", "/progress", user=user, query={"limit": "5", "cursor": body["next_cursor"]})[2]
    assert [a["created_at"] for a in last["recent_attempts"]] == [base.isoformat()]
    assert last["next_cursor"] is None

    # every page carries the same totals and streak figures as the first
    def summary(page: dict) -> dict:
        return {k: v for k, v in page.items() if k not in ("recent_attempts", "next_cursor")}

    assert summary(last) == summary(body) and body["total_attempts"] == 6 and body["current_streak"] == 1


def test_the_layer_functions_default_to_the_apis_page_size_and_series_length(api, db, new_user_id) -> None:
    # Called without a page size or series length, the layer's read functions answer what the routes
    # answer without query parameters (DESIGN: 20 attempts, 30 days); both define the default.
    from progress_common.queries import get_progress, get_statistics

    user = new_user_id()
    base = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    insert_attempts_sql(db, attempts_for(user, *(base + dt.timedelta(seconds=i) for i in range(25))))
    page = api("GET", "/progress", user=user)[2]
    assert len(page["recent_attempts"]) == 20 and page["next_cursor"]
    assert get_progress(user).model_dump(mode="json") == page
    stats = api("GET", "/progress/statistics", user=user)[2]
    assert len(stats["daily"]) == 30
    assert get_statistics(user).model_dump(mode="json") == stats


def test_ratios_are_rounded_to_six_decimals(api, db, new_user_id) -> None:
    # 7 attempts in three sessions: exercise 1 is 1 of 3 right (session A), exercise 2 is 2 of 3 right
    # (session C), exercise 3 is 1 of 1 right (session B)
    user = new_user_id()
    now = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    rows = [
        (1, True, 771001),
        (1, False, 771001),
        (1, False, 771001),
        (3, True, 771002),
        (2, True, 771003),
        (2, True, 771003),
        (2, False, 771003),
    ]
    with db.connect() as conn:
        for exercise_id, correct, session_id in rows:
            conn.execute(
                text(
                    "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at, session_id)"
                    " VALUES (:u, :e, :c, :t, :s)"
                ),
                {"u": user, "e": exercise_id, "c": correct, "t": now, "s": session_id},
            )
    progress = api("GET", "/progress", user=user)[2]
    stats = api("GET", "/progress/statistics", user=user)[2]
    assert progress["accuracy"] == stats["accuracy"] == 0.571429  # 4 / 7
    assert {e["exercise_id"]: e["accuracy"] for e in stats["by_exercise"]} == {
        1: 0.333333,
        2: 0.666667,
        3: 1.0,
    }
    # per session: 1/3, 1, 2/3 right; 3, 1 and 3 exercises
    assert stats["sessions"] == {"total": 3, "average_exercises": 2.333333, "average_accuracy": 0.666667}


def test_a_page_reads_one_page_from_the_database_whatever_the_history(
    api, db, new_user_id, monkeypatch
) -> None:
    # The cost of GET /progress does not grow with the history: the database returns the page and one
    # more attempt (to know whether a next page exists), never the rest.
    from progress_common import queries

    documents: list[dict] = []
    real_run = queries.run_idempotent

    def recording_run(sql: str, **kwargs: Any) -> Any:
        rows = real_run(sql, **kwargs)
        documents.append(json.loads(rows[0][0]))
        return rows

    monkeypatch.setattr(queries, "run_idempotent", recording_run)
    user = new_user_id()
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " SELECT :u, 1, true, now() - make_interval(mins => i) FROM generate_series(1, 300) i"
            ),
            {"u": user},
        )
    first = api("GET", "/progress", user=user, query={"limit": "5"})[2]
    second = api("GET", "/progress", user=user, query={"limit": "5", "cursor": first["next_cursor"]})[2]
    assert len(first["recent_attempts"]) == len(second["recent_attempts"]) == 5
    assert [len(d["recent"]) for d in documents] == [6, 6]
