"""GET /progress/streak/explain (docs/design.md "Streak-at-risk signals and settled days"; docs/streaks.md
"Explaining a streak"): each local day's kind and why, through the handler with API Gateway v2.0 events on the
real database. Its kinds are the statistics' daily kinds for the same days (null there is `none` here, or
`pending` while the day is not settled), over seeded histories that hold every kind.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.events import call, http_event
from tests.test_keeping_a_streak import TODAY, cover, days_before, refresh, settings_version
from tests.test_streaks import at, practise, set_timezone

D = dt.timedelta(days=1)
NOW = at(TODAY, "UTC", dt.time(18, 0))
EVERY_KIND = {"practice", "covered", "rest", "frozen", "repaired", "pending", "none"}
ROOT = Path(__file__).resolve().parent.parent


def explain(load_function, user: int, query: dict[str, str] | None = None) -> tuple[int, Any]:
    status, _, body = call(
        load_function("get_statistics").lambda_handler,
        http_event("GET", "/progress/streak/explain", query=query, claims={"sub": str(user)}),
    )
    return status, body


def statistics(load_function, user: int, days: int) -> dict:
    status, _, body = call(
        load_function("get_statistics").lambda_handler,
        http_event("GET", "/progress/statistics", query={"days": str(days)}, claims={"sub": str(user)}),
    )
    assert status == 200, body
    return body


def settle_until(db: Engine, watermark: dt.datetime | None) -> None:
    """The ingest watermark (every message sent before it is folded in); None: never established."""
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ingest_watermark (singleton, watermark, advanced_at) VALUES (true, :w, now())"
                " ON CONFLICT (singleton) DO UPDATE SET watermark = excluded.watermark"
            ),
            {"w": watermark},
        )


def incident_cover(db: Engine, user: int, day: dt.date) -> int:
    with db.begin() as conn:
        incident = conn.execute(
            text(
                "INSERT INTO ingest_incidents (started_at, opened_at, closed_at, covered)"
                " VALUES (:s, :s, :s, true) RETURNING id"
            ),
            {"s": NOW - 3 * D},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO user_covered_days (user_id, day, reason, incident_id)"
                " VALUES (:u, :d, 'ingest incident', :i)"
            ),
            {"u": user, "d": day, "i": incident},
        )
    refresh(db, user)
    return int(incident)


def days_of(body: dict) -> dict[str, dict]:
    return {day["date"]: day for day in body["days"]}


def assert_kinds_match_the_statistics(load_function, user: int, days: int = 30) -> dict[str, dict]:
    """The explain of the last `days` days against the statistics' daily series of the same days."""
    status, body = explain(load_function, user)
    assert status == 200, body
    explained = days_of(body)
    stats = statistics(load_function, user, days)
    assert sorted(explained) == sorted(row["date"] for row in stats["daily"])
    for row in stats["daily"]:
        day = explained[row["date"]]
        if row["kind"] is None:
            assert day["kind"] == ("none" if day["settled"] else "pending"), day
        else:
            assert day["kind"] == row["kind"], day
        assert (day["attempts"], day["correct"], day["goal"]["met"]) == (
            row["attempts"],
            row["correct"],
            row["goal_met"],
        )
    return explained


@pytest.fixture
def learner(db, new_user_id, streak_limits, set_now):
    """A learner in UTC, "now" 18:00 today (a Wednesday), the default limits (2 starter freezes, 2 held at
    most), the watermark at now: every day before today is settled, today is not."""
    streak_limits()
    user = new_user_id()
    set_timezone(db, user, "UTC")
    set_now(NOW)
    settle_until(db, NOW)
    return user


def history_with_freezes_rest_and_covers(db: Engine, user: int) -> int:
    """d-13 and before: nothing (none; Sundays rest), d-12 covered by an operator, d-11 by an incident, d-10 a
    rest Sunday, d-9 practised, d-8 frozen (stored by the walk), d-7..d-2 practised, d-1 frozen (the read's),
    today pending. Returns the incident's id."""
    settings_version(
        db, user, TODAY - 40 * D, rest_weekdays=[7], daily_goal_unit="correct", daily_goal_target=1
    )
    practise(db, user, "UTC", days_before(9, 7, 6, 5, 4, 3, 2))
    cover(db, user, TODAY - 12 * D)
    return incident_cover(db, user, TODAY - 11 * D)


