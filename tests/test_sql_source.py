"""The database's functions and triggers are exactly the `.sql` files of progress_admin/sql (no drift)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from progress_admin import sqlsource
from progress_common.db import make_engine
from progress_common.settings import get_settings
from tests.conftest import ROOT

FUNCTIONS_SQL = text(
    "SELECT p.proname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',"
    " pg_get_functiondef(p.oid)"
    " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname = 'public' AND p.prokind = 'f'"
)
TRIGGERS_SQL = text(
    "SELECT t.tgname, pg_get_triggerdef(t.oid)"
    " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'public' AND NOT t.tgisinternal"
)


def definitions(conn: Connection) -> dict[str, str]:
    """Every function and trigger of the schema, as PostgreSQL itself prints it."""
    allowed = sqlsource.PREVIOUS_RELEASE_FUNCTIONS
    found = {
        f"function {sig}": definition
        for name, sig, definition in conn.execute(FUNCTIONS_SQL)
        if name not in allowed
    }
    found.update({f"trigger {name}": definition for name, definition in conn.execute(TRIGGERS_SQL)})
    return found


def drift(conn: Connection) -> list[str]:
    """Objects that differ between the database and the source files: applying the files (in a transaction
    rolled back afterwards) must change no definition, and no object may exist that no file defines."""
    before = definitions(conn)
    for obj in sqlsource.current_objects():
        conn.execute(text(obj.sql()))
    after = definitions(conn)
    conn.rollback()
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    defined = {f"{o.kind[:-1]} {o.name}" for o in sqlsource.current_objects()}
    unknown = {key for key in before if key.split("(")[0] not in defined}
    return sorted(changed | unknown)


@pytest.fixture
def transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is always rolled back: DDL here never reaches other tests."""
    eng = make_engine(get_settings(), pool_size=1, autocommit=False)
    try:
        with eng.connect() as conn:
            yield conn
            conn.rollback()
    finally:
        eng.dispose()


def test_migrated_database_matches_the_sql_files(transaction: Connection) -> None:
    assert drift(transaction) == []


def test_database_holds_exactly_the_source_objects(transaction: Connection) -> None:
    functions = {name for name, _, _ in transaction.execute(FUNCTIONS_SQL)}
    triggers = {name for name, _ in transaction.execute(TRIGGERS_SQL)}
    current = sqlsource.current_objects()
    source_functions = {o.name for o in current if o.kind == "functions"}
    assert functions == source_functions | sqlsource.PREVIOUS_RELEASE_FUNCTIONS
    assert triggers == {o.name for o in current if o.kind == "triggers"}


def test_drift_is_detected(transaction: Connection) -> None:
    # a hot fix applied by hand, not in the source: the comparison must name it
    transaction.execute(
        text(
            "CREATE OR REPLACE FUNCTION progress_refresh_day_summary(p_user_id bigint,"
            " p_changed_from date DEFAULT '-infinity') RETURNS void LANGUAGE plpgsql AS $fn$ BEGIN END $fn$"
        )
    )
    transaction.execute(
        text("CREATE FUNCTION progress_not_in_source() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    )
    assert drift(transaction) == [
        "function progress_not_in_source()",
        "function progress_refresh_day_summary(p_user_id bigint, p_changed_from date)",
    ]


def all_sql_files() -> list[sqlsource.SqlObject]:
    snapshots = [p for p in sorted(sqlsource.SNAPSHOT_DIR.iterdir()) if p.is_dir()]
    return sqlsource.current_objects() + [o for s in snapshots for o in sqlsource.objects_in(s)]


@pytest.mark.parametrize("obj", all_sql_files(), ids=lambda o: str(o.path.relative_to(ROOT)))
def test_each_file_defines_its_object_and_survives_text(obj: sqlsource.SqlObject) -> None:
    sql = obj.sql()
    keyword = "FUNCTION" if obj.kind == "functions" else "TRIGGER"
    assert re.findall(rf"CREATE OR REPLACE {keyword} (\w+)", sql) == [obj.name]
    # SQLAlchemy text() would take ":name" for a bind parameter; pg8000 (format style) needs "%%" for "%"
    assert "%" not in sql
    assert re.search(r"(?<![:\w]):[A-Za-z_]", sql) is None


def test_every_source_change_has_a_migration() -> None:
    """Each current file equals its newest frozen copy: a changed file needs a migration that applies it."""
    assert [obj.path.name for obj in sqlsource.unfrozen()] == []


def test_sql_freeze_copies_exactly_the_changed_files(tmp_path, monkeypatch, capsys) -> None:
    from progress_admin.cli import main

    source = tmp_path / "sql"
    snapshots = tmp_path / "progress_admin" / "migrations" / "sql"
    for kind in sqlsource.KINDS:
        (source / kind).mkdir(parents=True)
    (snapshots / "0001" / "functions").mkdir(parents=True)
    (source / "functions" / "f.sql").write_text("-- f v2\n")
    (source / "functions" / "g.sql").write_text("-- g\n")
    (source / "triggers" / "t.sql").write_text("-- t\n")
    (snapshots / "0001" / "functions" / "f.sql").write_text("-- f v1\n")
    (snapshots / "0001" / "functions" / "g.sql").write_text("-- g\n")
    monkeypatch.setattr(sqlsource, "SQL_DIR", source)
    monkeypatch.setattr(sqlsource, "SNAPSHOT_DIR", snapshots)
    assert main(["sql-freeze", "0002"]) == 0
    frozen = sorted(str(p.relative_to(snapshots)) for p in snapshots.rglob("*.sql"))
    assert frozen == [
        "0001/functions/f.sql",
        "0001/functions/g.sql",
        "0002/functions/f.sql",
        "0002/triggers/t.sql",
    ]
    assert (snapshots / "0002" / "functions" / "f.sql").read_text() == "-- f v2\n"
    assert sqlsource.unfrozen() == []
    assert main(["sql-freeze", "0003"]) == 0
    assert "nothing to freeze" in capsys.readouterr().out


def test_the_layer_calls_only_versioned_functions() -> None:
    layer = ROOT / "layers" / "common" / "progress_common"
    called = {
        name
        for path in [*layer.glob("*.py"), *(ROOT / "progress_admin").glob("*.py")]
        for name in re.findall(r"\b(progress_\w+)\(", path.read_text())
        if re.search(rf"(SELECT|FROM) {name}\(", path.read_text())
    }
    source = {o.name for o in sqlsource.current_objects() if o.kind == "functions"}
    assert called, "the layer calls no database function?"
    for name in called:
        assert re.fullmatch(r"progress_\w+_v\d+", name), f"{name} has no version in its name"
        assert name in source
