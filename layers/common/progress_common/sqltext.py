"""SQL text with its values written in: one round trip per statement instead of three.

pg8000 sends a statement that has parameters as Parse, Describe and Bind/Execute, each followed by a
Sync it waits for (three round trips); a statement without parameters goes as one simple Query (one
round trip). Through RDS Proxy each round trip costs about a millisecond, so the hot reads and reset put
their values into the statement text. The one function that may do that is `sql_literal`: it accepts only
values the service has already validated and whose text form cannot carry SQL (integers within bigint,
dates, aware datetimes, UUIDs, None) and refuses everything else, text above all. User text (answers, timezone
names, JSON batches) always travels as a bound parameter.
"""

from __future__ import annotations

import datetime as dt
import uuid

from progress_common.identity import BIGINT_MAX

BIGINT_MIN = -BIGINT_MAX - 1

SqlLiteralValue = int | dt.date | dt.datetime | uuid.UUID | None


class UnrenderableValueError(TypeError):
    """A value that must not be written into SQL text (wrong type, or out of the column's range)."""


def sql_literal(value: SqlLiteralValue) -> str:
    """The SQL text of one validated value: a self-contained literal, never containing a quote of its own.

    int (not bool) within bigint -> 42 or (-42); date -> DATE '2026-11-25'; aware datetime ->
    TIMESTAMPTZ '2026-11-25T10:00:00.123456+00:00' (converted to UTC); UUID ->
    UUID '0b6f8f7e-3f0e-4d7e-9a51-3c1f0d2b9a01' (hex digits and dashes only); None -> NULL.
    """
    kind = type(value)  # exact types: bool is an int, datetime is a date, subclasses may override str()
    if value is None:
        return "NULL"
    if kind is int:
        assert isinstance(value, int)
        if not BIGINT_MIN <= value <= BIGINT_MAX:
            raise UnrenderableValueError("integer outside bigint")
        # Parenthesised when negative, so the text never forms `--` (a comment) after a minus sign.
        return str(value) if value >= 0 else f"({value})"
    if kind is dt.date:
        assert isinstance(value, dt.date)
        return f"DATE '{value.isoformat()}'"
    if kind is dt.datetime:
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None or value.utcoffset() is None:
            raise UnrenderableValueError("naive datetime")
        try:
            utc = value.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            raise UnrenderableValueError("datetime outside the representable range") from None
        return f"TIMESTAMPTZ '{utc.isoformat()}'"
    if kind is uuid.UUID:
        assert isinstance(value, uuid.UUID)
        return f"UUID '{value}'"
    raise UnrenderableValueError(f"{kind.__name__} values are not written into SQL text")


def render_sql(template: str, **values: SqlLiteralValue) -> str:
    """Fill `{name}` slots of a constant template with sql_literal(value) each.

    The template's own casts decide the types (`CAST({days} AS integer)`). Templates must not contain
    `%`: a statement without parameters reaches pg8000 unchanged, so `%%` would not be unescaped.
    """
    return template.format_map({name: sql_literal(value) for name, value in values.items()})
