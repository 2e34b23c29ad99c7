"""Which timezone names an attempt may carry, and what happens to one the database does not know.

Through the real consumer (RecordAttemptsFunction) against the real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from progress_common import models
from tests.events import FakeLambdaContext, attempt_body, sqs_event, sqs_record


@pytest.fixture
def consumer(load_function, db):
    handler = load_function("record_attempts").lambda_handler

    def run(*bodies: tuple[str, str]) -> list[str]:
        event = sqs_event(*(sqs_record(body, message_id=mid) for mid, body in bodies))
        result = handler(event, FakeLambdaContext())
        return sorted(failure["itemIdentifier"] for failure in result["batchItemFailures"])

    return run


def stored(db, user: int) -> list[tuple[str, dt.date]]:
    """(attempt_uid, practice day) of the user's attempts, oldest first."""
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT attempt_uid::text, local_day FROM attempts WHERE user_id = :u ORDER BY created_at"),
            {"u": user},
        )
        return [tuple(row) for row in rows]


def profile_timezone(db, user: int) -> str | None:
    with db.connect() as conn:
        return conn.execute(
            text("SELECT timezone FROM user_profiles WHERE user_id = :u"), {"u": user}
        ).scalar_one_or_none()


# Files of a system's zoneinfo folder that zoneinfo.ZoneInfo() (and PostgreSQL) load, but no IANA name:
# localtime is the machine's own zone, posixrules a default rule file, posix/ and right/ copies (right/
# counts leap seconds), Factory the placeholder for "local time unknown".
NOT_IANA_NAMES = ["localtime", "posixrules", "Factory", "posix/Europe/Berlin", "right/Europe/Berlin"]


def test_only_iana_zone_and_link_names_are_taken(consumer, db, new_user_id) -> None:
    user = new_user_id()
    refused = {
        f"refused-{i}": attempt_body(user_id=user, timezone=name) for i, name in enumerate(NOT_IANA_NAMES)
    }
    refused |= {
        "padded": attempt_body(user_id=user, timezone=" Europe/Berlin"),
        "lower-case": attempt_body(user_id=user, timezone="europe/berlin"),
        "posix-rule": attempt_body(user_id=user, timezone="CET-1CEST,M3.5.0,M10.5.0/3"),
        "offset": attempt_body(user_id=user, timezone="+05:00"),
        "empty": attempt_body(user_id=user, timezone=""),
    }
    assert consumer(*refused.items()) == sorted(refused)
    assert stored(db, user) == []
    # canonical zones, links (old names) and Etc/ zones are IANA names: each is taken and becomes the profile's
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for minutes, name in enumerate(["UTC", "US/Pacific", "America/Argentina/ComodRivadavia", "Etc/GMT-14"]):
        created = (start + dt.timedelta(minutes=minutes)).isoformat()
        assert consumer(("ok", attempt_body(user_id=user, timezone=name, created_at=created))) == []
        assert profile_timezone(db, user) == name
    assert len(stored(db, user)) == 4


def test_iana_names_are_the_tz_database_the_layer_ships() -> None:
    names = models.iana_timezones()
    assert {"Europe/Berlin", "UTC", "US/Pacific", "Etc/GMT+5", "America/Coyhaique"} <= names
    assert names.isdisjoint(NOT_IANA_NAMES)
    for name in ("Europe/Berlin", "Etc/GMT+5"):
        assert models.validate_timezone(name) == name
    for name in [*NOT_IANA_NAMES, "Mars/Olympus", "", "Europe/Berlin\n"]:
        with pytest.raises(ValueError, match=r"^unknown timezone; use an IANA name such as 'Europe/Berlin'$"):
            models.validate_timezone(name)