def test_each_kind_equals_the_statistics_kind_and_says_why(db, load_function, learner, streak_limits) -> None:
    incident = history_with_freezes_rest_and_covers(db, learner)
    explained = assert_kinds_match_the_statistics(load_function, learner)
    seen = {day["kind"] for day in explained.values()}
    by_day = {dt.date.fromisoformat(d): day for d, day in explained.items()}

    practice = by_day[TODAY - 9 * D]
    assert (practice["kind"], practice["attempts"], practice["correct"]) == ("practice", 1, 1)
    assert practice["goal"] == {"unit": "correct", "target": 1, "met": True}
    assert practice["settings_effective_from"] == str(TODAY - 40 * D)

    operator = by_day[TODAY - 12 * D]
    assert operator["kind"] == "covered"
    assert (operator["covered"]["reason"], operator["covered"]["incident_id"]) == ("outage", None)
    by_incident = by_day[TODAY - 11 * D]
    assert by_incident["covered"]["incident_id"] == str(incident)
    assert by_incident["covered"]["reason"] == "ingest incident"

    rest = by_day[TODAY - 10 * D]  # a Sunday
    assert rest["kind"] == "rest"
    assert rest["rest"] == {"settings_effective_from": str(TODAY - 40 * D), "rest_weekdays": [7]}

    stored = by_day[TODAY - 8 * D]
    assert (stored["kind"], stored["frozen"]) == ("frozen", {"source": "starter", "stored": True})
    since = by_day[TODAY - D]
    assert (since["kind"], since["frozen"]) == ("frozen", {"source": "starter", "stored": False})

    today = by_day[TODAY]
    assert (today["kind"], today["settled"]) == ("pending", False)
    before = by_day[TODAY - 13 * D]
    assert (before["kind"], before["settled"], before["covered"], before["frozen"]) == (
        "none",
        True,
        None,
        None,
    )
    for day in explained.values():
        assert day["day_start_minutes"] == 0
        if day["kind"] != "frozen":
            assert day["frozen"] is None
        if day["kind"] != "rest":
            assert day["rest"] is None

    # a second history: a repaired gap (no starter freezes)
    streak_limits(freeze_starter=0)
    other = learner + 1
    set_timezone(db, other, "UTC")
    practise(db, other, "UTC", days_before(4, 3))
    practise(db, other, "UTC", [TODAY] * 10)
    with db.begin() as conn:
        repair_id = conn.execute(
            text(
                "INSERT INTO streak_repairs (user_id, gap_from, gap_to, attempts_done) VALUES (:u, :f, :t, 10)"
                " RETURNING id"
            ),
            {"u": other, "f": TODAY - 2 * D, "t": TODAY - D},
        ).scalar_one()
    refresh(db, other)
    repaired = assert_kinds_match_the_statistics(load_function, other)
    for day in days_before(2, 1):
        why = repaired[str(day)]
        assert why["kind"] == "repaired"
        assert why["repaired"]["repair_id"] == str(repair_id)
        assert (why["repaired"]["gap_from"], why["repaired"]["gap_to"]) == (
            str(TODAY - 2 * D),
            str(TODAY - D),
        )
        assert why["repaired"]["created_at"]
    # today was practised: practice, whether settled or not
    assert repaired[str(TODAY)]["kind"] == "practice"
    seen |= {day["kind"] for day in repaired.values()}
    assert seen == EVERY_KIND


def test_days_not_settled_are_pending_and_settle_as_the_watermark_passes(db, load_function, learner) -> None:
    practise(db, learner, "UTC", days_before(3))
    settle_until(db, None)  # never established: nothing is settled
    status, body = explain(load_function, learner, {"from": str(TODAY - 5 * D), "to": str(TODAY)})
    assert status == 200, body
    assert [d["kind"] for d in body["days"]] == [
        "pending",
        "pending",
        "practice",
        "frozen",
        "frozen",
        "pending",
    ]
    assert body["data_complete_through"] is None
    # the watermark 60 min past the end of d-4 (LATE_GRACE_MINUTES): d-5 and d-4 settle, d-2 not yet
    settle_until(db, at(TODAY - 3 * D, "UTC", dt.time(1, 0)))
    status, body = explain(load_function, learner, {"from": str(TODAY - 5 * D), "to": str(TODAY)})
    assert [(d["kind"], d["settled"]) for d in body["days"]] == [
        ("none", True),
        ("none", True),
        ("practice", False),
        ("frozen", False),
        ("frozen", False),
        ("pending", False),
    ]


