"""The import graph of progress_admin/, the layer, the functions and bench/, read from the sources (ast):
no module imports one that imports it back, directly or through others (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# where each tree's modules live, and the name their first folder is imported by
TREES = {
    ROOT / "progress_admin": "progress_admin",
    ROOT / "progress_schema": "progress_schema",
    ROOT / "layers" / "common" / "progress_common": "progress_common",
    ROOT / "functions": "functions",
    ROOT / "bench": "bench",
}


def module_names(trees: dict[Path, str]) -> dict[str, Path]:
    """Every module of the trees by its dotted name (a package by its own name, for its __init__.py)."""
    modules = {}
    for folder, name in trees.items():
        for path in folder.rglob("*.py"):
            parts = [name, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_modules(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that `module` imports anywhere in its source (lazy imports included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b` imports the module a.b when there is one, else a name of a
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # `import a.b.c` of a name inside a module: the longest known module it names
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph(trees: dict[Path, str]) -> dict[str, set[str]]:
    known = module_names(trees)
    return {module: imported_modules(module, path, known) for module, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another, directly or through others (a strongly connected
    component of more than one module, Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = import_graph(TREES)
    assert len(graph) > 60  # every tree was read: the layer, the functions, the tooling, the benchmarks
    assert cycles(graph) == []


def test_the_graph_sees_lazy_relative_and_from_imports_and_finds_a_cycle_through_them(tmp_path) -> None:
    """The check above can fail: a cycle made of the import forms the sources use is found."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    from pkg.sub import b\n")  # lazy, a module
    (tmp_path / "pkg" / "sub" / "b.py").write_text("from ..c import name\n")  # relative, a name
    (tmp_path / "pkg" / "c.py").write_text("import pkg.a\nname = 1\n")
    (tmp_path / "pkg" / "d.py").write_text("import pkg.c\n")  # imports into the cycle, not part of it
    graph = import_graph({tmp_path / "pkg": "pkg"})
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"}
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    (tmp_path / "pkg" / "c.py").write_text("name = 1\n")
    assert cycles(import_graph({tmp_path / "pkg": "pkg"})) == []


def test_the_migration_function_ships_the_schema_package_which_needs_nothing_else() -> None:
    """functions/migrate_schema/Makefile copies the schema package (progress_schema) and nothing of
    progress_admin (CLI, importer, serve, dashboard): everything the handler and the migrations import,
    directly or through each other, is in the layer (progress_common) or in that package."""
    makefile = (ROOT / "functions" / "migrate_schema" / "Makefile").read_text()
    graph = import_graph(TREES)
    entry = {"functions.migrate_schema.app"} | {
        m for m in graph if m.startswith("progress_schema.migrations")
    }
    reached, todo = set(), list(entry)
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        todo.extend(graph.get(module, ()))
    assert {m for m in reached if m.startswith("progress_schema")} >= {"progress_schema.database"}
    assert [m for m in reached if m.startswith("progress_admin")] == []
    assert 'cd "$(PROJECT_ROOT)/progress_schema" && cp *.py' in makefile
    assert 'cp -R "$(PROJECT_ROOT)/progress_schema/migrations"' in makefile
    commands = [
        line for line in makefile.splitlines() if line.startswith("\t") and not line.strip().startswith("#")
    ]
    assert [line for line in commands if "progress_admin" in line] == []
