"""The database's functions and triggers as reviewable source: one `.sql` file per object.

`progress_schema/sql/functions/<name>.sql` and `progress_schema/sql/triggers/<name>.sql` hold the current
definition of each object (`CREATE OR REPLACE ...`, so a file can be applied again). A migration never
reads those files directly, since they change: it applies a frozen copy of the files it changes, kept in
`progress_schema/migrations/sql/<revision>/` (same layout), so every old migration stays reproducible.
tests/test_sql_source.py fails when the migrated database differs from the current files, or when a
current file differs from its newest frozen copy (a change without a migration).

Functions the layer calls carry their version in the name (`progress_record_attempts_v1`): a change of
behaviour is a new file `..._v2.sql`, so the code of the previous release keeps calling `_v1` while a
deploy is under way; a later migration drops `_v1`. Internal functions (trigger bodies, helpers) are
replaced in place.

The SQL goes through SQLAlchemy text() to pg8000: no `%` and no `:name` in these files (a test checks).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SQL_DIR = Path(__file__).resolve().parent / "sql"
SNAPSHOT_DIR = Path(__file__).resolve().parent / "migrations" / "sql"
# Functions first (triggers refer to them), each kind in name order.
KINDS = ("functions", "triggers")

# Unversioned functions that the release before 0004 calls, kept with their old frozen definitions so that
# code keeps working while a deploy is under way; a later migration drops them. The drift test allows
# these, and only these, beside the current files. (The writers among them became wrappers of the current
# versions in 0006, with files of their own: the old bodies would break the fixed practice days.)
PREVIOUS_RELEASE_FUNCTIONS = frozenset(
    {
        "progress_read_progress",
        "progress_read_statistics",
        "progress_reset_user",
        "progress_set_legacy_longest_streak",
    }
)


@dataclass(frozen=True)
class SqlObject:
    kind: str  # "functions" or "triggers"
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def objects_in(root: Path) -> list[SqlObject]:
    """Every object defined under root, in the order they must be applied."""
    return [
        SqlObject(kind, path.stem, path) for kind in KINDS for path in sorted((root / kind).glob("*.sql"))
    ]


def current_objects() -> list[SqlObject]:
    """The current definitions: what a database at the head revision must hold."""
    return objects_in(SQL_DIR)


def snapshot_objects(revision: str) -> list[SqlObject]:
    """The frozen copies a migration applies."""
    root = SNAPSHOT_DIR / revision
    if not root.is_dir():
        raise FileNotFoundError(f"no frozen SQL for migration {revision} in {root}")
    return objects_in(root)


def apply_snapshot(op: Any, revision: str, only: Collection[str] | None = None) -> None:
    """Apply migration `revision`'s frozen definitions (call from the migration's upgrade()); `only`: just
    the objects of those names (a downgrade puts back the definitions an earlier migration froze)."""
    for obj in snapshot_objects(revision):
        if only is None or obj.name in only:
            op.execute(obj.sql())


def newest_frozen(before: str | None = None) -> dict[tuple[str, str], SqlObject]:
    """Each object's newest frozen copy (of migrations before revision `before`, when given)."""
    newest: dict[tuple[str, str], SqlObject] = {}
    for snapshot in sorted(p for p in SNAPSHOT_DIR.iterdir() if p.is_dir()):
        if before is not None and snapshot.name >= before:
            break
        for obj in objects_in(snapshot):
            newest[(obj.kind, obj.name)] = obj
    return newest


def unfrozen() -> list[SqlObject]:
    """Current files that no migration applies yet: new, or changed since their newest frozen copy."""
    newest = newest_frozen()
    return [
        obj
        for obj in current_objects()
        if (frozen := newest.get((obj.kind, obj.name))) is None or frozen.sql() != obj.sql()
    ]


def freeze(revision: str) -> list[Path]:
    """Copy every unfrozen current file into migrations/sql/<revision>/ (for the new migration to apply)."""
    written = []
    for obj in unfrozen():
        target = SNAPSHOT_DIR / revision / obj.kind / obj.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(obj.sql(), encoding="utf-8")
        written.append(target)
    return written
