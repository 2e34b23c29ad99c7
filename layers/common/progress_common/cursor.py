"""Opaque keyset cursors for the recent-attempts list: (created_at, id) of the last item shown.

A cursor is accepted only in exactly the form the service issues: base64url (unpadded) of compact JSON
`{"t": <created_at as PostgreSQL writes it>, "i": <id>}`. Anything else is refused before it reaches SQL,
because Python reads ISO forms PostgreSQL does not (week dates, comma fractions, offsets with seconds).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re

from progress_common.errors import InvalidCursorError
from progress_common.identity import BIGINT_MAX

# Longer than any cursor the service issues (about 80 characters); the route's query limit too.
MAX_CURSOR_LENGTH = 200

# PostgreSQL's ISO output of a timestamptz: what the read function hands back as created_at.
_ISSUED_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?[+-][0-9]{2}:[0-9]{2}"
)


def encode_cursor(created_at: str, attempt_id: int) -> str:
    raw = json.dumps({"t": created_at, "i": attempt_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """Return (created_at ISO string, id); raise InvalidCursorError for anything we did not issue."""
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursorError("cursor is not valid")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        created_at, attempt_id = data["t"], data["i"]
        if not isinstance(created_at, str) or type(attempt_id) is not int:
            raise ValueError
        if not 0 <= attempt_id <= BIGINT_MAX or not _ISSUED_TIMESTAMP.fullmatch(created_at):
            raise ValueError
        # a real instant, and one that stays within the years both Python and PostgreSQL write (not year 0)
        dt.datetime.fromisoformat(created_at).astimezone(dt.UTC)
        # exactly what encode_cursor makes of it: no other key order, spacing, padding or alphabet
        if encode_cursor(created_at, attempt_id) != cursor:
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error, OverflowError):
        raise InvalidCursorError("cursor is not valid") from None
    return created_at, attempt_id
