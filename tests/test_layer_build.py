"""`sam build` on the hosts users have: the CommonLayer's Makefile run as SAM runs it, on a host that has
no Debian python3.13 to fetch (macOS, arm64 Linux, Ubuntu without the Debian keyring) and none on PATH,
and on one with a python3.13 on PATH (SAM's build image with --use-container, Homebrew, pyenv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"
PYENV_313 = Path.home() / ".pyenv/versions/3.13.0/bin/python3.13"


def _make(tmp_path: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """make build-CommonLayer with only `bin_dir` and the system's basic tools on PATH (as sam build runs
    it: in a copy of the layer folder, the Makefile at its original path)."""
    source = tmp_path / "source"
    shutil.copytree(LAYER, source, ignore=shutil.ignore_patterns("__pycache__"))
    return subprocess.run(
        [
            "make",
            "-f",
            str(LAYER / "Makefile"),
            "build-CommonLayer",
            f"ARTIFACTS_DIR={tmp_path / 'artifact'}",
        ],
        cwd=source,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _bin_with_python3(tmp_path: Path) -> Path:
    """A folder whose python3 is this test run's interpreter (it has pip), and nothing else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    return bin_dir


@pytest.mark.slow
def test_without_any_python313_the_layer_builds_without_bytecode_and_says_what_it_costs(
    tmp_path: Path,
) -> None:
    bin_dir = _bin_with_python3(tmp_path)
    assert shutil.which("python3.13", path=f"{bin_dir}:/usr/bin:/bin") is None
    built = _make(tmp_path, bin_dir, LAMBDA_PYTHON_FETCH="false")  # the Debian interpreter hidden
    assert built.returncode == 0, built.stderr
    # on stdout: sam build shows make's stdout, and its stderr only when make fails
    assert "WARNING: no python3.13 to compile the layer's bytecode" in built.stdout
    assert "every cold start compiles every module" in built.stdout
    layer = tmp_path / "artifact" / "python"
    assert (layer / "progress_common" / "queries.py").is_file()
    assert (layer / "sqlalchemy" / "__init__.py").is_file()
    assert (layer / "pg8000" / "__init__.py").is_file()
    assert list(layer.rglob("*.pyc")) == []


@pytest.mark.slow
@pytest.mark.skipif(not PYENV_313.exists(), reason="this machine's pyenv python3.13 is the stand-in")
def test_a_python313_on_path_compiles_the_bytecode_without_the_debian_interpreter(tmp_path: Path) -> None:
    bin_dir = _bin_with_python3(tmp_path)
    (bin_dir / "python3.13").symlink_to(PYENV_313)
    built = _make(tmp_path, bin_dir, LAMBDA_PYTHON_FETCH="false")
    assert built.returncode == 0, built.stderr
    assert "no python3.13 to compile" not in built.stdout
    layer = tmp_path / "artifact" / "python"
    compiled = layer / "progress_common" / "__pycache__" / "queries.cpython-313.pyc"
    assert compiled.is_file()
    # unchecked-hash: flags 0b01 (hash-based, not checked against the source)
    assert int.from_bytes(compiled.read_bytes()[4:8], "little") == 0b01
