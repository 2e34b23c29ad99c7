"""Keeping a streak, the HTTP side: GET/PUT /progress/settings, POST /progress/freezes (the app's backend) and
POST /progress/streak/repair, through their handlers with API Gateway HTTP API v2.0 events, on the real
database. The rules themselves (walk, freezes, repair offer) are tests/test_streaks*.py's; here: what the
routes take, answer and store. "Now" is the layer's clock (set_now); attempts are dated before it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from tests.conftest import insert_attempts_sql
from tests.events import call, http_event

TODAY = dt.date(2026, 6, 15)  # a Monday
GRANT_SCOPE = "progress/grant"


def at(day: dt.date, tz: str, time: dt.time = dt.time(12, 0)) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=ZoneInfo(tz))


def set_timezone(engine: Engine, user: int, tz: str) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT progress_set_timezone_v1(:u, :tz)"), {"u": user, "tz": tz})


def practise(engine: Engine, user: int, *days: dt.date, count: int = 1, tz: str = "UTC") -> None:
    insert_attempts_sql(
        engine,
        [
            {
                "user_id": user,
                "exercise_id": 1,
                "is_correct": True,
                "created_at": at(day, tz, dt.time(9, 0, i)),
            }
            for day in days
            for i in range(count)
        ],
    )


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


@pytest.fixture
def api(load_function, db) -> Callable[..., tuple[int, dict[str, str], Any]]:
    """api(method, path, user, body=..., claims=..., scopes=...) -> (status, headers, body), through the
    route's own function."""
    folders = {
        ("GET", "/progress/settings"): "settings",
        ("PUT", "/progress/settings"): "settings",
        ("POST", "/progress/freezes"): "grant_freezes",
        ("POST", "/progress/streak/repair"): "repair_streak",
        ("GET", "/progress"): "get_progress",
    }

    def invoke(method: str, path: str, user: int | str, body: Any = None, **kwargs: Any):
        claims = kwargs.pop("claims", {"sub": str(user)})
        text_body = body if body is None or isinstance(body, str) else json.dumps(body)
        event = http_event(method, path, claims=claims, body=text_body, **kwargs)
        return call(load_function(folders[(method, path)]).lambda_handler, event)

    return invoke


def grant(api, body: dict[str, Any], **kwargs: Any):
    kwargs.setdefault("claims", {"sub": "app-backend", "scope": f"openid {GRANT_SCOPE}"})
    return api("POST", "/progress/freezes", "app-backend", body, **kwargs)


# ---- settings ------------------------------------------------------------------------------------------

DEFAULT_REMINDERS = {
    "kinds": {
        "streak_saver": True,
        "weekly_goal_at_risk": True,
        "milestone": True,
        "freeze_used": True,
        "streak_lost": True,
    },
    "reminder_time": "20:00",
    "quiet_hours": None,
}


def test_a_learner_without_settings_reads_the_defaults(api, new_user_id, set_now) -> None:
    set_now(at(TODAY, "UTC"))
    status, _, body = api("GET", "/progress/settings", new_user_id())
    assert status == 200
    assert body == {
        "rest_weekdays": [],
        "day_start_minutes": 0,
        "daily_goal": {"unit": "attempts", "target": 10},  # DAILY_GOAL
        "daily_goal_default": True,
        "weekly_goal_days": None,
        "week_start": "mon",
        "effective_from": None,
        "reminders": DEFAULT_REMINDERS,
    }


