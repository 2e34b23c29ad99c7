"""Upgrading a database filled by the previous releases keeps every figure both GETs return, repairs
sessions shared between users, and its batched backfill can be interrupted and run again."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

import progress_schema.backfill as backfill
from progress_admin.scratch import scratch_database
from progress_common import queries
from progress_common.db import make_engine
from progress_common.queries import get_progress, get_statistics
from progress_common.settings import Settings, StreakSettings, load_settings, set_streak_settings
from progress_common.writes import reset_progress
from progress_schema.database import migrate
from tests.helpers import assert_aggregates_match_rows
from tests.test_sql_source import drift

UTC = dt.UTC
BEFORE_THIS_CHANGE = "0005"  # the release before fixed practice days (0004 and 0005 change no data)


@pytest.fixture
def old_database(engine: Engine) -> Iterator[tuple[Settings, Engine]]:
    """A scratch database at revision 0003, with an engine on it (no schema check: the revision moves)."""
    with scratch_database("progress_upgrade") as database:
        settings = load_settings({**os.environ, "DATABASE_URL": database.url})
        migrate(settings, "0003")
        eng = make_engine(settings, pool_size=2)
        try:
            yield settings, eng
        finally:
            eng.dispose()


def _old_write(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """The 0003 write path: progress_record_attempts, then a timezone change rebuilds the user's days."""
    batch = [
        {
            "attempt_uid": str(uuid.uuid4()),
            "user_answer": "a",
            "session_id": None,
            "timezone": None,
            "ord": n,
            **row,
            "created_at": row["created_at"].isoformat(),
        }
        for n, row in enumerate(rows)
    ]
    with engine.connect() as conn:
        conn.execute(
            text("SELECT count(*) FROM progress_record_attempts(CAST(:b AS jsonb))"), {"b": json.dumps(batch)}
        )


def fill_like_the_old_releases(engine: Engine, users: list[int], *, seed: int) -> tuple[int, int]:
    """Histories written the old ways: messages with timezones (travel rebuilt the days), legacy SQL inserts,
    sessions, archived rows. Returns (owner, intruder) of a session the old race let two users share."""
    rng = random.Random(seed)
    now = dt.datetime.now(UTC)
    zones = ["Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo", "Australia/Lord_Howe", None]
    for user in users:
        rows = []
        for n in range(rng.randrange(5, 40)):
            days_ago = rng.choice([rng.randrange(0, 20), rng.randrange(370, 500)])
            rows.append(
                {
                    "user_id": user,
                    "exercise_id": rng.randrange(6),
                    "is_correct": rng.random() < 0.7,
                    "created_at": now - dt.timedelta(days=days_ago, minutes=rng.randrange(1440)),
                    "session_id": user * 10 + n // 7 if rng.random() < 0.5 else None,
                    "timezone": rng.choice(zones),
                }
            )
        for start in range(0, len(rows), 6):
            _old_write(engine, rows[start : start + 6])
        with engine.connect() as conn:
            conn.execute(
                text(
                    "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                    " VALUES (:u, 9, true, now() - interval '3 days 5 hours')"
                ),
                {"u": user},
            )
    with engine.connect() as conn:
        conn.execute(text("SELECT progress_archive_batch(now() - interval '365 days', 100000)"))
    # the race of issue 11.1: the intruder's attempt landed in the owner's session and its counters
    owner, intruder = users[0], users[1]
    shared = owner * 10 + 99
    _old_write(
        engine,
        [{"user_id": owner, "exercise_id": 1, "is_correct": True, "created_at": now, "session_id": shared}],
    )
    _old_write(engine, [{"user_id": intruder, "exercise_id": 1, "is_correct": False, "created_at": now}])
    with engine.connect() as conn:
        conn.execute(
            text(
                "UPDATE attempts SET session_id = :s WHERE id = (SELECT max(id) FROM attempts WHERE user_id = :u)"
            ),
            {"s": shared, "u": intruder},
        )
        conn.execute(
            text("UPDATE sessions SET total_exercises = total_exercises + 1 WHERE id = :s"), {"s": shared}
        )
    return owner, intruder


def differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The fields (GET.field) whose values differ, with both values."""
    return {
        f"{get}.{field}": (before[get].get(field), after[get].get(field))
        for get in before
        for field in before[get].keys() | after[get].keys()
        if before[get].get(field) != after[get].get(field)
    }


# The reads of a schema before 0013 (progress_read_*_v2, no ingest status): their documents
# are given the fields of the releases since as empty values, so the same code builds the answers, and the
# figures compared are the ones the old releases had.
OLD_STATUS = "jsonb_build_object('data_complete_through', NULL, 'streak_status', NULL)"
NO_KEEPING = json.dumps(
    {
        "current_streak_perfect": False,
        "freezes_held": 0,
        "freezes_max": 0,
        "next_freeze_in": None,
        "rest_weekdays": [],
        "repair": None,
        "day": {
            "date": "2000-01-01",
            "attempts": 0,
            "correct": 0,
            "goal": {"unit": "attempts", "target": 1, "done": 0, "met": False, "met_at": None},
        },
        "week": None,
        "weekly_streak": 0,
    }
)
TEMPLATE_NO_KEEPING = NO_KEEPING.replace("{", "{{").replace("}", "}}")  # a literal in a str.format template
# the page by column, as v4 sends it (queries._rows)
OLD_RECENT_BY_COLUMN = (
    "(SELECT jsonb_build_object("
    + ", ".join(
        f"'{field}', coalesce(jsonb_agg(e -> '{field}' ORDER BY n), '[]')"
        for field in ("id", "exercise_id", "is_correct", "user_answer", "created_at", "session_id")
    )
    + ") FROM jsonb_array_elements(r -> 'recent') WITH ORDINALITY AS x(e, n))"
)
OLD_PROGRESS_SQL = (
    "SELECT jsonb_set(jsonb_set(r, ARRAY['streak'], (r -> 'streak') || "
    + OLD_STATUS
    + " || '"
    + TEMPLATE_NO_KEEPING
    + "'), ARRAY['recent'], "
    + OLD_RECENT_BY_COLUMN
    + ")::text"
    " FROM (SELECT progress_read_progress_v2(CAST({user_id} AS bigint), CAST({now} AS timestamptz),"
    " coalesce(CAST({cursor_at} AS timestamptz), 'infinity'), CAST({cursor_id} AS bigint),"
    " CAST({fetch} AS integer))::jsonb AS r) old"
)
OLD_STATISTICS_SQL = (
    "SELECT jsonb_set(jsonb_set(r, ARRAY['streak'], (r -> 'streak') || '"
    + TEMPLATE_NO_KEEPING
    + "'), ARRAY['daily'],"
    # the series by column, as v4 sends it, with no kind and no goal met (the old release had neither)
    " (SELECT jsonb_build_object('from', (array_agg(d ->> 0 ORDER BY n))[1],"
    " 'attempts', jsonb_agg(d -> 1 ORDER BY n), 'correct', jsonb_agg(d -> 2 ORDER BY n),"
    " 'covered', jsonb_agg(d -> 3 ORDER BY n), 'kind', jsonb_agg('null'::jsonb ORDER BY n),"
    " 'goal_met', jsonb_agg('false'::jsonb ORDER BY n))"
    " FROM jsonb_array_elements(r -> 'daily') WITH ORDINALITY AS e(d, n)))::text"
    " FROM (SELECT progress_read_statistics_v2(CAST({user_id} AS bigint), CAST({now} AS timestamptz),"
    " CAST({days} AS integer))::jsonb AS r) old"
)
# what the releases since added: not compared
NEW_FIELDS = ("streak_status", "data_complete_through", *json.loads(NO_KEEPING), "today")


def figures(engine: Engine, user: int) -> dict[str, Any]:
    with engine.connect() as conn:
        old_schema = conn.execute(text("SELECT to_regclass('ingest_watermark') IS NULL")).scalar_one()
    with pytest.MonkeyPatch.context() as patch:
        if old_schema:
            patch.setattr(queries, "PROGRESS_SQL", OLD_PROGRESS_SQL)
            patch.setattr(queries, "STATISTICS_SQL", OLD_STATISTICS_SQL)
        progress = get_progress(user, limit=100, engine=engine).model_dump(exclude=set(NEW_FIELDS))
        statistics = get_statistics(user, days=366, engine=engine).model_dump(
            exclude={**dict.fromkeys(NEW_FIELDS, True), "daily": {"__all__": {"kind", "goal_met"}}}
        )
    return {"progress": progress, "statistics": statistics}


def test_upgrade_keeps_every_figure_and_repairs_shared_sessions(old_database) -> None:
    settings, engine = old_database
    users = [random.randrange(1, 2**40) for _ in range(8)]
    owner, intruder = fill_like_the_old_releases(engine, users, seed=11)
    # a learner whose yesterday was missed before the upgrade, and one who practised today and yesterday:
    # no freeze saves the first, and the second's expiry stays (the starter freezes come after the upgrade)
    missed_yesterday, practised_today = users[0] + 1, users[0] + 2
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at) VALUES"
                " (:a, 1, true, now() - interval '3 days'), (:a, 1, true, now() - interval '2 days'),"
                " (:b, 1, true, now() - interval '1 day'), (:b, 1, true, now())"
            ),
            {"a": missed_yesterday, "b": practised_today},
        )
    users += [missed_yesterday, practised_today]
    assert migrate(settings, BEFORE_THIS_CHANGE) == BEFORE_THIS_CHANGE
    before = {user: figures(engine, user) for user in users}
    assert before[missed_yesterday]["progress"]["current_streak"] == 0
    assert before[practised_today]["progress"]["current_streak"] == 2
    assert before[owner]["statistics"]["sessions"]["average_exercises"] is not None

    # with the deployment's default streak limits (2 starter freezes, earning every 7th day): the rules
    # start at the upgrade, no past figure changes
    set_streak_settings(StreakSettings())
    try:
        migrate(settings)
    finally:
        set_streak_settings(None)

    after = {user: figures(engine, user) for user in users}
    shared = owner * 10 + 99
    # the intruder's attempt left the owner's session: that is the one thing that changes for the intruder
    for attempt in before[intruder]["progress"]["recent_attempts"]:
        if attempt["session_id"] == shared:
            attempt["session_id"] = None
    for user in users:
        if user == owner:
            continue
        assert differences(before[user], after[user]) == {}, user
    # the owner's figures are the same except the session the intruder's attempt has left
    for key in ("progress", "statistics"):
        assert {k: v for k, v in after[owner][key].items() if k != "sessions"} == {
            k: v for k, v in before[owner][key].items() if k != "sessions"
        }
    with engine.connect() as conn:
        shared = owner * 10 + 99
        assert (
            conn.execute(text("SELECT total_exercises FROM sessions WHERE id = :s"), {"s": shared}).scalar()
            == 1
        )
        assert (
            conn.execute(
                text("SELECT count(*) FROM attempts WHERE session_id = :s AND user_id <> :u"),
                {"s": shared, "u": owner},
            ).scalar()
            == 0
        )
        assert conn.execute(text("SELECT count(*) FROM attempts WHERE local_day IS NULL")).scalar() == 0
        assert (
            conn.execute(text("SELECT count(*) FROM attempts_archive WHERE local_day IS NULL")).scalar() == 0
        )
        assert conn.execute(
            text("SELECT bool_and(convalidated) FROM pg_constraint WHERE contype IN ('c', 'f')")
        ).scalar()
        assert conn.execute(text("SELECT to_regclass('progress_local_day_zone')")).scalar() is None
    for user in users:
        assert_aggregates_match_rows(engine, user)
    admin = make_engine(settings, pool_size=1, autocommit=False)
    try:
        with admin.connect() as conn:
            assert drift(conn) == []
    finally:
        admin.dispose()
    assert reset_progress(owner, engine=engine).deleted.sessions >= 1
    assert reset_progress(intruder, engine=engine).profile_reset


def test_backfill_runs_in_batches_and_an_interrupted_upgrade_runs_again(old_database, monkeypatch) -> None:
    settings, engine = old_database
    users = [random.randrange(1, 2**40) for _ in range(5)]
    fill_like_the_old_releases(engine, users, seed=5)
    migrate(settings, BEFORE_THIS_CHANGE)
    before = {user: figures(engine, user) for user in users}
    with engine.connect() as conn:
        total = conn.execute(
            text("SELECT (SELECT count(*) FROM attempts) + (SELECT count(*) FROM attempts_archive)")
        ).scalar()

    original = backfill.backfill_local_days
    seen: list[tuple[str, int, int]] = []

    def interrupted(conn: Any, **_: Any) -> int:
        original(conn, batch_rows=5, max_batches=3, on_batch=lambda *batch: seen.append(batch))
        raise RuntimeError("killed mid-backfill")

    monkeypatch.setattr(backfill, "backfill_local_days", interrupted)
    with pytest.raises(RuntimeError, match="killed mid-backfill"):
        migrate(settings)
    monkeypatch.setattr(backfill, "backfill_local_days", original)

    # three batches of at most five ids each committed; the rest is still to do; the version is 0006
    assert len(seen) == 3 and all(updated <= 5 for _, _, updated in seen)
    with engine.connect() as conn:
        filled = conn.execute(
            text(
                "SELECT (SELECT count(local_day) FROM attempts) + (SELECT count(local_day) FROM attempts_archive)"
            )
        ).scalar()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"
    assert 0 < filled == sum(updated for _, _, updated in seen) < total

    migrate(settings)  # run again: it finishes

    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() != "0006"
        assert conn.execute(text("SELECT count(*) FROM attempts WHERE local_day IS NULL")).scalar() == 0
    after = {user: figures(engine, user) for user in users}
    # users[0] and users[1] shared a session, repaired (see the test above); every other figure is kept
    for user in users[2:]:
        assert differences(before[user], after[user]) == {}, user
    for user in users:
        assert_aggregates_match_rows(engine, user)


def test_upgrade_moves_unreadable_times_out_of_every_figure(old_database) -> None:
    settings, engine = old_database
    user, twin = random.randrange(1, 2**40), random.randrange(1, 2**40)
    now = dt.datetime.now(UTC)
    history = [
        {
            "exercise_id": n % 3,
            "is_correct": n % 2 == 0,
            "created_at": now - dt.timedelta(days=n // 2, hours=n),
            "session_id": None,
        }
        for n in range(8)
    ]
    _old_write(engine, [{**row, "user_id": user, "session_id": user * 10} for row in history])
    _old_write(engine, [{**row, "user_id": twin, "session_id": twin * 10} for row in history])
    migrate(settings, BEFORE_THIS_CHANGE)
    with engine.connect() as conn:  # what a legacy writer could store before the constraints
        for created_at in ("0001-01-01 00:00:00+05 BC", "infinity", "1970-01-01 00:00:00+00"):
            conn.execute(
                text(
                    "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at, session_id)"
                    " VALUES (:u, 1, true, CAST(:t AS timestamptz), :s)"
                ),
                {"u": user, "t": created_at, "s": user * 10},
            )
    with pytest.raises(Exception):  # the bug of issue 11.2: this user's GETs fail
        figures(engine, user)

    migrate(settings)

    mine, twins = figures(engine, user), figures(engine, twin)
    for key in ("progress", "statistics"):
        for result in (mine, twins):
            result[key].pop("user_id")
            for attempt in result[key].get("recent_attempts", []):
                attempt.pop("id")
                attempt.pop("session_id")
    assert mine == twins  # exactly the figures of the same history without the unreadable rows
    assert_aggregates_match_rows(engine, user)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM attempts_quarantine WHERE user_id = :u"), {"u": user}
            ).scalar()
            == 3
        )
        assert (
            conn.execute(
                text("SELECT total_exercises FROM sessions WHERE id = :s"), {"s": user * 10}
            ).scalar()
            == 8
        )
    reset_progress(user, engine=engine)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM attempts_quarantine WHERE user_id = :u"), {"u": user}
            ).scalar()
            == 0
        )


def test_upgrade_gives_profiles_of_misread_links_the_zone_they_link_to(old_database) -> None:
    """0010: a profile stored with CET (which PostgreSQL reads as a fixed +01:00) gets Europe/Brussels; other
    profiles and every practice day already written stay as they are; running it again changes nothing."""
    from progress_common.models import POSTGRES_ABBREVIATION_LINKS

    settings, engine = old_database
    migrate(settings, "0009")
    names = [*POSTGRES_ABBREVIATION_LINKS, "Europe/Berlin", "UTC"]
    with engine.connect() as conn:
        for user, name in enumerate(names, start=1):
            conn.execute(
                text("INSERT INTO user_profiles (user_id, timezone) VALUES (:u, :tz)"),
                {"u": user, "tz": name},
            )
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " VALUES (1, 1, true, '2026-07-01T22:30:00Z')"
            )
        )
        day_before = conn.execute(text("SELECT local_day FROM attempts WHERE user_id = 1")).scalar_one()
    for _ in range(2):
        migrate(settings)
        with engine.connect() as conn:
            stored = dict(conn.execute(text("SELECT user_id, timezone FROM user_profiles")).all())
            day_after = conn.execute(text("SELECT local_day FROM attempts WHERE user_id = 1")).scalar_one()
        assert stored == {
            user: POSTGRES_ABBREVIATION_LINKS.get(name, name) for user, name in enumerate(names, start=1)
        }
        assert day_after == day_before == dt.date(2026, 7, 1)  # written under 0009's rules: history is fixed
