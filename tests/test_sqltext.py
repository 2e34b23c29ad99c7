"""The one helper that writes values into SQL text: what it accepts reaches PostgreSQL as the same value,
everything else is refused, and its output can never carry SQL of its own."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import re
import uuid
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from progress_common.identity import BIGINT_MAX
from progress_common.sqltext import BIGINT_MIN, UnrenderableValueError, render_sql, sql_literal

# Everything sql_literal may ever produce: no quote inside a literal, no `;`, no comment opener.
LITERAL = re.compile(
    r"NULL|[0-9]+|\(-[0-9]+\)|DATE '[0-9]{4}-[0-9]{2}-[0-9]{2}'"
    r"|TIMESTAMPTZ '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?\+00:00'"
    r"|UUID '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'"
)

bigints = st.integers(min_value=BIGINT_MIN, max_value=BIGINT_MAX)
aware_datetimes = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.timezones()
)


def value_of(engine: Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).scalar_one()


@given(value=bigints)
def test_integers_within_bigint_reach_postgresql_unchanged(engine, value: int) -> None:
    literal = sql_literal(value)
    assert LITERAL.fullmatch(literal)
    # `-{v}` would start a comment if a negative number were written bare
    with engine.connect() as conn:
        row = conn.exec_driver_sql(render_sql("SELECT CAST({v} AS bigint), 0::numeric-{v}", v=value)).one()
    assert tuple(row) == (value, -value)


@given(value=st.one_of(st.integers(max_value=BIGINT_MIN - 1), st.integers(min_value=BIGINT_MAX + 1)))
def test_integers_beyond_bigint_are_refused(value: int) -> None:
    with pytest.raises(UnrenderableValueError):
        sql_literal(value)


@given(value=st.dates())
def test_dates_reach_postgresql_unchanged(engine, value: dt.date) -> None:
    literal = sql_literal(value)
    assert LITERAL.fullmatch(literal)
    assert value_of(engine, f"SELECT to_char({literal}, 'YYYY-MM-DD')") == value.isoformat()


@given(value=aware_datetimes)
def test_aware_datetimes_reach_postgresql_as_the_same_instant(engine, value: dt.datetime) -> None:
    literal = sql_literal(value)
    assert LITERAL.fullmatch(literal)
    back = value_of(engine, f"SELECT to_char({literal} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')")
    assert back == value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


@given(value=st.uuids())
def test_uuids_reach_postgresql_unchanged(engine, value: uuid.UUID) -> None:
    literal = sql_literal(value)
    assert LITERAL.fullmatch(literal)
    assert value_of(engine, f"SELECT CAST({literal} AS text)") == str(value)


def test_none_is_null_and_templates_take_their_types_from_their_casts(engine) -> None:
    assert sql_literal(None) == "NULL"
    sql = render_sql(
        "SELECT CAST({a} AS integer), CAST({b} AS date), {c}", a=7, b=None, c=dt.date(2026, 1, 2)
    )
    assert sql == "SELECT CAST(7 AS integer), CAST(NULL AS date), DATE '2026-01-02'"
    with engine.connect() as conn:
        assert tuple(conn.exec_driver_sql(sql).one()) == (7, None, dt.date(2026, 1, 2))
    with pytest.raises(KeyError):
        render_sql("SELECT {missing}", present=1)


class Flag(enum.IntEnum):
    ON = 1


class MyDate(dt.date):
    def isoformat(self) -> str:
        return "2026-01-01'; DROP TABLE attempts; --"


class MyUuid(uuid.UUID):
    def __str__(self) -> str:
        return "x'; DROP TABLE attempts; --"


refused = st.one_of(
    st.text(),
    st.binary(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.decimals(),
    st.datetimes(),  # naive
    st.times(),
    st.timedeltas(),
    st.just(MyUuid(int=5)),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.integers()),
    st.just(Flag.ON),
    st.just(MyDate(2026, 1, 1)),
    st.just(decimal.Decimal(1)),
    st.just(dt.datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC")).time()),
)


@given(value=refused)
def test_everything_else_is_refused(value: object) -> None:
    with pytest.raises(UnrenderableValueError):
        sql_literal(value)  # type: ignore[arg-type]


def test_a_datetime_whose_utc_instant_python_cannot_hold_is_refused() -> None:
    edge = dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    with pytest.raises(UnrenderableValueError):
        sql_literal(edge)
    with pytest.raises(UnrenderableValueError):
        sql_literal(dt.datetime(2026, 1, 1))


def test_the_ends_of_bigint_and_zero_are_written_and_one_beyond_is_refused(engine) -> None:
    # the user ids and cursor ids the service writes into SQL text span the whole of bigint
    for value in (BIGINT_MIN, -1, 0, 1, BIGINT_MAX):
        literal = sql_literal(value)
        assert LITERAL.fullmatch(literal), literal
        assert value_of(engine, f"SELECT CAST({literal} AS bigint)") == value
    for value in (BIGINT_MIN - 1, BIGINT_MAX + 1):
        with pytest.raises(UnrenderableValueError):
            sql_literal(value)


class NoOffset(dt.tzinfo):
    """A time zone that does not know its offset: Python counts such a datetime as naive."""

    def utcoffset(self, moment: dt.datetime | None) -> None:
        return None

    def dst(self, moment: dt.datetime | None) -> None:
        return None

    def tzname(self, moment: dt.datetime | None) -> None:
        return None


def test_a_datetime_whose_zone_has_no_offset_is_refused_as_naive() -> None:
    # astimezone() would read it as the machine's local time: a different instant on every server
    with pytest.raises(UnrenderableValueError):
        sql_literal(dt.datetime(2026, 1, 1, 12, tzinfo=NoOffset()))


# ---- JsonDocument: small JSON documents (the streak routes' settings changes and grant keys) -----------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)
JSON_DOCUMENT_LITERAL = re.compile(r"CAST\(convert_from\(decode\('[0-9a-f]*', 'hex'\), 'UTF8'\) AS jsonb\)")


def _no_nul(value: object) -> bool:
    """jsonb refuses \\u0000 (PostgreSQL text cannot hold NUL): the routes' models refuse it first."""
    return "\\u0000" not in json.dumps(value)


@given(value=json_values.filter(_no_nul))
def test_json_documents_reach_postgresql_unchanged_and_only_as_hex(engine, value: object) -> None:
    from progress_common.sqltext import JsonDocument

    literal = sql_literal(JsonDocument(value))
    assert JSON_DOCUMENT_LITERAL.fullmatch(literal)
    assert json.loads(value_of(engine, f"SELECT CAST({literal} AS text)")) == value  # type: ignore[arg-type]


def test_json_documents_that_are_not_json_or_too_long_are_refused() -> None:
    from progress_common.sqltext import JSON_DOCUMENT_MAX_BYTES, JsonDocument

    for value in (float("nan"), {1.5j}, "\ud800", "x" * JSON_DOCUMENT_MAX_BYTES):
        with pytest.raises(UnrenderableValueError):
            sql_literal(JsonDocument(value))