BAD_SETTINGS = [
    ({"day_start_minutes": "60"}, ["body", "day_start_minutes"], "int_type"),
    ({"day_start_minutes": True}, ["body", "day_start_minutes"], "int_type"),
    ({"day_start_minutes": 60.0}, ["body", "day_start_minutes"], "int_type"),
    ({"day_start_minutes": 361}, ["body", "day_start_minutes"], "less_than_equal"),
    ({"day_start_minutes": None}, ["body", "day_start_minutes"], "int_type"),
    ({"weekly_goal_days": True}, ["body", "weekly_goal_days"], "int_type"),
    ({"weekly_goal_days": 8}, ["body", "weekly_goal_days"], "less_than_equal"),
    ({"weekly_goal_days": 0}, ["body", "weekly_goal_days"], "greater_than_equal"),
    ({"rest_weekdays": ["mon", "funday"]}, ["body", "rest_weekdays", 1], "literal_error"),
    ({"rest_weekdays": ["Mon"]}, ["body", "rest_weekdays", 0], "literal_error"),
    ({"rest_weekdays": [1]}, ["body", "rest_weekdays", 0], "literal_error"),
    ({"rest_weekdays": ["sat", "sun", "mon"]}, ["body", "rest_weekdays"], "too_long"),
    ({"rest_weekdays": ["sun", "sun"]}, ["body", "rest_weekdays"], "value_error"),
    ({"rest_weekdays": "sun"}, ["body", "rest_weekdays"], "list_type"),
    ({"rest_weekdays": None}, ["body", "rest_weekdays"], "list_type"),
    ({"daily_goal": {"unit": "attempts", "target": "5"}}, ["body", "daily_goal", "target"], "int_type"),
    (
        {"daily_goal": {"unit": "attempts", "target": 501}},
        ["body", "daily_goal", "target"],
        "less_than_equal",
    ),
    ({"daily_goal": {"unit": "minutes", "target": 5}}, ["body", "daily_goal", "unit"], "literal_error"),
    ({"daily_goal": {"unit": "attempts"}}, ["body", "daily_goal", "target"], "missing"),
    (
        {"daily_goal": {"unit": "attempts", "target": 5, "x": 1}},
        ["body", "daily_goal", "x"],
        "extra_forbidden",
    ),
    ({"daily_goal": 10}, ["body", "daily_goal"], "model_attributes_type"),
    ({"week_start": "monday"}, ["body", "week_start"], "literal_error"),
    ({"reminder_time": "20:00"}, ["body", "reminder_time"], "extra_forbidden"),
    ({"reminders": None}, ["body", "reminders"], "value_error"),
    (
        {"reminders": {"reminder_time": "8pm"}},
        ["body", "reminders", "reminder_time"],
        "value_error",
    ),
    (
        {"reminders": {"reminder_time": "24:00"}},
        ["body", "reminders", "reminder_time"],
        "value_error",
    ),
    ({"reminders": {"reminder_time": 2000}}, ["body", "reminders", "reminder_time"], "string_type"),
    ({"reminders": {"reminder_time": None}}, ["body", "reminders", "reminder_time"], "value_error"),
    (
        {"reminders": {"kinds": {"streak_saver": "no"}}},
        ["body", "reminders", "kinds", "streak_saver"],
        "bool_type",
    ),
    (
        {"reminders": {"kinds": {"streak_saver": 0}}},
        ["body", "reminders", "kinds", "streak_saver"],
        "bool_type",
    ),
    ({"reminders": {"kinds": {"push": True}}}, ["body", "reminders", "kinds", "push"], "extra_forbidden"),
    (
        {"reminders": {"quiet_hours": {"from": "22:00"}}},
        ["body", "reminders", "quiet_hours", "to"],
        "missing",
    ),
    (
        {"reminders": {"quiet_hours": {"from": "22:00", "to": "7:00"}}},
        ["body", "reminders", "quiet_hours", "to"],
        "value_error",
    ),
    ({"reminders": {"snooze": True}}, ["body", "reminders", "snooze"], "extra_forbidden"),
]


@pytest.mark.parametrize(("body", "loc", "kind"), BAD_SETTINGS, ids=lambda v: json.dumps(v))
def test_a_bad_settings_change_is_422_naming_the_field_and_writes_nothing(
    api, db, new_user_id, set_now, body, loc, kind
) -> None:
    set_now(at(TODAY, "UTC"))
    user = new_user_id()
    # valid fields beside the bad one change nothing either
    status, _, answer = api("PUT", "/progress/settings", user, {"week_start": "sun", **body})
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_error"
    assert [(d["loc"], d["type"]) for d in answer["error"]["details"]] == [(loc, kind)]
    assert answer["error"]["details"][0]["message"]
    assert rows(db, "SELECT * FROM user_settings WHERE user_id = :u", u=user) == []


