"""SQL text with its values written in: one round trip per statement instead of three.

pg8000 sends a statement that has parameters as Parse, Describe and Bind/Execute, each followed by a
Sync it waits for (three round trips); a statement without parameters goes as one simple Query (one
round trip). Through RDS Proxy each round trip costs about a millisecond, so the hot reads and reset put
their values into the statement text. The one function that may do that is `sql_literal`: it accepts only
values the service has already validated and whose text form cannot carry SQL (integers within bigint,
dates, aware datetimes, UUIDs, None) and refuses everything else, text above all. User text (answers, timezone
names, JSON batches) always travels as a bound parameter, or, for the small documents of the streak routes
(a settings change, a grant's key), as JsonDocument: its JSON is written into the text hex-encoded, digits
and a-f only, so no character of it can end the literal or reach the parser as SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from progress_common.identity import BIGINT_MAX

BIGINT_MIN = -BIGINT_MAX - 1

# The longest JSON document (in bytes) written into a statement: hex doubles it, and RDS Proxy pins a session
# for a statement text of 16 KB or more.
JSON_DOCUMENT_MAX_BYTES = 4096


@dataclass(frozen=True)
class JsonDocument:
    """A small JSON value for a `jsonb` argument (validated by the caller), rendered as
    CAST(convert_from(decode('<hex of its UTF-8 JSON>', 'hex'), 'UTF8') AS jsonb)."""

    value: Any


SqlLiteralValue = int | dt.date | dt.datetime | uuid.UUID | JsonDocument | None


class UnrenderableValueError(TypeError):
    """A value that must not be written into SQL text (wrong type, or out of the column's range)."""


def sql_literal(value: SqlLiteralValue) -> str:
    """The SQL text of one validated value: a self-contained literal, never containing a quote of its own.

    int (not bool) within bigint -> 42 or (-42); date -> DATE '2026-11-25'; aware datetime ->
    TIMESTAMPTZ '2026-11-25T10:00:00.123456+00:00' (converted to UTC); UUID ->
    UUID '0b6f8f7e-3f0e-4d7e-9a51-3c1f0d2b9a01' (hex digits and dashes only); JsonDocument -> a jsonb from
    hex digits (JsonDocument); None -> NULL.
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
    if kind is JsonDocument:
        assert isinstance(value, JsonDocument)
        try:
            data = json.dumps(
                value.value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode()
        except (TypeError, ValueError):  # not JSON, or a lone surrogate (UnicodeEncodeError)
            raise UnrenderableValueError("not a JSON value") from None
        if len(data) > JSON_DOCUMENT_MAX_BYTES:
            raise UnrenderableValueError("JSON document too long for a statement's text")
        return f"CAST(convert_from(decode('{data.hex()}', 'hex'), 'UTF8') AS jsonb)"
    raise UnrenderableValueError(f"{kind.__name__} values are not written into SQL text")


def render_sql(template: str, **values: SqlLiteralValue) -> str:
    """Fill `{name}` slots of a constant template with sql_literal(value) each.

    The template's own casts decide the types (`CAST({days} AS integer)`). Templates must not contain
    `%`: a statement without parameters reaches pg8000 unchanged, so `%%` would not be unescaped.
    """
    return template.format_map({name: sql_literal(value) for name, value in values.items()})
