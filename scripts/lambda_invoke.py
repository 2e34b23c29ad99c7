"""One Lambda invocation, as the runtime would make it, run by the runtime's own Python (3.13, aarch64).

scripts/artifact_smoke.py starts this file with Debian's arm64 python3.13 under qemu-user, isolated
(`-I -S -B`: no site-packages, no PYTHON* variables, nothing written next to the code, as /opt and
/var/task are read-only), with nothing on the path but the built function folder, the built layers and the
standard library. It imports the handler, serves one event with a Lambda-like context and writes a JSON
report: the response, the import and first-call times, every module loaded from outside those folders, and
every module of the layers that had to be compiled from source because no valid .pyc was there.
Standard library only: it must run before anything of the artifact is importable.
"""

import importlib
import importlib._bootstrap_external as bootstrap_external
import json
import platform
import sys
import time
import traceback
import uuid
from typing import Any


class LambdaContext:
    def __init__(self, name: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "artifact-smoke"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    function_dir, handler, event_file, result_file, name, memory, timeout, *layer_dirs = sys.argv[1:]
    stdlib = [p for p in sys.path if p.startswith(sys.base_prefix)]
    sys.path[:] = [function_dir, *layer_dirs, *stdlib]  # the runtime's order: /var/task, /opt/python, ...

    # The import system compiles a module from source only when it has no valid .pyc: record those.
    compiled_from_source: list[str] = []
    source_to_code = bootstrap_external.SourceLoader.source_to_code

    def recording_source_to_code(self: Any, data: bytes, path: str, *, _optimize: int = -1) -> Any:
        compiled_from_source.append(path)
        return source_to_code(self, data, path, _optimize=_optimize)

    setattr(bootstrap_external.SourceLoader, "source_to_code", recording_source_to_code)  # noqa: B010

    report: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine()}
    try:
        with open(event_file, encoding="utf-8") as handle:
            event = json.load(handle)
        module_name, attribute = handler.rsplit(".", 1)
        started = time.perf_counter()
        module = importlib.import_module(module_name)
        imported = time.perf_counter()
        response = getattr(module, attribute)(event, LambdaContext(name, int(memory), float(timeout)))
        report["first_call_seconds"] = round(time.perf_counter() - imported, 3)
        report["import_seconds"] = round(imported - started, 3)
        report["response"] = response
    except BaseException as exc:  # the report says what failed; the harness fails the run
        report["error"] = "".join(traceback.format_exception(exc))
    allowed = (function_dir, *layer_dirs, sys.base_prefix)
    files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    report["outside"] = sorted(f for f in files if f and f != __file__ and not f.startswith(allowed))
    layers = tuple(layer_dirs)
    report["layer_modules_compiled_from_source"] = [p for p in compiled_from_source if p.startswith(layers)]
    report["modules"] = sorted(sys.modules)
    with open(result_file, "w", encoding="utf-8") as handle:
        json.dump(report, handle, default=str)


if __name__ == "__main__":
    main()
