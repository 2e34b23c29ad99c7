"""Layer functions checked directly, at their edges (found by `./dev mutate`): error classification with
real PostgreSQL errors, the error log summary, which engine a write uses."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from progress_common import db as common_db
from progress_common.db import is_transient, sqlstate
from progress_common.http import error_summary
from progress_common.models import AttemptMessage, validate_timezone
from progress_common.settings import load_settings
from progress_common.writes import save_attempts


def _postgres_error(db, code: str) -> sa_exc.DBAPIError:
    """A real error from the server, with the SQLSTATE `code`."""
    with db.connect() as conn, pytest.raises(sa_exc.DBAPIError) as raised:
        conn.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '{code}'; END $$"))
    return raised.value


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        ("08006", True),  # connection failure
        ("08P01", True),
        ("53300", True),  # too many connections
        ("53100", True),  # disk full
        ("57014", True),  # statement timeout
        ("57P01", True),  # admin shutdown
        ("40001", True),  # serialization failure
        ("40P01", True),  # deadlock
        ("22023", False),  # invalid parameter value (an unknown timezone)
        ("23505", False),  # unique violation
        ("42P01", False),  # undefined table: a bug, not an outage
        ("PR001", False),  # the schema's own: a session of another user
        ("P0001", False),
    ],
)
def test_transient_is_decided_by_the_sqlstate_class(db, code, transient) -> None:
    error = _postgres_error(db, code)
    assert sqlstate(error) == code
    assert is_transient(error) is transient


def test_error_summary_keeps_the_chain_and_the_innermost_frames_never_messages() -> None:
    def nest(depth: int) -> None:
        if depth == 0:
            raise ValueError("secret input 42")
        nest(depth - 1)

    try:
        try:
            nest(15)
        except ValueError as inner:
            raise RuntimeError("secret too") from inner
    except RuntimeError as outer:
        summary = error_summary(outer)
    assert summary["error_types"] == ["builtins.RuntimeError", "builtins.ValueError"]
    # the outer exception's own traceback: this function only
    assert summary["stack"] and all(" in test_error_summary" in f for f in summary["stack"])
    try:
        nest(15)
    except ValueError as error:
        deep = error_summary(error)
    assert len(deep["stack"]) == 10 and all(f.startswith("test_layer_functions.py:") for f in deep["stack"])
    assert deep["stack"][-1].endswith(" in nest")
    assert "secret" not in str(summary) + str(deep)

    # a long chain is cut at ten
    error: BaseException = KeyError("k0")
    for n in range(1, 12):
        try:
            raise KeyError(f"k{n}") from error
        except KeyError as chained:
            error = chained
    assert error_summary(error)["error_types"] == ["builtins.KeyError"] * 10


def test_timezone_errors_say_what_to_use() -> None:
    with pytest.raises(ValueError, match=r"^unknown timezone; use an IANA name such as 'Europe/Berlin'$"):
        validate_timezone("Mars/Olympus")


def test_a_write_uses_the_engine_it_is_given(db, new_user_id) -> None:
    user = new_user_id()
    dead = common_db.make_engine(load_settings({"DATABASE_URL": "postgresql://root@127.0.0.1:1/none"}))
    shared = common_db._engine
    common_db._engine = dead
    try:
        attempt = AttemptMessage(
            attempt_uid=uuid.uuid4(), user_id=user, exercise_id=1, is_correct=True, user_answer=""
        )
        assert save_attempts([attempt], engine=db) == {str(attempt.attempt_uid)}
    finally:
        common_db._engine = shared
        dead.dispose()


def test_settings_ignore_empty_variables_and_name_every_bad_one() -> None:
    from progress_common.errors import ConfigurationError

    assert load_settings({"DATABASE_URL": "postgresql://x@h/d", "DB_POOL_SIZE": ""}).db_pool_size == 1
    with pytest.raises(ConfigurationError) as raised:
        load_settings({"DATABASE_URL": "postgresql://x@h/d", "DB_POOL_SIZE": "0", "ARCHIVE_BATCH_SIZE": "x"})
    message = str(raised.value)
    assert message.startswith("invalid environment: DB_POOL_SIZE: ")
    assert "; ARCHIVE_BATCH_SIZE: " in message
    with pytest.raises(
        ConfigurationError, match=r"^invalid environment: settings: Value error, set DATABASE_URL"
    ):
        load_settings({})


def test_user_id_errors_say_why() -> None:
    from progress_common.errors import InvalidUserIdError
    from progress_common.identity import parse_user_id

    with pytest.raises(InvalidUserIdError, match=r"^user id is out of range$"):
        parse_user_id(2**63)