@pytest.mark.parametrize("time", ["24:00", "7:00", "20:00:00", "20h00", ""])
def test_a_bad_local_time_is_422_saying_the_format_in_words(api, new_user_id, time) -> None:
    """The message the dashboard shows next to the field names the format, not a regular expression."""
    status, _, answer = api(
        "PUT", "/progress/settings", new_user_id(), {"reminders": {"reminder_time": time}}
    )
    assert status == 422, answer
    (detail,) = answer["error"]["details"]
    assert detail["loc"] == ["body", "reminders", "reminder_time"]
    assert "HH:MM, from 00:00 to 23:59" in detail["message"] and "^" not in detail["message"]


@pytest.mark.parametrize("body", ["not json", "", "[]", "null", '"mon"'])
def test_a_settings_body_that_is_not_an_object_is_422(api, new_user_id, body) -> None:
    status, _, answer = api("PUT", "/progress/settings", new_user_id(), body)
    assert status == 422 and answer["error"]["code"] == "validation_error"
    assert answer["error"]["details"][0]["loc"][0] == "body"


@pytest.mark.parametrize(
    ("tz", "effective_from"),
    [
        # 03:00 UTC on the 15th: still the 14th in Los Angeles, already the 15th (15:00) in Auckland
        ("America/Los_Angeles", "2026-06-15"),
        ("Pacific/Auckland", "2026-06-16"),
        ("UTC", "2026-06-16"),
    ],
)
def test_a_change_applies_from_the_learners_next_local_day(
    api, db, new_user_id, set_now, tz, effective_from
) -> None:
    user = new_user_id()
    set_timezone(db, user, tz)
    set_now(dt.datetime(2026, 6, 15, 3, 0, tzinfo=dt.UTC))
    status, _, body = api(
        "PUT",
        "/progress/settings",
        user,
        {
            "rest_weekdays": ["sun", "sat"],
            "daily_goal": {"unit": "correct", "target": 25},
            "weekly_goal_days": 4,
        },
    )
    assert status == 200, body
    assert body == {
        "rest_weekdays": ["sat", "sun"],
        "day_start_minutes": 0,
        "daily_goal": {"unit": "correct", "target": 25},
        "daily_goal_default": False,
        "weekly_goal_days": 4,
        "week_start": "mon",
        "effective_from": effective_from,
        "reminders": DEFAULT_REMINDERS,
    }
    # stored as ISO weekdays (Monday = 1), one full version row
    (stored,) = rows(db, "SELECT * FROM user_settings WHERE user_id = :u", u=user)
    assert stored["effective_from"] == dt.date.fromisoformat(effective_from)
    assert stored["rest_weekdays"] == [6, 7]
    assert (stored["daily_goal_unit"], stored["daily_goal_target"], stored["week_start"]) == (
        "correct",
        25,
        1,
    )
    assert api("GET", "/progress/settings", user)[2] == body


def test_a_subset_keeps_the_other_fields_and_a_second_change_that_day_replaces_the_version(
    api, db, new_user_id, set_now
) -> None:
    user = new_user_id()
    set_now(at(TODAY, "UTC", dt.time(8, 0)))
    first = api("PUT", "/progress/settings", user, {"rest_weekdays": ["wed"], "weekly_goal_days": 3})[2]
    set_now(at(TODAY, "UTC", dt.time(22, 0)))
    status, _, second = api(
        "PUT", "/progress/settings", user, {"day_start_minutes": 120, "week_start": "sun"}
    )
    assert status == 200
    assert first["effective_from"] == second["effective_from"] == "2026-06-16"
    assert second["rest_weekdays"] == ["wed"] and second["weekly_goal_days"] == 3
    assert (second["day_start_minutes"], second["week_start"]) == (120, "sun")
    assert len(rows(db, "SELECT 1 FROM user_settings WHERE user_id = :u", u=user)) == 1
    # null clears the goals: the deployment's daily goal again, no weekly goal
    third = api("PUT", "/progress/settings", user, {"daily_goal": None, "weekly_goal_days": None})[2]
    assert third["daily_goal"] == {"unit": "attempts", "target": 10} and third["daily_goal_default"] is True
    assert third["weekly_goal_days"] is None and third["rest_weekdays"] == ["wed"]
    # the next day's change is a version of its own, starting from the newest
    set_now(at(TODAY + dt.timedelta(days=1), "UTC"))
    fourth = api("PUT", "/progress/settings", user, {"rest_weekdays": []})[2]
    assert fourth["effective_from"] == "2026-06-17" and fourth["day_start_minutes"] == 120
    versions = rows(
        db, "SELECT effective_from, rest_weekdays FROM user_settings WHERE user_id = :u ORDER BY 1", u=user
    )
    assert versions == [
        {"effective_from": dt.date(2026, 6, 16), "rest_weekdays": [3]},
        {"effective_from": dt.date(2026, 6, 17), "rest_weekdays": []},
    ]


