"""Write-side integrity: days fixed when written, the newest timezone wins, a duplicate changes nothing,
sessions are owned under races, stored rows never break a read, and a batch is one statement."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy import exc as sa_exc

from progress_common import db as common_db
from progress_common.db import make_engine, sqlstate
from progress_common.errors import DatabaseUnavailableError, SessionOwnershipError
from progress_common.models import AttemptMessage
from progress_common.observability import metrics
from progress_common.queries import get_progress, get_statistics
from progress_common.settings import get_settings, load_settings
from progress_common.writes import (
    reset_progress,
    save_attempts,
    save_user_attempt_to_db,
    timezones_unknown_to_database,
    write_attempts,
)
from tests.conftest import StatementCounter, insert_attempts_sql
from tests.events import FakeLambdaContext, attempt_body, sqs_event, sqs_record
from tests.faults import CuttingProxy, silent_server
from tests.helpers import assert_aggregates_match_rows
from tests.test_write_path import emitted_metrics, log_lines

UTC = dt.UTC


def ago(**delta: float) -> dt.datetime:
    return dt.datetime.now(UTC) - dt.timedelta(**delta)


def message(user: int, **fields: Any) -> AttemptMessage:
    base: dict[str, Any] = {
        "attempt_uid": uuid.uuid4(),
        "user_id": user,
        "exercise_id": 1,
        "is_correct": True,
        "user_answer": "x",
        "created_at": ago(hours=1),
    }
    return AttemptMessage(**{**base, **fields})


def new_session_id() -> int:
    return secrets.randbelow(2**50) + 1


def profile_row(db: Engine, user: int) -> dict[str, Any] | None:
    with db.connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM user_profiles WHERE user_id = :u"), {"u": user})
            .mappings()
            .first()
        )
    return dict(row) if row else None


def local_days(db: Engine, user: int) -> list[dt.date]:
    with db.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT local_day FROM attempts WHERE user_id = :u"
                    " UNION ALL SELECT local_day FROM attempts_archive WHERE user_id = :u ORDER BY 1"
                ),
                {"u": user},
            ).scalars()
        )


def everything_of(db: Engine, user: int) -> dict[str, Any]:
    """Every row that says something about a user, and both GETs."""
    with db.connect() as conn:
        rows = {
            table: [
                tuple(r)
                for r in conn.execute(
                    text(f"SELECT * FROM {table} WHERE user_id = :u ORDER BY 1, 2"), {"u": user}
                )
            ]
            for table in (
                "attempts",
                "attempts_archive",
                "sessions",
                "user_daily_stats",
                "user_exercise_stats",
            )
        }
    return {
        **rows,
        "profile": profile_row(db, user),
        "progress": get_progress(user).model_dump(),
        "statistics": get_statistics(user, days=30).model_dump(),
    }


# --- 12.1 a practice day is fixed when the attempt is written ---------------------------------------


def test_the_day_is_the_local_date_of_the_message_timezone_and_stays(db: Engine, new_user_id) -> None:
    user = new_user_id()
    # 23:30 in Los Angeles on day d-3 is d-2 in UTC and in Berlin
    la_evening = (
        dt.datetime.combine(dt.date.today() - dt.timedelta(days=3), dt.time(23, 30))
        .replace(tzinfo=__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
        .astimezone(UTC)
    )
    la_day = dt.date.today() - dt.timedelta(days=3)
    save_user_attempt_to_db(message(user, created_at=la_evening, timezone="America/Los_Angeles"))
    # the learner flies to Berlin and practises there: the first day does not move
    save_user_attempt_to_db(message(user, created_at=ago(minutes=5), timezone="Europe/Berlin"))
    berlin_today = dt.datetime.now(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).date()
    assert local_days(db, user) == [la_day, berlin_today]
    daily = {d.date: d.attempts for d in get_statistics(user, days=10).daily if d.attempts}
    assert daily == {la_day: 1, berlin_today: 1}
    assert get_progress(user).timezone == "Europe/Berlin"
    assert_aggregates_match_rows(db, user)


def test_a_message_without_timezone_takes_the_profiles_at_that_moment(db: Engine, new_user_id) -> None:
    user = new_user_id()
    at = dt.datetime(2026, 7, 1, 6, 30, tzinfo=UTC)  # 2026-06-30 in Los Angeles, 2026-07-01 in UTC
    save_user_attempt_to_db(message(user, created_at=at))  # no profile yet: UTC
    save_user_attempt_to_db(
        message(user, created_at=at - dt.timedelta(days=1), timezone="America/Los_Angeles")
    )
    save_user_attempt_to_db(message(user, created_at=at))  # the profile says Los Angeles now
    assert local_days(db, user) == [dt.date(2026, 6, 29), dt.date(2026, 6, 30), dt.date(2026, 7, 1)]
    assert_aggregates_match_rows(db, user)


def test_a_legacy_sql_insert_gets_its_day_in_the_profiles_timezone(db: Engine, new_user_id) -> None:
    user, newcomer = new_user_id(), new_user_id()
    save_user_attempt_to_db(message(user, created_at=ago(days=3), timezone="Asia/Tokyo"))
    at = dt.datetime(2026, 7, 1, 20, 0, tzinfo=UTC)  # 2026-07-02 05:00 in Tokyo
    insert_attempts_sql(
        db,
        [
            {"user_id": user, "exercise_id": 2, "is_correct": True, "created_at": at},
            {"user_id": newcomer, "exercise_id": 2, "is_correct": True, "created_at": at},
        ],
    )
    assert dt.date(2026, 7, 2) in local_days(db, user)
    assert local_days(db, newcomer) == [dt.date(2026, 7, 1)]  # no profile before: UTC
    assert_aggregates_match_rows(db, user)
    assert_aggregates_match_rows(db, newcomer)


def test_a_timezone_change_moves_no_day_and_rebuilds_nothing(db: Engine, new_user_id) -> None:
    user = new_user_id()
    # practised at 00:30 one night and 23:00 the next in Berlin (the example)
    berlin = __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    d2, d1 = dt.date.today() - dt.timedelta(days=2), dt.date.today() - dt.timedelta(days=1)
    for day, clock in ((d2, dt.time(0, 30)), (d1, dt.time(23, 0))):
        at = dt.datetime.combine(day, clock).replace(tzinfo=berlin).astimezone(UTC)
        save_user_attempt_to_db(message(user, created_at=at, timezone="Europe/Berlin"))
    before = get_statistics(user, days=5)
    with db.connect() as conn:
        daily_xmin = conn.execute(
            text("SELECT array_agg(xmin::text ORDER BY day) FROM user_daily_stats WHERE user_id = :u"),
            {"u": user},
        ).scalar_one()
        conn.execute(text("SELECT progress_set_timezone_v1(:u, 'America/New_York')"), {"u": user})
        # not one per-day row was rewritten
        assert (
            conn.execute(
                text("SELECT array_agg(xmin::text ORDER BY day) FROM user_daily_stats WHERE user_id = :u"),
                {"u": user},
            ).scalar_one()
            == daily_xmin
        )
    after = get_statistics(user, days=5)
    assert [d for d in after.daily if d.attempts] == [d for d in before.daily if d.attempts]
    assert {d.date for d in after.daily if d.attempts} == {d2, d1}
    assert after.longest_streak == 2
    assert get_progress(user).timezone == "America/New_York"


# --- 12.2 the newest timezone wins ------------------------------------------------------------------


def test_the_newest_attempt_that_named_a_timezone_sets_it(db: Engine, new_user_id) -> None:
    user = new_user_id()
    newest = message(user, created_at=ago(minutes=10), timezone="Europe/Berlin")
    save_user_attempt_to_db(newest)
    # a late delivery of an older attempt, and a retry of an old one, do not move it back
    save_user_attempt_to_db(message(user, created_at=ago(days=2), timezone="Asia/Tokyo"))
    assert get_progress(user).timezone == "Europe/Berlin"
    assert save_user_attempt_to_db(newest.model_copy(update={"timezone": "America/Chicago"})) == "duplicate"
    assert get_progress(user).timezone == "Europe/Berlin"
    # an attempt without timezone does not change it; a newer one naming one does
    save_user_attempt_to_db(message(user, created_at=ago(minutes=1)))
    assert get_progress(user).timezone == "Europe/Berlin"
    save_user_attempt_to_db(message(user, created_at=ago(minutes=2), timezone="America/Sao_Paulo"))
    assert get_progress(user).timezone == "America/Sao_Paulo"


@pytest.mark.parametrize("newest_first", [True, False])
def test_within_one_batch_the_newest_timezone_wins_in_any_order(
    db: Engine, new_user_id, newest_first
) -> None:
    user = new_user_id()
    newer = message(user, created_at=ago(minutes=3), timezone="Australia/Lord_Howe")
    older = message(user, created_at=ago(hours=5), timezone="America/Los_Angeles")
    batch = [newer, older] if newest_first else [older, newer]
    assert write_attempts(batch) == ["written", "written"]
    assert get_progress(user).timezone == "Australia/Lord_Howe"


# --- 11.4 a duplicate changes nothing ---------------------------------------------------------------


def test_a_duplicate_changes_nothing_at_all(db: Engine, new_user_id) -> None:
    user, stranger = new_user_id(), new_user_id()
    original = message(user, created_at=ago(days=1), timezone="Europe/Berlin", session_id=new_session_id())
    save_user_attempt_to_db(original)
    save_user_attempt_to_db(message(user, created_at=ago(minutes=30)))
    before = everything_of(db, user)
    retries = [
        original,
        original.model_copy(update={"timezone": "Asia/Tokyo", "created_at": ago(minutes=1)}),
        original.model_copy(update={"is_correct": False, "exercise_id": 99, "timezone": None}),
    ]
    for retry in retries:
        assert save_user_attempt_to_db(retry) == "duplicate"
    assert write_attempts(retries) == ["duplicate"] * 3
    assert everything_of(db, user) == before  # updated_at included
    # the same uid under another user id creates nothing for that user
    assert save_user_attempt_to_db(original.model_copy(update={"user_id": stranger})) == "duplicate"
    assert profile_row(db, stranger) is None


def test_a_duplicate_of_an_archived_attempt_changes_nothing(db: Engine, new_user_id) -> None:
    user, stranger = new_user_id(), new_user_id()
    old = message(user, created_at=ago(days=400), timezone="Europe/Berlin")
    save_user_attempt_to_db(old)
    with db.connect() as conn:
        conn.execute(text("SELECT progress_archive_batch_v1(now() - interval '365 days', 100)"))
    before = everything_of(db, user)
    newer_claim = old.model_copy(update={"timezone": "Asia/Tokyo", "created_at": ago(minutes=1)})
    assert save_user_attempt_to_db(newer_claim) == "duplicate"
    assert save_user_attempt_to_db(old.model_copy(update={"user_id": stranger})) == "duplicate"
    assert everything_of(db, user) == before
    assert profile_row(db, stranger) is None


def test_a_repeated_uid_within_one_batch_is_written_once(db: Engine, new_user_id) -> None:
    user = new_user_id()
    first = message(user, timezone="Europe/Berlin", created_at=ago(hours=2))
    again = first.model_copy(update={"timezone": "Asia/Tokyo", "created_at": ago(minutes=1)})
    assert write_attempts([first, again]) == ["written", "duplicate"]
    assert get_progress(user).total_attempts == 1
    assert get_progress(user).timezone == "Europe/Berlin"


# --- 11.1 sessions under races ----------------------------------------------------------------------


def _race(engines: list[Engine], writers: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(writers))
    results: list[Any] = [None] * len(writers)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = writers[index](engines[index])
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture
def two_engines(engine: Engine):
    engines = [make_engine(get_settings(), pool_size=1) for _ in range(2)]
    yield engines
    for e in engines:
        e.dispose()


def _session_rows(db: Engine, session_id: int) -> tuple[Any, list[int]]:
    with db.connect() as conn:
        session = conn.execute(
            text("SELECT user_id, total_exercises FROM sessions WHERE id = :s"), {"s": session_id}
        ).one()
        users = conn.execute(
            text("SELECT DISTINCT user_id FROM attempts WHERE session_id = :s"), {"s": session_id}
        ).scalars()
        return tuple(session), sorted(users)


@pytest.mark.parametrize("writer", ["layer", "plain_sql"])
def test_two_users_racing_for_a_new_session_never_share_it(db, two_engines, new_user_id, writer) -> None:
    now = ago(minutes=1)

    def layer_writer(user: int, session_id: int):
        def write(engine: Engine) -> str:
            return save_user_attempt_to_db(
                message(user, session_id=session_id, created_at=now), engine=engine
            )

        return write

    def sql_writer(user: int, session_id: int):
        def write(engine: Engine) -> str:
            insert_attempts_sql(
                engine,
                [
                    {
                        "user_id": user,
                        "exercise_id": 1,
                        "is_correct": True,
                        "created_at": now,
                        "session_id": session_id,
                    }
                ],
            )
            return "written"

        return write

    make = layer_writer if writer == "layer" else sql_writer
    for _ in range(60):
        users = [new_user_id(), new_user_id()]
        session_id = new_session_id()
        results = _race(two_engines, [make(u, session_id) for u in users])
        written = [u for u, r in zip(users, results, strict=True) if r == "written"]
        refused = [r for r in results if r != "written"]
        assert len(written) == 1, results
        assert len(refused) == 1
        if writer == "layer":
            assert isinstance(refused[0], SessionOwnershipError)
        else:
            assert sqlstate(refused[0]) == "PR001"
        (owner, total), users_in_session = _session_rows(db, session_id)
        assert (owner, total, users_in_session) == (written[0], 1, written)
        for user in users:
            assert_aggregates_match_rows(db, user)
            reset_progress(user)


def test_two_users_claiming_one_new_session_in_one_batch(db: Engine, new_user_id, load_function) -> None:
    first, second = new_user_id(), new_user_id()
    session_id = new_session_id()
    bodies = {
        "second-user": attempt_body(
            user_id=second, session_id=session_id, created_at=ago(minutes=5).isoformat()
        ),
        "first-user": attempt_body(
            user_id=first, session_id=session_id, created_at=ago(minutes=9).isoformat()
        ),
        "first-user-again": attempt_body(
            user_id=first, session_id=session_id, created_at=ago(minutes=1).isoformat()
        ),
    }
    handler = load_function("record_attempts").lambda_handler
    result = handler(
        sqs_event(*(sqs_record(b, message_id=m) for m, b in bodies.items())), FakeLambdaContext()
    )
    # the session belongs to the user of its first attempt; the other user's attempt is refused alone
    assert result == {"batchItemFailures": [{"itemIdentifier": "second-user"}]}
    assert _session_rows(db, session_id) == ((first, 2), [first])
    assert profile_row(db, second) is None
    assert_aggregates_match_rows(db, first)


def test_reset_is_never_blocked_by_another_users_rows(db: Engine, new_user_id) -> None:
    owner, other = new_user_id(), new_user_id()
    session_id = new_session_id()
    save_user_attempt_to_db(message(owner, session_id=session_id))
    # a row the rules refuse, as a database from before the fix may hold one (triggers off to plant it)
    with db.connect() as conn:
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, session_id, local_day)"
                " VALUES (:u, 1, true, :s, current_date)"
            ),
            {"u": other, "s": session_id},
        )
        conn.execute(text("RESET session_replication_role"))
    assert reset_progress(owner).deleted.sessions == 1
    with db.connect() as conn:
        assert (
            conn.execute(
                text("SELECT session_id FROM attempts WHERE user_id = :u"), {"u": other}
            ).scalar_one()
            is None
        )


# --- 11.2 no stored row can make a GET fail ---------------------------------------------------------


@pytest.mark.parametrize(
    "created_at",
    [
        "0001-01-01T00:00:00+05:00",
        "0044-03-15 12:00:00+00 BC",
        "infinity",
        "-infinity",
        "1999-12-31T23:59:59Z",
    ],
)
def test_a_legacy_insert_cannot_store_a_time_a_read_cannot_show(db: Engine, new_user_id, created_at) -> None:
    user = new_user_id()
    save_user_attempt_to_db(message(user))
    with pytest.raises(sa_exc.DBAPIError) as info, db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " VALUES (:u, 1, true, CAST(:t AS timestamptz))"
            ),
            {"u": user, "t": created_at},
        )
    assert sqlstate(info.value) == "23514"  # check_violation
    assert get_progress(user).total_attempts == 1
    assert get_statistics(user).total_attempts == 1


# --- 14.2 one statement per batch -------------------------------------------------------------------


def test_a_valid_batch_is_one_statement_with_an_outcome_per_message(
    db, count_sql, new_user_id, load_function
):
    users = [new_user_id() for _ in range(3)]
    known = message(users[0])
    save_user_attempt_to_db(known)
    bodies = {f"m{i}": attempt_body(user_id=users[i % 3], exercise_id=i) for i in range(9)}
    bodies["dup"] = known.model_dump_json()
    handler = load_function("record_attempts").lambda_handler
    count_sql.reset()
    result = handler(
        sqs_event(*(sqs_record(b, message_id=m) for m, b in bodies.items())), FakeLambdaContext()
    )
    assert result == {"batchItemFailures": []}
    assert count_sql.count == 1
    assert sum(get_progress(u).total_attempts for u in users) == 10


@contextmanager
def refusing_exercise_666(db: Engine) -> Iterator[None]:
    """A data error the models cannot see: a rule another team added to the table refuses exercise 666."""
    with db.connect() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION test_refuse_exercise_666() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN IF NEW.exercise_id = 666 THEN RAISE EXCEPTION 'refused' USING ERRCODE = '22000';"
                " END IF; RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER test_refuse_exercise_666 BEFORE INSERT ON attempts"
                " FOR EACH ROW EXECUTE FUNCTION test_refuse_exercise_666()"
            )
        )
    try:
        yield
    finally:
        with db.connect() as conn:
            conn.execute(text("DROP TRIGGER test_refuse_exercise_666 ON attempts"))
            conn.execute(text("DROP FUNCTION test_refuse_exercise_666()"))


def test_when_the_batch_statement_fails_each_message_is_written_alone(
    db, count_sql, new_user_id, load_function, capsys, captured_logs
):
    """A data error the models cannot see (here: a rule another team added to the table) fails its message
    only: the batch statement fails as a whole, then each message is written on its own, with its own
    outcome (a duplicate stays a duplicate, another user's session is refused) in the logs and metrics."""
    user, owner = new_user_id(), new_user_id()
    foreign_session = new_session_id()
    save_user_attempt_to_db(message(owner, session_id=foreign_session))
    known = message(user, exercise_id=7)
    save_user_attempt_to_db(known)
    bad_uid, foreign_uid = str(uuid.uuid4()), str(uuid.uuid4())
    with refusing_exercise_666(db):
        bodies = {f"ok{i}": attempt_body(user_id=user, exercise_id=i) for i in range(4)}
        bodies["bad"] = attempt_body(user_id=user, exercise_id=666, attempt_uid=bad_uid)
        bodies["dup"] = known.model_dump_json()
        bodies["foreign"] = attempt_body(user_id=user, session_id=foreign_session, attempt_uid=foreign_uid)
        handler = load_function("record_attempts").lambda_handler
        count_sql.reset()
        metrics.clear_metrics()  # nothing added outside a handler by earlier tests
        capsys.readouterr()
        result = handler(
            sqs_event(
                *(sqs_record(b, message_id=m) for m, b in bodies.items()),
                sqs_record("{}", message_id="poison"),
            ),
            FakeLambdaContext(),
        )
        statements = list(count_sql.statements)
    assert result == {"batchItemFailures": [{"itemIdentifier": m} for m in ("bad", "foreign", "poison")]}
    assert len(statements) == 1 + len(bodies)  # the batch once, then each valid message once
    assert get_progress(user).total_attempts == 5
    assert_aggregates_match_rows(db, user)
    assert emitted_metrics(capsys.readouterr().out) == {
        "AttemptsRecorded": 4,
        "AttemptsDuplicate": 1,
        "AttemptsFailed": 2,
        "AttemptsRejected": 1,
    }
    logs = captured_logs()
    (fallback,) = log_lines(logs, "the batch statement failed; writing its messages one at a time")
    assert (fallback["level"], fallback["messages"], fallback["error_type"]) == (
        "WARNING",
        len(bodies),
        "ProgrammingError",  # how SQLAlchemy classes pg8000's errors: the kind, never the values
    )
    (unexpected,) = log_lines(logs, "unexpected error recording an attempt")
    assert (unexpected["level"], unexpected["message_id"], unexpected["attempt_uid"]) == (
        "ERROR",
        "bad",
        bad_uid,
    )
    assert unexpected["error_type"] == "ProgrammingError"
    (refused,) = log_lines(logs, "could not record an attempt")
    assert (refused["level"], refused["message_id"], refused["attempt_uid"], refused["error"]) == (
        "WARNING",
        "foreign",
        foreign_uid,
        "session_owned_by_other_user",
    )


def test_written_alone_an_attempt_with_a_zone_the_database_does_not_know_is_recorded_without_it(
    db, new_user_id, load_function, monkeypatch, capsys, captured_logs
) -> None:
    """Written one at a time (the batch statement failed on another message), an attempt whose timezone the
    layer accepts but the database does not know is still written, as if it named none, and said so."""
    from progress_common import models

    newer = "Mars/Olympus_Mons"  # a name in the layer's list that no PostgreSQL knows
    known_zones = models.iana_timezones()
    monkeypatch.setattr(models, "iana_timezones", lambda: known_zones | {newer})
    user = new_user_id()
    save_user_attempt_to_db(message(user, created_at=ago(days=1), timezone="Asia/Tokyo"))
    uid = str(uuid.uuid4())
    at = dt.datetime.combine(dt.datetime.now(UTC).date() - dt.timedelta(days=1), dt.time(23, 30), UTC)
    bodies = {
        "bad": attempt_body(user_id=user, exercise_id=666),
        "newer-zone": attempt_body(user_id=user, attempt_uid=uid, timezone=newer, created_at=at.isoformat()),
    }
    metrics.clear_metrics()  # nothing added outside a handler by earlier tests
    capsys.readouterr()
    with refusing_exercise_666(db):
        result = load_function("record_attempts").lambda_handler(
            sqs_event(*(sqs_record(b, message_id=m) for m, b in bodies.items())), FakeLambdaContext()
        )
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    with db.connect() as conn:
        day = conn.execute(
            text("SELECT local_day FROM attempts WHERE attempt_uid = :u"), {"u": uid}
        ).scalar_one()
    assert day == (at + dt.timedelta(hours=9)).date()  # the profile's Tokyo, not the unknown zone
    assert get_progress(user).timezone == "Asia/Tokyo"
    assert emitted_metrics(capsys.readouterr().out) == {
        "AttemptsRecorded": 1,
        "AttemptsFailed": 1,
        "AttemptTimezonesNotApplied": 1,
    }
    noted = log_lines(
        captured_logs(),
        "the database does not know the attempt's timezone; recorded in the profile's timezone",
    )
    assert [(n["message_id"], n["attempt_uid"], n["timezone"], n["outcome"]) for n in noted] == [
        ("newer-zone", uid, newer, "written")
    ]
    assert_aggregates_match_rows(db, user)


def test_concurrent_batches_over_the_same_users_in_opposite_orders_never_deadlock(db, new_user_id) -> None:
    users = [new_user_id() for _ in range(6)]
    engines = [make_engine(get_settings(), pool_size=1) for _ in range(4)]
    try:
        for round_ in range(15):
            batches = []
            for index in range(4):
                order = users if index % 2 else list(reversed(users))
                batches.append(
                    [
                        message(u, exercise_id=round_, created_at=ago(days=index, minutes=n))
                        for n, u in enumerate(order)
                    ]
                    * 1
                )

            def writer(batch):
                return lambda engine: write_attempts(batch, engine=engine)

            results = _race(engines, [writer(b) for b in batches])
            for r in results:
                assert r == ["written"] * len(users), r
    finally:
        for e in engines:
            e.dispose()
    for user in users:
        assert get_progress(user).total_attempts == 15 * 4
        assert_aggregates_match_rows(db, user)


def test_an_unavailable_database_fails_the_whole_batch_without_trying_each(
    db, test_database, new_user_id, load_function, capsys, captured_logs
) -> None:
    """A connection error is no message's fault: every message fails (SQS retries them), and the batch is not
    replayed one message at a time against a database that is not there."""
    user = new_user_id()
    handler = load_function("record_attempts").lambda_handler
    # the service's database behind a proxy that can vanish (a lost network path; an RDS failover)
    proxy = CuttingProxy(test_database.url)
    through_proxy = make_engine(load_settings({"DATABASE_URL": proxy.url_for(test_database.url)}))
    dials: list[int] = []
    event.listen(through_proxy, "do_connect", lambda *args: dials.append(1))
    statements = StatementCounter()
    event.listen(through_proxy, "before_cursor_execute", statements)
    previous, common_db._engine = common_db._engine, through_proxy
    bodies = {f"n{i}": attempt_body(user_id=user, exercise_id=i) for i in range(3)}
    try:
        first = {f"m{i}": attempt_body(user_id=user, exercise_id=i) for i in range(3)}
        assert handler(sqs_event(*(sqs_record(b) for b in first.values())), FakeLambdaContext()) == {
            "batchItemFailures": []
        }
        # the pooled connection is cut and nothing listens any more: the one retry on a new one fails too
        proxy.close()
        dials.clear()
        statements.reset()
        metrics.clear_metrics()  # nothing added outside a handler by earlier tests
        capsys.readouterr()
        result = handler(
            sqs_event(*(sqs_record(b, message_id=m) for m, b in bodies.items())), FakeLambdaContext()
        )
        emitted = capsys.readouterr().out
    finally:
        common_db._engine = previous
        through_proxy.dispose()
        proxy.close()
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(bodies)
    # the batch statement, once, on the dead connection, then one new connection tried; never one by one
    assert (statements.count, len(dials)) == (1, 1)
    assert get_progress(user).total_attempts == 3
    # each message failed, and the batch as a whole (the invocation succeeded: only this metric tells)
    assert emitted_metrics(emitted) == {"AttemptsFailed": 3, "BatchesFailed": 1}
    logs = captured_logs()
    refused = log_lines(logs, "could not record an attempt")
    assert sorted((r["message_id"], r["error"]) for r in refused) == [
        (m, "database_unavailable") for m in sorted(bodies)
    ]
    assert log_lines(logs, "the batch statement failed; writing its messages one at a time") == []
    # SQS delivers them again: written once each
    assert handler(
        sqs_event(*(sqs_record(b, message_id=m) for m, b in bodies.items())), FakeLambdaContext()
    ) == {"batchItemFailures": []}
    assert get_progress(user).total_attempts == 6


def test_each_write_goes_to_the_database_of_the_engine_it_is_given(db: Engine, new_user_id) -> None:
    """The admin tools (import, demo-data) write to the database named on their command line: a write given
    an engine uses that one, never the environment's. Here that engine's database is not there."""
    user = new_user_id()
    save_user_attempt_to_db(message(user))
    with silent_server() as port:
        pass  # the port is closed again: nothing listens there now
    elsewhere = make_engine(
        load_settings(
            {"DATABASE_URL": f"postgresql://root@127.0.0.1:{port}/test", "DB_CONNECT_TIMEOUT_SECONDS": "1"}
        )
    )
    writes = {
        "write_attempts": lambda: write_attempts([message(user)], engine=elsewhere),
        "save_user_attempt_to_db": lambda: save_user_attempt_to_db(message(user), engine=elsewhere),
        "save_attempts": lambda: save_attempts([message(user)], engine=elsewhere),
        "reset_progress": lambda: reset_progress(user, engine=elsewhere),
        "timezones_unknown_to_database": lambda: timezones_unknown_to_database(
            ["Asia/Tokyo"], engine=elsewhere
        ),
    }
    try:
        for name, write in writes.items():
            with pytest.raises(DatabaseUnavailableError):
                write()
                pytest.fail(f"{name} wrote to the environment's database")
    finally:
        elsewhere.dispose()
    assert get_progress(user).total_attempts == 1
