"""`./dev mutate`: mutation testing of the CommonLayer (layers/common/progress_common) with mutmut 3.

Not part of `./dev test` or CI: it runs the suite once per mutant. To be practical on two shared cores:
- mutmut runs, for each mutant, only the tests that executed the mutated function (its coverage map),
  with -x, and only the tests not marked `slow`;
- every run shares one database, made and migrated once here (PROGRESS_TEST_REUSE_DATABASE_URL);
- mutmut needs the package under src/, so the work happens in a copy of the tracked files, .mutmut/,
  with the layer at src/progress_common.
Arguments are passed to `mutmut run` (e.g. mutant names, --max-children N). Results: .mutmut/results.txt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutmut"
LAYER = Path("layers/common/progress_common")

# The modules mutated by default: identity, settings, input models, cursors, HTTP plumbing, database
# access and error mapping, writes and archival (what issue 11 is about). `--all` mutates every module
# (about 2 200 mutants, several hours on two cores); the rest (live, queries, ingest, schema, ...) are
# then included.
DEFAULT_MODULES = ["identity", "settings", "models", "cursor", "http", "db", "writes", "archive"]
# Within them, the mutants run by default (`--all` or mutant names as arguments choose others): whole
# modules, and of db.py and http.py the functions of issue 11 (error mapping, body limit, error logs).
DEFAULT_MUTANTS = [
    *(f"progress_common.{m}.*" for m in ("identity", "settings", "models", "cursor", "writes", "archive")),
    "progress_common.db.x_is_transient*",
    "progress_common.db.x_sqlstate*",
    "progress_common.db.x_unavailable_as_typed_error*",
    "progress_common.http.x_body_size*",
    "progress_common.http.x_error_summary*",
    "progress_common.http.x*ProgressResolver*",
]
# The tests run against the mutants: those that exercise these modules through the real handlers and
# database, fast enough to run once per mutant (the `slow` ones, load, browser and packaging tests not).
MUTATION_TESTS = [
    "tests/test_identity.py",
    "tests/test_settings_and_engine.py",
    "tests/test_api.py",
    "tests/test_write_path.py",
    "tests/test_write_integrity.py",
    "tests/test_logs.py",
    "tests/test_archive.py",
    "tests/test_admin_commands.py",
    "tests/test_schema_check.py",
    "tests/test_openapi.py",
    "tests/test_layer_functions.py",
]
ALL_MODULES = sorted(p.stem for p in (ROOT / LAYER).glob("*.py") if p.stem != "__init__")

MUTMUT_CONFIG = """
[tool.mutmut]
source_paths = ["src/progress_common/"]
do_not_mutate = {excluded}
also_copy = [
    "tests/", "functions/", "progress_admin/", "bench/", "docs/", "events/", "layers/", "template.yaml", "env.json"
]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-W", "ignore"]
pytest_add_cli_args_test_selection = ["-m", "not slow", {tests}]
"""


def stage(modules: list[str]) -> None:
    """A copy of the tracked files (the working tree's current content), the layer moved to src/.
    mutants/ is kept: mutmut re-tests only what changed since the last run."""
    for old in WORK.glob("*"):
        if old.name != "mutants":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if not source.is_file():
            continue
        relative = Path(name)
        if LAYER in relative.parents:
            relative = Path("src/progress_common") / relative.relative_to(LAYER)
        target = WORK / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    pyproject = WORK / "pyproject.toml"
    excluded = [f"src/progress_common/{m}.py" for m in ALL_MODULES if m not in modules]
    pyproject.write_text(
        pyproject.read_text()
        + MUTMUT_CONFIG.format(
            excluded=json.dumps(excluded), tests=", ".join(json.dumps(t) for t in MUTATION_TESTS)
        )
    )


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from progress_admin.database import migrate
    from progress_admin.scratch import scratch_database
    from progress_common.settings import load_settings

    modules = ALL_MODULES if "--all" in argv else DEFAULT_MODULES
    if "--all" not in argv and not [a for a in argv if not a.startswith("-") and not a.isdigit()]:
        argv = [*argv, *DEFAULT_MUTANTS]
    argv = [a for a in argv if a != "--all"]
    print(f"mutating {', '.join(modules)}", flush=True)
    stage(modules)
    mutmut = str(Path(sys.executable).parent / "mutmut")
    with scratch_database("progress_mutate") as database:
        migrate(load_settings({"DATABASE_URL": database.url}))
        env = {**os.environ, "PROGRESS_TEST_REUSE_DATABASE_URL": database.url}
        env.pop("DATABASE_URL", None)
        run = subprocess.run([mutmut, "run", *argv], cwd=WORK, env=env, check=False)
        results = subprocess.run(
            [mutmut, "results", "--all", "true"],
            cwd=WORK,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    (WORK / "results.txt").write_text(results.stdout)
    counts: dict[str, int] = {}
    for line in results.stdout.splitlines():
        if ":" in line:
            status = line.rsplit(":", 1)[1].strip()
            counts[status] = counts.get(status, 0) + 1
    killed, survived = counts.get("killed", 0), counts.get("survived", 0)
    print(f"mutants: {counts}")
    if killed + survived:
        print(
            f"killed {killed} of {killed + survived} tested mutants ({100 * killed / (killed + survived):.1f} %)"
        )
    print(
        f"survivors: grep survived {WORK / 'results.txt'}; show one: cd .mutmut && ../.venv/bin/mutmut show NAME"
    )
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