def test_after_flying_west_a_change_replaces_the_version_that_never_came_into_force(
    api, db, new_user_id, set_now
) -> None:
    user = new_user_id()
    set_timezone(db, user, "Pacific/Auckland")
    set_now(dt.datetime(2026, 6, 15, 12, 30, tzinfo=dt.UTC))  # 00:30 on the 16th in Auckland
    assert (
        api("PUT", "/progress/settings", user, {"rest_weekdays": ["sun"]})[2]["effective_from"]
        == "2026-06-17"
    )
    set_timezone(db, user, "America/Los_Angeles")  # the same instant is 05:30 on the 15th there
    body = api("PUT", "/progress/settings", user, {"weekly_goal_days": 2})[2]
    assert (body["effective_from"], body["rest_weekdays"], body["weekly_goal_days"]) == (
        "2026-06-16",
        ["sun"],
        2,
    )
    versions = rows(db, "SELECT effective_from FROM user_settings WHERE user_id = :u", u=user)
    assert versions == [{"effective_from": dt.date(2026, 6, 16)}]


def test_today_follows_the_day_start_in_force(api, db, new_user_id, set_now) -> None:
    user = new_user_id()
    set_timezone(db, user, "Europe/Berlin")
    set_now(at(TODAY, "Europe/Berlin", dt.time(12, 0)))
    assert (
        api("PUT", "/progress/settings", user, {"day_start_minutes": 240})[2]["effective_from"]
        == "2026-06-16"
    )
    # 02:30 on the 17th in Berlin is still the 16th for this learner (day start 04:00, in force since the 16th)
    set_now(at(TODAY + dt.timedelta(days=2), "Europe/Berlin", dt.time(2, 30)))
    assert (
        api("PUT", "/progress/settings", user, {"weekly_goal_days": 5})[2]["effective_from"] == "2026-06-17"
    )


def test_a_settings_change_today_leaves_todays_goal_and_streak_unchanged(
    api, db, new_user_id, set_now
) -> None:
    user = new_user_id()
    practise(db, user, TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1))
    practise(db, user, TODAY, count=4)
    set_now(at(TODAY, "UTC", dt.time(18, 0)))
    before = api("GET", "/progress", user)[2]
    assert before["today"]["goal"] == {
        "unit": "attempts",
        "target": 10,
        "done": 4,
        "met": False,
        "met_at": None,
    }
    status, _, _ = api(
        "PUT",
        "/progress/settings",
        user,
        {
            "daily_goal": {"unit": "attempts", "target": 3},
            "rest_weekdays": ["mon", "sun"],
            "weekly_goal_days": 2,
        },
    )
    assert status == 200
    after = api("GET", "/progress", user)[2]
    assert after["today"] == before["today"]
    assert after["week"] is None and after["rest_weekdays"] == []
    for field in ("current_streak", "longest_streak", "streak_expires_at", "freezes_held"):
        assert after[field] == before[field], field
    # from the next local day on, the new goal is the day's goal
    set_now(at(TODAY + dt.timedelta(days=1), "UTC", dt.time(8, 0)))
    tomorrow = api("GET", "/progress", user)[2]
    assert tomorrow["today"]["goal"]["target"] == 3 and tomorrow["rest_weekdays"] == ["mon", "sun"]
    assert tomorrow["week"] is not None and tomorrow["week"]["target_days"] == 2


