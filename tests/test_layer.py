"""The CommonLayer is reproducible: its dependencies come from a lock file with hashes for the Lambda
platform, its bytecode is compiled by the runtime's Python version, and its name is unique per stack.
(CI builds it with `sam build` and runs it under python3.13 on aarch64: scripts/artifact_smoke.sh.)"""

from __future__ import annotations

import re
from pathlib import Path

from progress_admin.local.template import load_template

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers/common"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (LAYER / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_normalize(name.split("[")[0])] = version.strip()
    return pins


def _lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of requirements.lock (pip's hash-checking format, as uv writes it)."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in (LAYER / "requirements.lock").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+) \\", line)
            assert match, f"not a pinned requirement with hashes: {line!r}"
            current = _normalize(match[1])
            entries[current] = (match[2], [])
        else:
            hash_match = re.fullmatch(r"\s+--hash=sha256:([0-9a-f]{64})( \\)?", line)
            assert hash_match and current, f"unexpected line in the lock: {line!r}"
            entries[current][1].append(hash_match[1])
    return entries


def test_the_lock_pins_every_requirement_at_its_version() -> None:
    lock = _lock()
    for name, version in _requirements().items():
        assert name in lock, f"{name} is missing from requirements.lock: run ./dev lock"
        assert lock[name][0] == version, f"{name}: lock has {lock[name][0]}, requirements.txt {version}"


def test_every_locked_package_has_hashes_and_the_transitive_dependencies_are_there() -> None:
    lock = _lock()
    assert all(hashes for _, hashes in lock.values())
    # what the top-level pins pull in: the lock is the whole closure, not the top level again
    assert {"pydantic-core", "botocore", "urllib3", "aws-xray-sdk", "wrapt", "typing-extensions"} <= set(lock)
    assert len(lock) > len(_requirements())


def test_the_layer_installs_the_lock_with_hashes_and_compiles_for_the_runtime() -> None:
    makefile = (LAYER / "Makefile").read_text()
    assert "--require-hashes" in makefile and "-r requirements.lock" in makefile
    assert "--only-binary=:all:" in makefile and "--no-compile" in makefile  # pip's own host-Python .pyc
    assert re.search(r"compileall .*--invalidation-mode unchecked-hash", makefile)
    dev = (ROOT / "dev").read_text()
    assert "--python-platform aarch64-manylinux2014 --python-version 3.13 --generate-hashes" in dev


def test_the_layer_name_is_unique_per_stack() -> None:
    layer = load_template(ROOT / "template.yaml")["Resources"]["CommonLayer"]
    assert layer["Properties"]["LayerName"] == {"Fn::Sub": "${AWS::StackName}-common"}
