"""User identity: one canonical integer id for `"user_7"`, `"7"` and `7`."""

from __future__ import annotations

import re
from typing import Any

from progress_common.errors import InvalidUserIdError

BIGINT_MAX = 2**63 - 1

# Canonical digits only: no sign, no leading zeros, no whitespace, so each id has exactly one spelling
# per form and "user_7" and "7" can never name two different rows.
_USER_ID_PATTERN = re.compile(r"(?:user_)?(0|[1-9][0-9]{0,18})")


def parse_user_id(raw: Any) -> int:
    """Return the integer user id for `"user_7"`, `"7"` or `7`; raise InvalidUserIdError otherwise.

    Rejected: None, bool, float (even 7.0), negatives, empty or whitespace-padded strings, `"user_"`,
    trailing garbage (`"7abc"`), and anything beyond PostgreSQL's bigint.
    """
    if isinstance(raw, bool) or raw is None:
        raise InvalidUserIdError(f"user id must be a string or an integer, not {type(raw).__name__}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        match = _USER_ID_PATTERN.fullmatch(raw)
        if match is None:
            raise InvalidUserIdError("user id must look like 'user_7' or '7'")
        value = int(match.group(1))
    else:
        raise InvalidUserIdError(f"user id must be a string or an integer, not {type(raw).__name__}")
    if value < 0:
        raise InvalidUserIdError("user id must not be negative")
    if value > BIGINT_MAX:
        raise InvalidUserIdError("user id is out of range")
    return value