# ---- freeze grants -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"sub": "7"}, None),  # a learner's token
        ({"sub": "7", "scope": "openid profile"}, None),
        ({"sub": "7", "scope": "progress/grant2 xprogress/grant"}, None),
        ({"sub": "7", "scp": ["progress/erase"]}, ["progress/erase"]),
    ],
)
def test_a_grant_without_the_scope_is_403_at_the_handler(api, db, new_user_id, claims, scopes) -> None:
    learner = new_user_id()
    status, _, body = grant(api, {"user_id": learner, "key": "k", "count": 1}, claims=claims, scopes=scopes)
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert GRANT_SCOPE in body["error"]["message"]
    assert rows(db, "SELECT * FROM freeze_grants WHERE user_id = :u", u=learner) == []


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"sub": "app", "scope": "openid progress/grant"}, None),  # OAuth 2.0 `scope`, space separated
        ({"sub": "app", "scp": "progress/grant"}, None),
        ({"sub": "app", "scp": ["other", "progress/grant"]}, None),
        ({"sub": "app"}, ["progress/grant"]),  # as the authorizer lists a route's scopes
    ],
)
def test_the_grant_scope_is_read_from_scope_scp_or_the_authorizer(
    api, db, new_user_id, set_now, streak_limits, claims, scopes
) -> None:
    streak_limits()
    set_now(at(TODAY, "UTC"))
    status, _, body = grant(
        api, {"user_id": new_user_id(), "key": "k", "count": 1}, claims=claims, scopes=scopes
    )
    assert (status, body) == (200, {"added": 1, "freezes_held": 1, "freezes_max": 2})


def test_a_grant_adds_what_fits_is_idempotent_by_key_and_409_when_full(
    api, db, new_user_id, set_now, streak_limits
) -> None:
    streak_limits()  # FREEZE_MAX_HELD 2
    user = new_user_id()
    set_timezone(db, user, "America/Los_Angeles")
    set_now(dt.datetime(2026, 6, 15, 3, 0, tzinfo=dt.UTC))  # the 14th in Los Angeles
    first = grant(api, {"user_id": f"user_{user}", "key": "reward-1", "count": 1, "source": "granted"})
    assert first == (
        200,
        {"content-type": "application/json"},
        {"added": 1, "freezes_held": 1, "freezes_max": 2},
    )
    # asks for 2, one fits
    assert grant(api, {"user_id": user, "key": "reward-2", "count": 2})[2] == {
        "added": 1,
        "freezes_held": 2,
        "freezes_max": 2,
    }
    # a repeat of a key answers what its first grant answered, and records nothing
    assert grant(api, {"user_id": str(user), "key": "reward-1", "count": 2})[2] == first[2]
    # full: 409, nothing recorded
    status, _, body = grant(api, {"user_id": user, "key": "reward-3", "count": 1})
    assert status == 409
    assert body["error"]["code"] == "freezes_full"
    assert body["error"]["details"] == [{"freezes_held": 2, "freezes_max": 2}]
    stored = rows(
        db,
        "SELECT grant_key, requested, added, source, local_day FROM freeze_grants WHERE user_id = :u ORDER BY id",
        u=user,
    )
    assert stored == [
        {
            "grant_key": "reward-1",
            "requested": 1,
            "added": 1,
            "source": "granted",
            "local_day": dt.date(2026, 6, 14),
        },
        {
            "grant_key": "reward-2",
            "requested": 2,
            "added": 1,
            "source": "granted",
            "local_day": dt.date(2026, 6, 14),
        },
    ]
    # what GET /progress says agrees
    progress = api("GET", "/progress", user)[2]
    assert (progress["freezes_held"], progress["freezes_max"]) == (2, 2)
    # the key of a grant refused as full is free: once a freeze is spent, it fits
    practise(db, user, dt.date(2026, 6, 13), tz="America/Los_Angeles")
    set_now(dt.datetime(2026, 6, 16, 3, 0, tzinfo=dt.UTC))  # the 15th: the 14th was missed, one freeze spent
    assert api("GET", "/progress", user)[2]["freezes_held"] == 1
    assert grant(api, {"user_id": user, "key": "reward-3", "count": 1})[2] == {
        "added": 1,
        "freezes_held": 2,
        "freezes_max": 2,
    }


def test_a_repeat_of_a_key_recorded_other_than_by_the_route_answers_the_figures_of_now(
    api, db, new_user_id, set_now, streak_limits
) -> None:
    streak_limits()
    user = new_user_id()
    set_now(at(TODAY, "UTC"))
    with db.connect() as conn:  # as an operator's or an importer's plain insert would
        conn.execute(
            text(
                "INSERT INTO freeze_grants (user_id, grant_key, requested, added, local_day)"
                " VALUES (:u, 'imported', 1, 1, :day)"
            ),
            {"u": user, "day": TODAY},
        )
    assert grant(api, {"user_id": user, "key": "imported", "count": 2})[2] == {
        "added": 1,
        "freezes_held": 1,
        "freezes_max": 2,
    }
    assert len(rows(db, "SELECT 1 FROM freeze_grants WHERE user_id = :u", u=user)) == 1


