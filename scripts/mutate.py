"""`./dev mutate`: mutation testing of the CommonLayer (layers/common/progress_common) with mutmut 3.

Not part of `./dev test` or CI: it runs the suite once per mutant. To be practical on two shared cores:
- mutmut runs, for each mutant, only the tests that executed the mutated function (its coverage map),
  with -x, and only the tests not marked `slow`;
- every run shares one database, made and migrated once here (PROGRESS_TEST_REUSE_DATABASE_URL);
- mutmut needs the package under src/, so the work happens in a copy of the tracked files, .mutmut/,
  with the layer at src/progress_common.
Arguments are passed to `mutmut run` (e.g. mutant names). Results: .mutmut/results.txt.
One mutant at a time (--max-children 1, whatever is asked): the runs share one database, and two mutants'
tests at once would empty each other's tables and count as kills.
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

# Every module of the layer is mutated by default (about 2 300 mutants: hours on two cores).
# `--module NAME[,NAME...]` mutates only those modules (each module's score can be produced on its own,
# e.g. by different engineers at once); mutant names as arguments run just those mutants.
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
    "tests/test_sqltext.py",
    "tests/test_schema.py",
    "tests/test_streaks.py",
    "tests/test_round_trips.py",
    "tests/test_covered_days.py",
    "tests/test_layer.py",
    "tests/test_timezones.py",
    "tests/test_live_units.py",
    "tests/test_cursor.py",
    "tests/test_live_settings.py",
    "tests/test_attempt_message.py",
    "tests/test_snapstart_and_tracing.py",
    "tests/test_db_engine.py",
    "tests/test_http_plumbing.py",
    "tests/test_export.py",
    "tests/test_erasure.py",
    "tests/test_credentials_rotation.py",
]
ALL_MODULES = sorted(p.stem for p in (ROOT / LAYER).glob("*.py") if p.stem != "__init__")

MUTMUT_CONFIG = """
[tool.mutmut]
source_paths = ["src/progress_common/"]
do_not_mutate = {excluded}
also_copy = {also_copy}
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
    top_level: set[str] = set()
    for name in filter(None, files):
        source = ROOT / name
        if not source.is_file():
            continue
        relative = Path(name)
        if LAYER in relative.parents:
            relative = Path("src/progress_common") / relative.relative_to(LAYER)
        top_level.add(relative.parts[0])
        target = WORK / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    selection = WORK / "mutants" / "modules.txt"
    if selection.is_file() and set(selection.read_text().split()) != set(modules):
        # another set of modules than the last run: the map of which tests run which function was made
        # without the newly mutated ones (mutmut would find "no tests"), so it is made again
        (WORK / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    selection.parent.mkdir(parents=True, exist_ok=True)
    selection.write_text("\n".join(modules))
    for module in modules:
        # newer than mutants/: mutmut skips a file whose copy there is newer (e.g. copied unmutated by an
        # earlier run that left the module out); unchanged functions keep their results (by hash)
        os.utime(WORK / "src/progress_common" / f"{module}.py")
    pyproject = WORK / "pyproject.toml"
    excluded = [f"src/progress_common/{m}.py" for m in ALL_MODULES if m not in modules]
    pyproject.write_text(
        pyproject.read_text()
        + MUTMUT_CONFIG.format(
            excluded=json.dumps(excluded),
            also_copy=json.dumps(sorted(top_level - {"src", "pyproject.toml"})),
            tests=", ".join(json.dumps(t) for t in MUTATION_TESTS),
        )
    )


def _modules(argv: list[str]) -> tuple[list[str], list[str]]:
    """The modules to mutate (`--module a,b` or `--module=a,b`; default all) and the rest of argv."""
    modules: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--all":
            continue  # the default; kept so that older commands still work
        if arg == "--module" or arg.startswith("--module="):
            value = arg.partition("=")[2] if "=" in arg else next(args, "")
            modules.extend(filter(None, value.split(",")))
        else:
            rest.append(arg)
    unknown = sorted(set(modules) - set(ALL_MODULES))
    if unknown:
        raise SystemExit(f"unknown module(s) {', '.join(unknown)}; the layer has {', '.join(ALL_MODULES)}")
    return (sorted(set(modules)) or ALL_MODULES), rest


def _one_child(argv: list[str]) -> list[str]:
    """argv with `--max-children 1`: every mutant's tests use the one database made here (each test empties
    its tables afterwards), so two at once would fail each other's tests and report false kills."""
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--max-children":
            asked = next(args, "1")
        elif arg.startswith("--max-children="):
            asked = arg.partition("=")[2]
        else:
            rest.append(arg)
            continue
        if asked != "1":
            print(f"--max-children {asked}: running one mutant at a time (the runs share one database)")
    return ["--max-children", "1", *rest]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from progress_admin.scratch import scratch_database
    from progress_common.settings import load_settings
    from progress_schema.database import migrate

    modules, argv = _modules(argv)
    argv = _one_child(argv)
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
