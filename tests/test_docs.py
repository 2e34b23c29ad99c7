"""The documentation names only what exists: every link, file path, `./dev` and `progress-admin` command,
HTTP route and environment variable that README.md or a page of docs/ names is checked against the
repository, so the pages stay true when the code moves. The contract's sections marked "Not built yet"
(docs/design.md) name what is asked for and not yet there, and are left out of the route and variable
checks only."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from progress_admin.cli import build_parser
from progress_admin.local.template import http_routes, load_template

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
IDS = [str(p.relative_to(ROOT)) for p in PAGES]

# Routes the local stand-in of AWS answers itself (progress_admin/local), besides the template's.
LOCAL_ROUTES = {
    "POST /local/attempts",
    "POST /local/sqs",
    "GET /local/exports",
    "GET /local/signals",
    "POST /@connections/{id}",
    "DELETE /@connections/{id}",
    "GET /openapi.json",
    "GET /docs",
    "GET /",
    "OPTIONS /progress",
}
SOURCES = ("*.py", "*.sql", "*.yaml", "*.toml", "*.json", "*.sh", "Makefile", "dev", "run")


def _code(text: str) -> str:
    """What a page shows as code: its fenced blocks and inline `spans` (where commands are named)."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL))
    return "\n".join(fenced + inline)


def _built_part(page: Path) -> str:
    """The page without the sections that say **Not built yet** (up to the next heading of any level)."""
    kept: list[str] = []
    skipping = False
    lines = page.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#"):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            skipping = following.startswith("**Not built yet**")
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    inside_code = False
    anchors = set()
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            inside_code = not inside_code
        elif not inside_code and line.startswith("#"):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


@cache
def _source_text() -> str:
    files: set[Path] = set()
    for pattern in SOURCES:
        for path in ROOT.rglob(pattern):
            parts = set(path.relative_to(ROOT).parts)
            if not parts & {".venv", ".venv-sam", ".aws-sam", ".git", ".mutmut", ".local", "node_modules"}:
                files.add(path)
    files.discard(Path(__file__).resolve())  # names the mistakes it checks for
    files.add(ROOT / ".ci" / "run")
    return "\n".join(p.read_text(errors="replace") for p in files if p.is_file())


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_link_resolves(page: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: link to {target} (no {resolved})"
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved), f"{page.name}: link to {target} (no such heading)"


# a backticked repository path: starts with a top-level folder of the project, or is a top-level file
_PATH = re.compile(
    r"`((?:functions|layers|progress_admin|tests|bench|scripts|events|docs|examples|\.ci)/[\w./\-]*"
    r"|template\.yaml|pyproject\.toml|samconfig\.toml|env\.json|dev|README\.md)`"
)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_file_path_exists(page: Path) -> None:
    for path in _PATH.findall(page.read_text()):
        assert (ROOT / path.rstrip("/")).exists(), f"{page.name} names {path}, which does not exist"


def _dev_commands() -> set[str]:
    return set(re.findall(r"^    ([a-z]+)\)$", (ROOT / "dev").read_text(), re.MULTILINE))


def _admin_commands() -> set[str]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return set(sub.choices)  # type: ignore[attr-defined]


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_command_exists(page: Path) -> None:
    text = _code(_built_part(page))
    dev, admin = _dev_commands(), _admin_commands()
    for command in re.findall(r"\./dev ([a-z]+)", text):
        assert command in dev | {"help"}, f"{page.name}: ./dev {command} is no command of ./dev"
    for command in re.findall(r"(?:progress-admin|\./dev admin) ([a-z][a-z\-]*)", text):
        assert command in admin, f"{page.name}: progress-admin {command} is no command"


def _template_routes() -> set[str]:
    return {f"{r.method} {r.path}" for r in http_routes(load_template(ROOT / "template.yaml"))}


def _route_in(route: str, known: set[str]) -> bool:
    method, path = route.split(" ", 1)
    path = path.split("?", 1)[0].rstrip("/") or "/"
    for candidate in known:
        c_method, c_path = candidate.split(" ", 1)
        pattern = re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(c_path))
        if c_method == method and (re.fullmatch(pattern, path) or c_path == path):
            return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_route_exists(page: Path) -> None:
    known = _template_routes() | LOCAL_ROUTES
    for route in re.findall(r"\b((?:GET|POST|PUT|DELETE|PATCH) /[\w/{}.\-@?=&*]*)", _built_part(page)):
        route = route.rstrip(".")
        if route.endswith("/*"):
            continue  # an IAM resource pattern (execute-api:ManageConnections on POST @connections/*)
        if route.split(" ", 1)[1].startswith(("/local/exports/", "/dashboard/")):
            continue  # files served under those prefixes
        assert _route_in(route, known), f"{page.name} names the route {route}, which nothing serves"


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_environment_variable_exists(page: Path) -> None:
    from progress_common.settings import ExportSettings, IngestSettings, LiveSettings, Settings

    models = (Settings, LiveSettings, ExportSettings, IngestSettings)
    settings = {f.upper() for model in models for f in model.model_fields}
    source = _source_text()
    for name in set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=[^`]*)?`", _built_part(page))):
        # a setting is read by pydantic under its lower-case field name
        known = name in settings or re.search(rf"\b{name}\b", source)
        assert known, f"{page.name} names {name}, which no code reads or sets"


def test_the_checks_see_what_is_not_there(tmp_path: Path) -> None:
    """The checks above would fail: each kind of mistake, in a page of its own."""
    page = tmp_path / "page.md"
    page.write_text(
        "[gone](no-such-file.md) `progress_admin/no_such.py` `./dev frobnicate` "
        "`progress-admin frobnicate` `GET /progress/nothing` `NO_SUCH_SETTING`\n"
    )
    for check in (
        test_every_link_resolves,
        test_every_file_path_exists,
        test_every_command_exists,
        test_every_route_exists,
        test_every_environment_variable_exists,
    ):
        with pytest.raises(AssertionError):
            check(page)


def test_no_page_points_outside_the_repository() -> None:
    for path in [*PAGES, *ROOT.rglob("*.py")]:
        if path == Path(__file__).resolve():
            continue
        if {".venv", ".venv-sam", ".aws-sam", ".mutmut"} & set(path.relative_to(ROOT).parts):
            continue
        assert "../shared" not in path.read_text(), path


def test_the_front_page_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