def test_no_freezes_at_all_is_409_for_every_grant(api, db, new_user_id, set_now, streak_limits) -> None:
    streak_limits(freeze_max_held=0)
    set_now(at(TODAY, "UTC"))
    status, _, body = grant(api, {"user_id": new_user_id(), "key": "k", "count": 1})
    assert status == 409 and body["error"]["details"] == [{"freezes_held": 0, "freezes_max": 0}]


BAD_GRANTS = [
    ({"count": 3}, ["body", "count"], "less_than_equal"),
    ({"count": 0}, ["body", "count"], "greater_than_equal"),
    ({"count": "1"}, ["body", "count"], "int_type"),
    ({"count": True}, ["body", "count"], "int_type"),
    ({"source": "earned"}, ["body", "source"], "literal_error"),
    ({"key": ""}, ["body", "key"], "string_too_short"),
    ({"key": "k" * 201}, ["body", "key"], "string_too_long"),
    ({"key": 5}, ["body", "key"], "string_type"),
    ({"key": "a\x00b"}, ["body", "key"], "value_error"),
    ({"user_id": "someone"}, ["body", "user_id"], "value_error"),
    ({"user_id": -1}, ["body", "user_id"], "value_error"),
    ({"user_id": True}, ["body", "user_id"], None),
    ({"freezes": 2}, ["body", "freezes"], "extra_forbidden"),
]


@pytest.mark.parametrize(("change", "loc", "kind"), BAD_GRANTS, ids=lambda v: json.dumps(v))
def test_a_bad_grant_is_422_naming_the_field(api, db, new_user_id, change, loc, kind) -> None:
    learner = new_user_id()
    status, _, body = grant(api, {"user_id": learner, "key": "k", "count": 1, "source": "granted", **change})
    assert status == 422, body
    assert {tuple(d["loc"][:2]) for d in body["error"]["details"]} == {tuple(loc)}
    if kind is not None:
        assert body["error"]["details"][0]["type"] == kind
    assert rows(db, "SELECT * FROM freeze_grants") == []


def test_a_grant_without_a_key_is_422(api, new_user_id) -> None:
    status, _, body = grant(api, {"user_id": new_user_id(), "count": 1})
    assert status == 422 and body["error"]["details"][0]["loc"] == ["body", "key"]


# ---- repair --------------------------------------------------------------------------------------------


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def repair(api, user: int):
    return api("POST", "/progress/streak/repair", user)


def test_repair_joins_the_runs_once_the_attempts_are_done(
    api, db, new_user_id, set_now, streak_limits
) -> None:
    streak_limits(freeze_starter=0, freeze_earn_every=0)
    user = new_user_id()
    practise(db, user, days_ago(5), days_ago(4))  # then 3 days missed
    practise(db, user, TODAY, count=9)
    set_now(at(TODAY, "UTC", dt.time(18, 0)))
    status, _, body = repair(api, user)
    assert status == 409 and body["error"]["code"] == "repair_unavailable"
    assert body["error"]["message"] == "not enough attempts since the gap began (9 of 10)"
    assert body["error"]["details"][0]["reason"] == "not_enough_attempts"
    assert body["error"]["details"][0]["repair"]["available"] is False
    assert rows(db, "SELECT * FROM streak_repairs WHERE user_id = :u", u=user) == []
    practise(db, user, TODAY)
    status, _, body = repair(api, user)
    assert (status, body) == (
        200,
        {
            "gap_from": "2026-06-12",
            "gap_to": "2026-06-14",
            "attempts_done": 10,
            "current_streak": 3,
            "freezes_held": 0,
        },
    )
    (stored,) = rows(
        db, "SELECT gap_from, gap_to, attempts_done FROM streak_repairs WHERE user_id = :u", u=user
    )
    assert stored == {"gap_from": dt.date(2026, 6, 12), "gap_to": dt.date(2026, 6, 14), "attempts_done": 10}
    progress = api("GET", "/progress", user)[2]
    assert progress["current_streak"] == 3 and progress["repair"] is None
    # nothing left to repair
    status, _, body = repair(api, user)
    assert status == 409 and body["error"]["details"][0]["reason"] == "no_gap"
    assert body["error"]["message"] == "there is no repairable gap"


