"""The schema keeps its aggregates right whoever writes, and keeps bad data out."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from progress_common.db import sqlstate
from progress_common.settings import get_settings
from progress_schema.database import migrate
from tests.conftest import TABLES, insert_attempts_sql
from tests.helpers import aggregates_of, assert_aggregates_match_rows

UTC = dt.UTC


def at(day: str, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def test_plain_sql_inserts_are_counted_in_every_aggregate(db: Engine, new_user_id) -> None:
    user, other = new_user_id(), new_user_id()
    insert_attempts_sql(
        db,
        [
            {"user_id": user, "exercise_id": 1, "is_correct": True, "created_at": at("2026-03-01", 9)},
            {"user_id": user, "exercise_id": 1, "is_correct": False, "created_at": at("2026-03-01", 10)},
            {"user_id": user, "exercise_id": 2, "is_correct": True, "created_at": at("2026-03-02", 8)},
            {"user_id": user, "exercise_id": 3, "is_correct": True, "created_at": at("2026-03-04", 8)},
            {"user_id": other, "exercise_id": 1, "is_correct": True, "created_at": at("2026-03-01", 9)},
        ],
    )
    agg = aggregates_of(db, user)
    assert agg["profile"]["total_attempts"] == 4
    assert agg["profile"]["correct_attempts"] == 3
    assert agg["daily"] == [
        (dt.date(2026, 3, 1), 2, 1),
        (dt.date(2026, 3, 2), 1, 1),
        (dt.date(2026, 3, 4), 1, 1),
    ]
    assert [(e[0], e[1], e[2]) for e in agg["exercises"]] == [(1, 2, 1), (2, 1, 1), (3, 1, 1)]
    # run ending at the last practice day is 1 (03-04), the longest run is 2 (03-01, 03-02)
    assert agg["profile"]["current_streak"] == 1
    assert agg["profile"]["longest_streak"] == 2
    assert agg["profile"]["last_practice_date"] == dt.date(2026, 3, 4)
    assert_aggregates_match_rows(db, user)
    assert aggregates_of(db, other)["profile"]["total_attempts"] == 1


def test_one_multi_row_statement_and_out_of_order_days(db: Engine, new_user_id) -> None:
    user = new_user_id()
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at) VALUES"
                " (:u, 5, true, '2026-01-10T10:00Z'), (:u, 5, false, '2026-01-12T10:00Z')"
            ),
            {"u": user},
        )
        # a late, back-dated attempt that joins the two days into one run
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at) VALUES (:u, 6, true, :t)"
            ),
            {"u": user, "t": at("2026-01-11")},
        )
    agg = aggregates_of(db, user)
    assert agg["profile"]["longest_streak"] == 3
    assert agg["profile"]["current_streak"] == 3
    assert_aggregates_match_rows(db, user)


def test_legacy_session_ids_create_and_update_sessions(db: Engine, new_user_id) -> None:
    user = new_user_id()
    session_id = 900_000 + new_user_id() % 1000
    insert_attempts_sql(
        db,
        [
            {
                "user_id": user,
                "exercise_id": 1,
                "is_correct": True,
                "created_at": at("2026-02-01", 9),
                "session_id": session_id,
            },
            {
                "user_id": user,
                "exercise_id": 2,
                "is_correct": False,
                "created_at": at("2026-02-01", 9, 5),
                "session_id": session_id,
            },
        ],
    )
    with db.connect() as conn:
        row = conn.execute(text("SELECT * FROM sessions WHERE id = :s"), {"s": session_id}).mappings().one()
        profile = conn.execute(
            text(
                "SELECT session_count, session_exercises_sum, session_accuracy_sum FROM user_profiles"
                " WHERE user_id = :u"
            ),
            {"u": user},
        ).one()
    assert row["user_id"] == user
    assert (row["total_exercises"], row["correct_answers"]) == (2, 1)
    assert row["started_at"] == at("2026-02-01", 9) and row["ended_at"] == at("2026-02-01", 9, 5)
    assert profile[0] == 1 and profile[1] == 2 and profile[2] == pytest.approx(0.5)
    assert_aggregates_match_rows(db, user)


def test_session_of_another_user_is_refused_and_nothing_is_written(db: Engine, new_user_id) -> None:
    owner, intruder = new_user_id(), new_user_id()
    insert_attempts_sql(
        db,
        [
            {
                "user_id": owner,
                "exercise_id": 1,
                "is_correct": True,
                "created_at": at("2026-02-01"),
                "session_id": 4242,
            }
        ],
    )
    with pytest.raises(sa_exc.DBAPIError, match="belongs to another user"):
        insert_attempts_sql(
            db,
            [
                {
                    "user_id": intruder,
                    "exercise_id": 1,
                    "is_correct": True,
                    "created_at": at("2026-02-01"),
                    "session_id": 4242,
                }
            ],
        )
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM attempts WHERE user_id = :u"), {"u": intruder}).scalar()
            == 0
        )
    assert aggregates_of(db, intruder)["profile"] is None


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("user_id", None),
        ("exercise_id", None),
        ("is_correct", None),
        ("user_answer", "x" * 10_001),
        ("user_id", -1),
    ],
)
def test_constraints_keep_bad_rows_out(db: Engine, column: str, value: object) -> None:
    row = {
        "user_id": 1,
        "exercise_id": 1,
        "is_correct": True,
        "user_answer": "",
        "created_at": at("2026-01-01"),
        "session_id": None,
    }
    row[column] = value
    with pytest.raises(sa_exc.DBAPIError) as info:
        insert_attempts_sql(db, [row])
    assert (sqlstate(info.value) or "").startswith("23")  # integrity constraint violation
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attempts")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM user_profiles")).scalar() == 0


def test_attempt_uid_is_unique(db: Engine) -> None:
    uid = uuid.uuid4()
    sql = text(
        "INSERT INTO attempts (user_id, exercise_id, is_correct, attempt_uid) VALUES (1, 1, true, :uid)"
    )
    with db.connect() as conn:
        conn.execute(sql, {"uid": str(uid)})
    with pytest.raises(sa_exc.DBAPIError) as info, db.connect() as conn:
        conn.execute(sql, {"uid": str(uid)})
    assert sqlstate(info.value) == "23505"
    assert aggregates_of(db, 1)["profile"]["total_attempts"] == 1


def test_timezone_change_moves_no_practice_day(db: Engine, new_user_id) -> None:
    user = new_user_id()
    # 2026-07-01 06:30 UTC is still 2026-06-30 in Los Angeles (UTC-7 in summer): but the day was fixed in
    # UTC when the attempt was written, and a later change of timezone does not move it
    insert_attempts_sql(
        db, [{"user_id": user, "exercise_id": 1, "is_correct": True, "created_at": at("2026-07-01", 6, 30)}]
    )
    assert aggregates_of(db, user)["daily"] == [(dt.date(2026, 7, 1), 1, 1)]
    with db.connect() as conn:
        changed = conn.execute(
            text("SELECT progress_set_timezone_v1(:u, 'America/Los_Angeles')"), {"u": user}
        )
        assert changed.scalar() is True
    agg = aggregates_of(db, user)
    assert agg["daily"] == [(dt.date(2026, 7, 1), 1, 1)]
    assert agg["profile"]["timezone"] == "America/Los_Angeles"
    assert agg["profile"]["last_practice_date"] == dt.date(2026, 7, 1)
    # the next plain-SQL insert gets its day in the new timezone
    insert_attempts_sql(
        db, [{"user_id": user, "exercise_id": 1, "is_correct": True, "created_at": at("2026-07-02", 6, 30)}]
    )
    assert aggregates_of(db, user)["daily"] == [(dt.date(2026, 7, 1), 2, 2)]
    assert_aggregates_match_rows(db, user)
    with pytest.raises(sa_exc.DBAPIError), db.connect() as conn:
        conn.execute(text("SELECT progress_set_timezone_v1(:u, 'Mars/Olympus_Mons')"), {"u": user})
    assert aggregates_of(db, user)["profile"]["timezone"] == "America/Los_Angeles"


def test_indexes_on_user_id_everywhere(db: Engine) -> None:
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'")
        ).all()
        # every table with a user_id column, a future one too: not only the ones this suite knows
        with_user_id = set(
            conn.execute(
                text(
                    "SELECT c.table_name FROM information_schema.columns c"
                    " JOIN information_schema.tables t USING (table_schema, table_name)"
                    " WHERE c.table_schema = 'public' AND c.column_name = 'user_id'"
                    " AND t.table_type = 'BASE TABLE'"
                )
            ).scalars()
        )
    indexed = {t for t, d in rows if "(user_id" in d}  # user_id leads the index
    assert set(TABLES) <= with_user_id
    assert with_user_id <= indexed, with_user_id - indexed


def test_migrate_twice_is_harmless(db: Engine) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from progress_schema.database import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    assert migrate(get_settings()) == head
    assert migrate(get_settings()) == head
