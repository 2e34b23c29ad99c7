from __future__ import annotations

import pytest

from progress_common.errors import InvalidUserIdError
from progress_common.identity import BIGINT_MAX, parse_user_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("user_7", 7),
        ("7", 7),
        (7, 7),
        ("0", 0),
        ("user_0", 0),
        (BIGINT_MAX, BIGINT_MAX),
        (str(BIGINT_MAX), BIGINT_MAX),
        (f"user_{BIGINT_MAX}", BIGINT_MAX),
        ("user_123456", 123456),
    ],
)
def test_accepts_the_three_spellings(raw: object, expected: int) -> None:
    assert parse_user_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "user_",
        "-3",
        -3,
        "7abc",
        "7.0",
        7.0,
        2**80,
        str(2**80),
        BIGINT_MAX + 1,
        None,
        " 7",
        "7 ",
        " ",
        "\t7\n",
        "user_-3",
        "USER_7",
        "user7",
        "user__7",
        "07",
        "+7",
        "\u0667",
        True,
        False,
        [7],
        {"id": 7},
        b"7",
        "user_7abc",
        "7e3",
        "0x7",
    ],
)
def test_rejects_everything_else(raw: object) -> None:
    with pytest.raises(InvalidUserIdError):
        parse_user_id(raw)


def test_error_is_a_value_error_with_a_code() -> None:
    with pytest.raises(ValueError) as info:
        parse_user_id("nope")
    assert info.value.code == "invalid_user_id"  # type: ignore[attr-defined]