def test_repair_without_a_break_is_409(api, db, new_user_id, set_now) -> None:
    user = new_user_id()
    set_now(at(TODAY, "UTC"))
    status, _, body = repair(api, user)
    assert status == 409 and body["error"]["code"] == "repair_unavailable"
    assert body["error"]["details"] == [{"reason": "no_gap", "repair": None}]


def test_repair_after_its_window_is_409_window_passed(api, db, new_user_id, set_now, streak_limits) -> None:
    streak_limits(freeze_starter=0, freeze_earn_every=0, repair_window_days=0)
    user = new_user_id()
    practise(db, user, days_ago(6), days_ago(5), days_ago(1))  # the gap 4..2 days ago, closed at its end
    practise(db, user, TODAY, count=10)
    set_now(at(TODAY, "UTC", dt.time(18, 0)))
    status, _, body = repair(api, user)
    assert status == 409 and body["error"]["details"][0]["reason"] == "window_passed", body
    assert "2026-06-11 to 2026-06-13" in body["error"]["message"]


def test_one_repair_per_repair_every_days(api, db, new_user_id, set_now, streak_limits) -> None:
    streak_limits(freeze_starter=0, freeze_earn_every=0)
    user = new_user_id()
    practise(db, user, days_ago(15), days_ago(14))
    practise(db, user, days_ago(10), count=10)
    set_now(at(days_ago(10), "UTC", dt.time(18, 0)))
    assert repair(api, user)[0] == 200
    practise(db, user, days_ago(9), days_ago(8))  # then 3 missed again
    practise(db, user, TODAY - dt.timedelta(days=4), count=10)
    set_now(at(days_ago(4), "UTC", dt.time(18, 0)))
    status, _, body = repair(api, user)
    assert status == 409 and body["error"]["details"][0]["reason"] == "repaired_recently", body
    assert body["error"]["message"] == "a streak was repaired within the last 30 days"
    assert len(rows(db, "SELECT 1 FROM streak_repairs WHERE user_id = :u", u=user)) == 1


# ---- one statement per request -------------------------------------------------------------------------


def test_each_streak_request_is_one_statement(
    api, db, new_user_id, set_now, streak_limits, count_sql
) -> None:
    streak_limits(freeze_starter=0, freeze_earn_every=0)
    user = new_user_id()
    practise(db, user, days_ago(5), days_ago(4))
    practise(db, user, TODAY, count=10)
    set_now(at(TODAY, "UTC", dt.time(18, 0)))
    requests = [
        ("GET", "/progress/settings", None),
        ("PUT", "/progress/settings", {"rest_weekdays": ["sat"]}),
        ("POST", "/progress/freezes", {"user_id": user, "key": "k", "count": 1}),
        ("POST", "/progress/freezes", {"user_id": user, "key": "k", "count": 1}),
        ("POST", "/progress/streak/repair", None),
        ("POST", "/progress/streak/repair", None),  # 409
    ]
    for method, path, body in requests:
        count_sql.reset()
        status = grant(api, body)[0] if path == "/progress/freezes" else api(method, path, user, body)[0]
        assert status in (200, 409)
        assert count_sql.count == 1, (method, path, count_sql.statements)
        assert "%" not in count_sql.statements[0] and len(count_sql.statements[0]) < 16 * 1024


# ---- reminders (docs/signals.md "Signals") -------------------------------------------------------------


