"""Opaque keyset cursors for the recent-attempts list: (created_at, id) of the last item shown."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json

from progress_common.errors import InvalidCursorError

MAX_CURSOR_LENGTH = 200


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
        if not isinstance(created_at, str) or type(attempt_id) is not int or attempt_id < 0:
            raise ValueError
        parsed = dt.datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        raise InvalidCursorError("cursor is not valid") from None
    return created_at, attempt_id
