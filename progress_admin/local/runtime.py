"""The Lambda runtime, locally: a function's handler imported from its code folder under its template
environment, and invoked one event at a time with a context that counts down its timeout. Nothing beyond
the standard library at import (a benchmark child that must import nothing its function does not uses it)."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from progress_admin.local.intrinsics import StackValues
    from progress_admin.local.template import FunctionEnvironment

Handler = Callable[[dict[str, Any], Any], Any]


class FakeContext:
    """Enough of the Lambda context for Powertools: request id, names, remaining time.
    Used by `serve`, the tests and the benchmarks."""

    def __init__(
        self, function_name: str = "local", timeout_seconds: float = 30.0, memory_limit_in_mb: int = 512
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_function_module(path: Path) -> ModuleType:
    """Import functions/<name>/app.py by path under a unique module name (they are all called app.py)."""
    module_name = f"function_{path.parent.name}_app_{uuid.uuid4().hex[:6]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def applied_environment(environment: FunctionEnvironment) -> Iterator[None]:
    """The function's template variables for the duration of an import or invocation. A variable
    already set in the process's own environment wins (as env.json overrides the template for sam local)."""
    added = {name: value for name, value in environment.variables.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


class LocalFunction:
    """One function of the template, as one warm container: invoked one event at a time (`lock`, which
    functions may share), under its environment, with a context counting down its timeout."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        timeout: float,
        environment: FunctionEnvironment | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        from progress_admin.local.template import FunctionEnvironment

        self.name, self.handler, self.timeout = name, handler, timeout
        self.environment = environment or FunctionEnvironment({}, ())
        self.lock = lock or threading.Lock()

    def __call__(self, event: dict[str, Any]) -> Any:
        with self.lock, applied_environment(self.environment):
            return self.handler(event, FakeContext(self.name, self.timeout))


def load_function(
    template: dict[str, Any],
    name: str,
    root: Path,
    values: StackValues,
    lock: threading.Lock | None = None,
) -> LocalFunction:
    """The template's function `name`: its handler imported (its cold start) under its environment."""
    from progress_admin.local.template import function_environment, function_timeout

    props = template["Resources"][name]["Properties"]
    module_file, attribute = props["Handler"].split(".")
    environment = function_environment(template, name, values)
    with applied_environment(environment):
        module = load_function_module(root / props["CodeUri"] / f"{module_file}.py")
    return LocalFunction(
        name, getattr(module, attribute), function_timeout(template, name), environment, lock
    )
