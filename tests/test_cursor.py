"""The recent-attempts cursor (progress_common.cursor): every cursor the service issues reads back as
what it encoded, and decode_cursor() itself refuses what it did not issue (GET /progress tests the
same through the handler, where the SQL renderer would refuse some of them a second time)."""

from __future__ import annotations

import base64

import pytest

from progress_common.cursor import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor
from progress_common.errors import InvalidCursorError
from progress_common.identity import BIGINT_MAX

# created_at as PostgreSQL writes a timestamptz: 0 to 6 fraction digits, any whole-minute offset
ISSUED_TIMES = [
    "2026-11-25T10:00:00+00:00",
    "2026-11-25T10:00:00.5+01:00",
    "2026-11-25T10:00:00.25-03:30",
    "2026-11-25T10:00:00.125+05:45",
    "2026-11-25T10:00:00.1234+14:00",
    "2026-11-25T10:00:00.12345-12:00",
    "2026-11-25T10:00:00.123456+00:00",
]
# ids of every length from 1 to 19 digits, so the cursors have every length modulo 4 (base64 padding)
ISSUED_IDS = [0, *(10**n + 7 for n in range(1, 18)), BIGINT_MAX]


def test_every_issued_cursor_reads_back_as_what_it_encodes() -> None:
    lengths = set()
    for created_at in ISSUED_TIMES:
        for attempt_id in ISSUED_IDS:
            cursor = encode_cursor(created_at, attempt_id)
            lengths.add(len(cursor) % 4)
            assert len(cursor) <= MAX_CURSOR_LENGTH
            assert decode_cursor(cursor) == (created_at, attempt_id)
    assert lengths == {0, 2, 3}  # unpadded base64 is never 1 modulo 4


def forged(data: str) -> str:
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "A" * (MAX_CURSOR_LENGTH + 1),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":1.0}'),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":true}'),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":"1"}'),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":-1}'),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":' + str(BIGINT_MAX + 1) + "}"),
        forged('{"t":1,"i":1}'),
        forged('{"t":null,"i":1}'),
        forged('{"t":"2026-01-01T00:00:00+00:00"}'),
        forged('{"i":1}'),
        forged('["2026-01-01T00:00:00+00:00",1]'),
        forged('{"t":"2026-02-30T00:00:00+00:00","i":1}'),
        forged('{"t":"2026-01-01T00:00:00+00:00","i":1} '),
        encode_cursor("2026-01-01T00:00:00+00:00", 1) + "==",
        encode_cursor("2026-01-01T00:00:00+00:00", 1).replace("-", "+").replace("_", "/") + "+/",
        "é" + encode_cursor("2026-01-01T00:00:00+00:00", 1),
    ],
)
def test_decode_cursor_refuses_what_the_service_did_not_issue(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)