def test_a_zone_the_database_does_not_know_is_recorded_without_it_never_lost(
    consumer, db, new_user_id, monkeypatch, captured_logs, capsys
) -> None:
    # The layer's tz database (tzdata) can be newer than the database's own: the embedded PostgreSQL has no
    # America/Coyhaique, which tzdata added in 2025. The same happens here with a name added to the layer's
    # list that no PostgreSQL knows.
    newer = "Mars/Olympus_Mons"
    known = models.iana_timezones()
    monkeypatch.setattr(models, "iana_timezones", lambda: known | {newer})
    user = new_user_id()
    # 23:30 UTC: already the next day in Tokyo, the profile's timezone
    created = dt.datetime.combine(
        dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1), dt.time(23, 30), dt.UTC
    )
    tokyo_uid, newer_uid, other_uid = (str(uuid.uuid4()) for _ in range(3))
    assert (
        consumer(
            (
                "tokyo",
                attempt_body(
                    user_id=user,
                    attempt_uid=tokyo_uid,
                    timezone="Asia/Tokyo",
                    created_at=(created - dt.timedelta(hours=1)).isoformat(),
                ),
            )
        )
        == []
    )
    capsys.readouterr()
    newer_body = attempt_body(
        user_id=user, attempt_uid=newer_uid, timezone=newer, created_at=created.isoformat()
    )
    batch = [("newer", newer_body), ("other", attempt_body(user_id=user, attempt_uid=other_uid))]
    assert consumer(*batch) == []
    tokyo_day = created.astimezone(dt.timezone(dt.timedelta(hours=9))).date()
    assert (newer_uid, tokyo_day) in stored(db, user)  # its practice day in the profile's timezone
    assert {uid for uid, _ in stored(db, user)} == {tokyo_uid, newer_uid, other_uid}
    assert profile_timezone(db, user) == "Asia/Tokyo"  # a zone the database cannot apply is not applied
    [line] = [json.loads(x) for x in captured_logs().splitlines() if newer in x]
    assert line["level"] == "WARNING" and line["message_id"] == "newer" and line["attempt_uid"] == newer_uid
    assert line["timezone"] == newer
    assert '"AttemptTimezonesNotApplied":[1.0]' in capsys.readouterr().out.replace(" ", "")
    # a redelivery is the duplicate it is, not a failure
    assert consumer(("newer-again", newer_body)) == []
    assert len(stored(db, user)) == 3


def test_in_one_batch_a_message_without_timezone_takes_the_one_an_earlier_message_named(
    consumer, db, new_user_id
) -> None:
    # DESIGN (Streaks): the profile's timezone at the moment the attempt is written, and an earlier message
    # of the same batch has already set it; the batch is one statement, so the order is the batch's.
    user = new_user_id()
    late_evening = dt.datetime.combine(
        dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1), dt.time(23, 30), dt.UTC
    )
    named, unnamed = str(uuid.uuid4()), str(uuid.uuid4())
    batch = [
        (
            "named",
            attempt_body(
                user_id=user,
                attempt_uid=named,
                timezone="Asia/Tokyo",
                created_at=(late_evening - dt.timedelta(hours=2)).isoformat(),
            ),
        ),
        ("unnamed", attempt_body(user_id=user, attempt_uid=unnamed, created_at=late_evening.isoformat())),
    ]
    assert consumer(*batch) == []
    in_tokyo = late_evening.astimezone(dt.timezone(dt.timedelta(hours=9))).date()
    assert dict(stored(db, user))[unnamed] == in_tokyo != late_evening.date()
    assert profile_timezone(db, user) == "Asia/Tokyo"


