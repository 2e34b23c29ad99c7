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


# DESIGN (Write path): a bad message is rejected with its reason. The consumer's log line names, for each
# bad field, why (never the value); for user_id that reason is parse_user_id's message.
REJECTED_USER_IDS = [
    (True, "user id must be a string or an integer, not bool"),
    (None, "user id must be a string or an integer, not NoneType"),
    (7.0, "user id must be a string or an integer, not float"),
    ([7], "user id must be a string or an integer, not list"),
    ("7abc", "user id must look like 'user_7' or '7'"),
    (-3, "user id must not be negative"),
    (BIGINT_MAX + 1, "user id is out of range"),
]


def test_a_rejected_message_says_why_its_user_id_is_wrong(load_function, db, captured_logs) -> None:
    import json

    from tests.events import FakeLambdaContext, attempt_body, sqs_event, sqs_record

    handler = load_function("record_attempts").lambda_handler
    records = [
        sqs_record(attempt_body(user_id=raw), message_id=f"m{i}")
        for i, (raw, _) in enumerate(REJECTED_USER_IDS)
    ]
    result = handler(sqs_event(*records), FakeLambdaContext())
    assert len(result["batchItemFailures"]) == len(REJECTED_USER_IDS)
    reasons = {
        line["message_id"]: [(p["loc"], p["reason"]) for p in line["problems"]]
        for line in map(json.loads, captured_logs().splitlines())
        if line.get("message") == "rejected an attempt message"
    }
    assert reasons == {
        f"m{i}": [("user_id", f"Value error, {reason}")] for i, (_, reason) in enumerate(REJECTED_USER_IDS)
    }