def test_the_timezone_day_start_and_goal_are_those_in_force_each_day(
    db, load_function, learner, set_now
) -> None:
    set_timezone(db, learner, "America/Los_Angeles")
    settings_version(
        db, learner, TODAY - 3 * D, day_start_minutes=120, daily_goal_unit="attempts", daily_goal_target=3
    )
    status, body = explain(load_function, learner, {"from": str(TODAY - 5 * D), "to": str(TODAY - D)})
    assert status == 200, body
    assert body["timezone"] == "America/Los_Angeles"
    with db.connect() as conn:
        default_goal = conn.execute(text("SELECT daily_goal FROM streak_config")).scalar_one()
    assert (body["from_date"], body["to_date"], body["today"]) == (
        str(TODAY - 5 * D),
        str(TODAY - D),
        str(TODAY),
    )
    assert [
        (d["day_start_minutes"], d["settings_effective_from"], d["goal"]["target"]) for d in body["days"]
    ] == [
        (0, None, default_goal),
        (0, None, default_goal),
        (120, str(TODAY - 3 * D), 3),
        (120, str(TODAY - 3 * D), 3),
        (120, str(TODAY - 3 * D), 3),
    ]
    assert {d["goal"]["unit"] for d in body["days"]} == {"attempts"}


def test_the_default_is_the_last_30_local_days_and_366_days_is_the_most(db, load_function, learner) -> None:
    status, body = explain(load_function, learner)
    assert status == 200, body
    assert (body["from_date"], body["to_date"], len(body["days"])) == (str(TODAY - 29 * D), str(TODAY), 30)
    status, body = explain(load_function, learner, {"from": "2025-01-01", "to": "2026-01-01"})
    assert status == 200 and len(body["days"]) == 366
    assert (body["days"][0]["date"], body["days"][-1]["date"]) == ("2025-01-01", "2026-01-01")
    # a range in the future or far in the past: explained all the same (no kind: pending / none)
    status, body = explain(load_function, learner, {"from": str(TODAY + D), "to": str(TODAY + 2 * D)})
    assert status == 200 and [d["kind"] for d in body["days"]] == ["pending", "pending"]


@pytest.mark.parametrize(
    ("query", "loc", "kind"),
    [
        ({"from": "2025-01-01", "to": "2026-01-02"}, ["query", "to"], "range_too_long"),
        ({"from": "2026-06-10", "to": "2026-06-09"}, ["query", "to"], "range_order"),
        ({"from": "2026-06-10"}, ["query", "to"], "missing"),
        ({"to": "2026-06-10"}, ["query", "from"], "missing"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, ["query", "from"], "date_parsing"),
        ({"from": "2026-06-01", "to": "20260602"}, ["query", "to"], None),
        ({"from": "1781654400", "to": "2026-06-02"}, ["query", "from"], None),
        ({"from": "2026-06-01T00:00", "to": "2026-06-02"}, ["query", "from"], None),
    ],
)
def test_a_bad_range_is_422_with_the_parameter_named(db, load_function, learner, query, loc, kind) -> None:
    status, body = explain(load_function, learner, query)
    assert status == 422, body
    assert body["error"]["code"] == "validation_error"
    (detail,) = body["error"]["details"]
    assert detail["loc"] == loc
    if kind is not None:
        assert detail["type"] == kind


def test_without_a_token_it_is_401(db, load_function) -> None:
    status, _, body = call(
        load_function("get_statistics").lambda_handler, http_event("GET", "/progress/streak/explain")
    )
    assert status == 401, body


def test_the_sample_event_is_a_v2_event_of_the_route() -> None:
    event = json.loads((ROOT / "events" / "streak_explain.json").read_text())
    assert (event["version"], event["routeKey"]) == ("2.0", "GET /progress/streak/explain")