def test_reminders_apply_at_once_merge_by_kind_and_write_no_settings_version(
    api, db, new_user_id, set_now
) -> None:
    set_now(at(TODAY, "UTC"))
    user = new_user_id()
    status, _, body = api(
        "PUT",
        "/progress/settings",
        user,
        {"reminders": {"kinds": {"milestone": False}, "quiet_hours": {"from": "22:00", "to": "07:30"}}},
    )
    assert status == 200, body
    assert body["reminders"] == {
        **DEFAULT_REMINDERS,
        "kinds": {**DEFAULT_REMINDERS["kinds"], "milestone": False},
        "quiet_hours": {"from": "22:00", "to": "07:30"},
    }
    assert body["effective_from"] is None  # only reminders: no settings version
    assert rows(db, "SELECT * FROM user_settings WHERE user_id = :u", u=user) == []
    status, _, body = api(
        "PUT",
        "/progress/settings",
        user,
        {"reminders": {"kinds": {"streak_lost": False}, "reminder_time": "07:15", "quiet_hours": None}},
    )
    assert status == 200, body
    assert body["reminders"] == {
        "kinds": {**DEFAULT_REMINDERS["kinds"], "milestone": False, "streak_lost": False},
        "reminder_time": "07:15",
        "quiet_hours": None,
    }
    assert api("GET", "/progress/settings", user)[2] == body
    # the learner is planned again at the next sweep
    assert rows(
        db, "SELECT next_signal_at = '-infinity' AS due FROM user_profiles WHERE user_id = :u", u=user
    ) == [{"due": True}]


def test_get_progress_says_reminders_paused_in_one_round_trip(
    api, db, new_user_id, set_now, count_sql
) -> None:
    set_now(at(TODAY, "UTC"))
    user = new_user_id()
    practise(db, user, TODAY - dt.timedelta(days=1))
    with db.begin() as conn:
        conn.execute(
            text("UPDATE user_profiles SET reminders_paused = '{streak_saver}' WHERE user_id = :u"),
            {"u": user},
        )
    count_sql.reset()
    status, _, body = api("GET", "/progress", user)
    assert status == 200 and body["reminders_paused"] == ["streak_saver"]
    assert count_sql.count == 1
    # practice ends the pause, in the attempts' own statement
    practise(db, user, TODAY)
    assert api("GET", "/progress", user)[2]["reminders_paused"] == []


def test_the_previous_releases_reads_answer_what_v4_does_in_their_shape(
    db, new_user_id, streak_limits
) -> None:
    """While a deploy is under way the previous release's code calls progress_read_progress_v3 and
    progress_read_statistics_v3 (rows, not columns): the same figures as v4, day for day and attempt for
    attempt, for a learner with settings versions, a covered day and a frozen day in the series."""
    streak_limits(freeze_starter=2, freeze_max_held=2)
    user = new_user_id()
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_settings (user_id, effective_from, rest_weekdays, daily_goal_unit,"
                " daily_goal_target, weekly_goal_days) VALUES (:u, :d, '{7}', 'correct', 2, 3)"
            ),
            {"u": user, "d": TODAY - dt.timedelta(days=20)},
        )
    practise(db, user, *(TODAY - dt.timedelta(days=d) for d in (12, 11, 10, 8, 7, 5, 4, 3, 2)), count=3)
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO user_covered_days (user_id, day, reason) VALUES (:u, :d, 'outage')"),
            {"u": user, "d": TODAY - dt.timedelta(days=9)},
        )
        conn.execute(text("SELECT progress_refresh_day_summary(:u)"), {"u": user})
    now = at(TODAY, "UTC")
    with db.connect() as conn:
        read = lambda sql: json.loads(conn.execute(text(sql), {"u": user, "now": now}).scalar_one())  # noqa: E731
        v3 = read("SELECT progress_read_statistics_v3(:u, :now, 30)")
        v4 = read("SELECT progress_read_statistics_v4(:u, :now, 30)")
        p3 = read("SELECT progress_read_progress_v3(:u, :now, 'infinity', 9223372036854775807, 5)")
        p4 = read("SELECT progress_read_progress_v4(:u, :now, 'infinity', 9223372036854775807, 5)")
    series = v4.pop("daily")
    first = dt.date.fromisoformat(series["from"])
    fields = ("attempts", "correct", "covered", "kind", "goal_met")
    assert v3.pop("daily") == [
        [str(first + dt.timedelta(days=i)), *(series[f][i] for f in fields)] for i in range(30)
    ]
    assert v3 == v4
    kinds = {kind for kind in series["kind"] if kind}
    assert {"practice", "covered", "frozen"} <= kinds, kinds  # the series this test means to compare
    recent = p4.pop("recent")
    assert p3.pop("recent") == [
        dict(zip(recent, values, strict=True)) for values in zip(*recent.values(), strict=True)
    ]
    assert len(recent["id"]) == 5 and p3 == p4
