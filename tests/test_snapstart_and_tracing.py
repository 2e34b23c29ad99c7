"""What a function's init leaves behind, in process (fast): the SnapStart hooks registered exactly once,
and the switch that keeps the X-Ray SDK out of a container whose tracing is off. The fresh-interpreter
and restore-then-serve checks are in tests/test_aws_runtime.py (slow)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import snapshot_restore_py
from aws_lambda_powertools.shared.functions import strtobool
from sqlalchemy import Engine

from progress_common import db as common_db
from progress_common import observability, snapstart


@pytest.fixture
def empty_registries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Lambda's hook registries as a new process has them, nothing registered yet."""
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    monkeypatch.setattr(snapstart, "_registered", False)
    yield


def registered() -> tuple[list[object], list[object]]:
    return (
        [f for f, _, _ in snapshot_restore_py.get_before_snapshot()],
        [f for f, _, _ in snapshot_restore_py.get_after_restore()],
    )


def test_the_hooks_are_registered_once_however_many_handlers_ask(empty_registries) -> None:
    # Every HTTP handler module calls register_hooks() at import; Lambda would run a hook registered
    # twice twice (and close the engine twice), so only the first call registers.
    for _ in range(3):
        snapstart.register_hooks()
    assert registered() == ([snapstart.before_snapshot], [snapstart.after_restore])


def test_the_registered_snapshot_hook_leaves_no_engine_behind(empty_registries, engine: Engine) -> None:
    snapstart.register_hooks()
    common_db.get_engine()
    try:
        for func, args, kwargs in snapshot_restore_py.get_before_snapshot():
            func(*args, **kwargs)
        assert common_db._engine is None  # the next request builds one afresh
    finally:
        common_db.set_engine(engine)


@pytest.mark.parametrize(
    "value",
    [
        *(None, "", "false", "FALSE", "0", "no", "off", "n", "f"),
        "1",
        "true",
        "True",
        "TRUE",
        "yes",
        "YES",
        "on",
        "On",
        "y",
        "t",
        "T",
    ],
)
def test_tracing_is_off_exactly_when_powertools_reads_its_variable_as_true(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    # The template sets POWERTOOLS_TRACE_DISABLED for local runs; where Powertools' Tracer would be
    # disabled anyway, the layer does not even import the X-Ray SDK (about 200 ms of cold start).
    if value is None:
        monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    else:
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", value)
    powertools_says_disabled = strtobool(value or "false")
    assert observability._tracing_disabled() is powertools_says_disabled