def test_the_database_and_python_apply_every_accepted_name_alike(db) -> None:
    """PostgreSQL fixes practice days and "today" (AT TIME ZONE), Python renders streak_expires_at (zoneinfo):
    for every name the layer accepts, both give the same local time, in winter and in summer. A name the
    database does not know at all is the consumer's fallback (above), not a disagreement."""
    stored_names = {models.validate_timezone(name) for name in models.iana_timezones()}
    instants = [dt.datetime(2026, month, 1, 12, tzinfo=dt.UTC) for month in (1, 4, 7, 10)]
    with db.connect() as conn:
        known = set(conn.execute(text("SELECT name FROM pg_timezone_names")).scalars())
        names = sorted(stored_names & known)
        rows = conn.execute(
            text(
                "SELECT z.name, i.at, (i.at AT TIME ZONE z.name)::text FROM unnest(CAST(:names AS text[])) z(name)"
                " CROSS JOIN unnest(CAST(:instants AS timestamptz[])) i(at)"
            ),
            {"names": names, "instants": instants},
        ).all()
    differ = sorted(
        {
            name
            for name, at, local in rows
            if local != at.astimezone(ZoneInfo(name)).replace(tzinfo=None).isoformat(sep=" ")
        }
    )
    assert len(names) > 500 and differ == []


def test_a_link_postgresql_reads_as_an_abbreviation_is_stored_as_its_target(
    consumer, db, new_user_id
) -> None:
    # CET is an IANA link to Europe/Brussels (summer time included), but PostgreSQL's AT TIME ZONE 'CET' is
    # the abbreviation, a fixed +01:00: 22:30 UTC on 1 July is 00:30 on 2 July in Brussels, not for 'CET'.
    summer_evening = dt.datetime(2026, 7, 1, 22, 30, tzinfo=dt.UTC)
    with db.connect() as conn:
        as_abbreviation = conn.execute(
            text("SELECT (CAST(:at AS timestamptz) AT TIME ZONE 'CET')::date"), {"at": summer_evening}
        ).scalar_one()
    assert as_abbreviation == dt.date(2026, 7, 1) != summer_evening.astimezone(ZoneInfo("CET")).date()
    user = new_user_id()
    for name, target in models.POSTGRES_ABBREVIATION_LINKS.items():
        assert consumer((name, attempt_body(user_id=user, timezone=name))) == []
        assert profile_timezone(db, user) == target == models.validate_timezone(name)
    assert len(stored(db, user)) == len(models.POSTGRES_ABBREVIATION_LINKS)


def test_an_unknown_zone_keeps_the_batch_one_statement_and_its_order(
    consumer, db, new_user_id, monkeypatch, count_sql, capsys
) -> None:
    """The batch is written again in one statement without the zone (not one message at a time), so the
    statement's own rules still hold: a new session belongs to the user of its first attempt by created_at,
    whatever the order of the messages."""
    newer = "Mars/Olympus_Mons"
    known = models.iana_timezones()
    monkeypatch.setattr(models, "iana_timezones", lambda: known | {newer})
    first_user, second_user = new_user_id(), new_user_id()
    session = 900_000_000 + first_user
    first_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    first_uid = str(uuid.uuid4())
    second = attempt_body(
        user_id=second_user, session_id=session, created_at=(first_at + dt.timedelta(minutes=5)).isoformat()
    )
    first = attempt_body(
        user_id=first_user,
        attempt_uid=first_uid,
        session_id=session,
        timezone=newer,
        created_at=first_at.isoformat(),
    )
    capsys.readouterr()
    count_sql.reset()
    # the other user's later attempt comes first in the batch, and the first user's one twice (a duplicate)
    assert consumer(("second", second), ("first", first), ("first-again", first)) == ["second"]
    # the failed statement, the lookup of the unknown zones, the batch again: not 1 + one per message
    assert len(count_sql.statements) == 3, count_sql.statements
    with db.connect() as conn:
        owner = conn.execute(text("SELECT user_id FROM sessions WHERE id = :s"), {"s": session}).scalar_one()
    assert owner == first_user
    assert [uid for uid, _ in stored(db, first_user)] == [first_uid] and stored(db, second_user) == []
    # counted once: the duplicate wrote nothing, so there is nothing to say about its timezone
    assert '"AttemptTimezonesNotApplied":[1.0]' in capsys.readouterr().out.replace(" ", "")
