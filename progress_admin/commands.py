"""The progress-admin commands beyond `migrate`, each as (help, configure-parser, run)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

REGISTRY: dict[str, tuple[str, Configure, Run]] = {}
SERVE_DEFAULT_PORT = 3000  # where `./dev serve` listens unless told --port


def local_url(port: int) -> str:
    """The base URL of `serve` on loopback at that port."""
    return f"http://127.0.0.1:{port}"


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high, else a one-line error (argparse exits 2)."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: use {low} to {high}")
        return value

    return parse


# a TCP port a URL can name; serve's own --port also takes 0 (a free one)
PORT = bounded_int(1, 65_535)
# a demo history reaches back at most this far (attempts before 2000-01-01 are refused anyway)
DEMO_MAX_DAYS = 3_650


def _add_port_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=PORT,
        default=SERVE_DEFAULT_PORT,
        help=f"the port `serve` listens on, for the URLs printed (default {SERVE_DEFAULT_PORT})",
    )


def command(name: str, help_text: str, configure: Configure) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        REGISTRY[name] = (help_text, configure, run)
        return run

    return register


def _configure_openapi(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="fail when the committed document has drifted")
    parser.add_argument(
        "--output", type=Path, default=None, help="where to write (default docs/openapi.json)"
    )


@command("openapi", "generate docs/openapi.json from the code (or --check it)", _configure_openapi)
def _openapi(args: argparse.Namespace) -> int:
    from progress_admin import openapi

    path = args.output or openapi.DOC_PATH
    if args.check:
        if openapi.check(path):
            print(f"{path} is up to date")
            return 0
        print(f"{path} differs from the code: run `progress-admin openapi` and commit it", file=sys.stderr)
        return 1
    print(f"wrote {openapi.write(path)}")
    return 0


def setting_bounds(name: str) -> tuple[int, int]:
    """The (minimum, maximum) Settings allows for an integer setting: one definition for the environment
    variable and the command-line option."""
    from annotated_types import Ge, Le

    from progress_common.settings import Settings

    metadata = Settings.model_fields[name].metadata
    low = next(m.ge for m in metadata if isinstance(m, Ge))
    high = next(m.le for m in metadata if isinstance(m, Le))
    return int(low), int(high)  # type: ignore[call-overload]


def setting_default(name: str) -> Any:
    """The default Settings gives a setting when its environment variable is unset."""
    from progress_common.settings import Settings

    return Settings.model_fields[name].default


def bounded_setting(name: str) -> Callable[[str], int]:
    """An argparse type: an integer within the bounds of the setting `name`, else a clear error."""
    return bounded_int(*setting_bounds(name))


def positive_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{raw} seconds makes no sense: give a positive number")
    return value


def _configure_sql_freeze(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("revision", help="the new migration's revision, e.g. 0009")


@command(
    "sql-freeze",
    "copy the SQL files changed since the last migration into migrations/sql/REVISION/",
    _configure_sql_freeze,
)
def _sql_freeze(args: argparse.Namespace) -> int:
    from progress_admin import sqlsource

    if not args.revision.isdigit():
        print("the revision is the new migration's number, e.g. 0009", file=sys.stderr)
        return 2
    written = sqlsource.freeze(args.revision)
    for path in written:
        print(f"froze {path.relative_to(sqlsource.SNAPSHOT_DIR.parent.parent.parent)}")
    if not written:
        print("nothing to freeze: every SQL file equals its newest frozen copy")
    else:
        print(f"apply them in migration {args.revision}: apply_snapshot(op, revision)")
    return 0


def _configure_archive(parser: argparse.ArgumentParser) -> None:
    days_low, days_high = setting_bounds("archive_retention_days")
    batch_low, batch_high = setting_bounds("archive_batch_size")
    parser.add_argument(
        "--retention-days",
        type=bounded_setting("archive_retention_days"),
        default=None,
        metavar="DAYS",
        help=f"move attempts made more than DAYS days ago ({days_low}..{days_high}; "
        f"default: ARCHIVE_RETENTION_DAYS, else {setting_default('archive_retention_days')})",
    )
    parser.add_argument(
        "--batch-size",
        type=bounded_setting("archive_batch_size"),
        default=None,
        metavar="N",
        help=f"attempts moved per transaction ({batch_low}..{batch_high}; "
        f"default: ARCHIVE_BATCH_SIZE, else {setting_default('archive_batch_size')})",
    )
    parser.add_argument(
        "--max-seconds",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="stop cleanly between batches once about SECONDS have passed, leaving the rest for the next "
        "run (a positive number; default: run until nothing old is left)",
    )


@command("archive", "move attempts older than the retention period to attempts_archive", _configure_archive)
def _archive(args: argparse.Namespace) -> int:
    import json
    import time

    from progress_admin.database import admin_settings
    from progress_common.archive import archive_old_attempts
    from progress_common.db import make_engine

    # ArchiveAttemptsFunction's own database limits (statement, connect/read timeouts) from template.yaml,
    # unless the environment sets them: a batch the deployed function completes completes here too, and a
    # hung server is an error after that long, not a command that never returns
    settings = admin_settings(archive_function_limits())
    engine = make_engine(settings, pool_size=1)
    deadline = None if args.max_seconds is None else time.monotonic() + args.max_seconds

    def remaining_ms() -> int:
        assert deadline is not None
        return int((deadline - time.monotonic()) * 1000)

    try:
        result = archive_old_attempts(
            retention_days=(
                settings.archive_retention_days if args.retention_days is None else args.retention_days
            ),
            batch_size=settings.archive_batch_size if args.batch_size is None else args.batch_size,
            remaining_ms=None if deadline is None else remaining_ms,
            engine=engine,
        )
    finally:
        engine.dispose()
    print(json.dumps(result.as_dict()))
    return 0


ARCHIVE_FUNCTION = "ArchiveAttemptsFunction"


def archive_function_limits() -> dict[str, str]:
    """DB_STATEMENT_TIMEOUT_MS and DB_CONNECT_TIMEOUT_SECONDS as the template gives them to the archival
    function (the variables it has of these)."""
    from progress_admin.local.intrinsics import local_values
    from progress_admin.local.template import function_environment, load_template

    template = load_template(project_root() / "template.yaml")
    variables = function_environment(template, ARCHIVE_FUNCTION, local_values(template)).variables
    return {
        name: variables[name]
        for name in ("DB_STATEMENT_TIMEOUT_MS", "DB_CONNECT_TIMEOUT_SECONDS")
        if name in variables
    }


def project_root() -> Path:
    """The folder holding template.yaml: the current one or a parent."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").is_file():
            return folder
    raise SystemExit("progress-admin: run this inside the project (no template.yaml found)")


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=bounded_int(0, 65_535),
        default=SERVE_DEFAULT_PORT,
        help=f"port (default {SERVE_DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="the local value of the CorsAllowedOrigins parameter (repeatable), e.g. http://localhost:5173; "
        "default: the parameter's Default in template.yaml (none: same origin only)",
    )
    parser.add_argument(
        "--dashboard-api-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an API origin the dashboard may call besides this server (repeatable; name the WebSocket "
        "API's too), e.g. https://abc.execute-api.eu-west-1.amazonaws.com; a token is only ever sent to "
        "the API it was given for, and the page's Content-Security-Policy allows no other",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="local values of template parameters, as `sam local --parameter-overrides`",
    )


def parse_parameter_overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in args.parameter_overrides:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--parameter-overrides takes NAME=VALUE, not {item!r}")
        overrides[name] = value
    if args.cors_origin:
        overrides["CorsAllowedOrigins"] = ",".join(args.cors_origin)
    return overrides


def dashboard_url(base: str, token: str) -> str:
    """The dashboard with the token in the fragment, which the browser never sends to a server."""
    return f"{base}/#token={token}"


@command("serve", "run the HTTP API locally on loopback (no JWT verification)", _configure_serve)
def _serve(args: argparse.Namespace) -> int:
    import os
    import signal
    import warnings

    from progress_admin.database import admin_settings, migrate
    from progress_admin.local.serve import BANNER, create_server

    warnings.filterwarnings("ignore", message="No application metrics to publish")

    root = project_root()
    # the rest of each function's environment comes from template.yaml (progress_admin/local/gateway.py)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("DB_POOL_SIZE", "2")
    try:
        overrides = parse_parameter_overrides(args)
    except ValueError as exc:
        print(f"progress-admin serve: {exc}", file=sys.stderr)
        return 2
    revision = migrate(admin_settings())
    print(f"database schema is at revision {revision}", file=sys.stderr)
    try:
        server = create_server(
            root,
            args.host,
            args.port,
            log=lambda line: print(line, file=sys.stderr),
            parameter_overrides=overrides,
            dashboard_api_origins=args.dashboard_api_origin,
        )
    except ValueError as exc:
        print(f"progress-admin serve: {exc}", file=sys.stderr)
        return 2
    host, port = str(server.server_address[0]), int(server.server_address[1])
    url = f"http://{host}:{port}"
    routes = ", ".join(server.local_api.route_keys)
    print(BANNER.format(url=url, routes=routes), file=sys.stderr, flush=True)
    print(describe_local_setup(server.local_api), file=sys.stderr, flush=True)
    # SIGTERM ends like Ctrl-C, so the embedded PostgreSQL is stopped on the way out (atexit)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def describe_local_setup(api: Any) -> str:
    """What serve took from template.yaml: CORS origins and what only AWS can supply."""
    cors = api.cors
    origins = ", ".join(cors.allow_origins) if cors and cors.allow_origins else "none (same origin only)"
    lines = [f"CORS (CorsConfiguration of the HTTP API): allowed origins {origins}"]
    if cors and not cors.allow_origins:
        lines.append("  a frontend on another port: --cors-origin http://localhost:5173")
    if api.overrides:
        lines.append(
            "Local parameter values: " + ", ".join(f"{k}={v}" for k, v in sorted(api.overrides.items()))
        )
    left_out = sorted({name for env in api.environments.values() for name in env.left_out})
    if left_out:
        lines.append(f"Environment from template.yaml; AWS-only, left out: {', '.join(left_out)}")
    return "\n".join(lines)


def _configure_token(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", default="user_7", help="the user id claim (default user_7)")
    parser.add_argument("--claim", default=None, help="claim name (default USER_ID_CLAIM or sub)")
    parser.add_argument(
        "--scope",
        default=None,
        help="the token's scope claim, e.g. progress/erase (the app's backend erasing)",
    )
    _add_port_argument(parser)


@command("token", "print an unsigned JWT for `serve` (which does not verify tokens)", _configure_token)
def _token(args: argparse.Namespace) -> int:
    import os

    from progress_admin.local.gateway import make_token

    claim = args.claim or os.environ.get("USER_ID_CLAIM") or "sub"
    claims = {claim: args.user, "iss": "progress-admin (local, unsigned)"}
    if args.scope:
        claims["scope"] = args.scope
    token = make_token(claims)
    print(token)
    # stdout stays the bare token (TOKEN=$(progress-admin token)); the URL goes to stderr
    print(f"dashboard: {dashboard_url(local_url(args.port), token)}", file=sys.stderr)
    return 0


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", default="user_7", help="user to fill (default user_7)")
    parser.add_argument(
        "--days",
        type=bounded_int(0, DEMO_MAX_DAYS),
        default=365,
        help=f"days of history before today (0..{DEMO_MAX_DAYS}; default 365: the dashboard shows a year)",
    )
    parser.add_argument("--timezone", default="Europe/Berlin", help="the user's IANA timezone")
    _add_port_argument(parser)


@command("demo-data", "put a demo learner's history in the local database (idempotent)", _configure_demo)
def _demo_data(args: argparse.Namespace) -> int:
    from progress_admin.database import admin_engine, admin_settings, migrate
    from progress_admin.demo import demo_attempts
    from progress_admin.local.gateway import make_token
    from progress_common.errors import ProgressError
    from progress_common.identity import parse_user_id
    from progress_common.models import validate_timezone
    from progress_common.writes import save_attempts

    try:  # before any database is started
        user_id = parse_user_id(args.user)
        validate_timezone(args.timezone)
    except (ProgressError, ValueError) as exc:
        print(f"progress-admin demo-data: {exc}", file=sys.stderr)
        return 2
    settings = admin_settings()
    migrate(settings)
    engine = admin_engine(settings)
    try:
        attempts = demo_attempts(user_id, days=args.days, timezone=args.timezone)
        written = save_attempts(attempts, engine=engine)
    finally:
        engine.dispose()
    print(f"user {user_id}: {len(written)} attempts written, {len(attempts) - len(written)} already there")
    token = make_token({"sub": args.user})
    print(f"token: {token}")
    print(f"open:  {dashboard_url(local_url(args.port), token)}")
    print(f'try:   curl -s -H "Authorization: Bearer {token}" {local_url(args.port)}/progress')
    return 0


def _configure_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory", type=Path, help="folder with attempts_<user>.json files and streaks.json"
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would be imported, write nothing")


@command("import-json", "import the old system's JSON progress files (idempotent)", _configure_import)
def _import_json(args: argparse.Namespace) -> int:
    from progress_admin.database import admin_engine, admin_settings, migrate
    from progress_admin.importer import ImportDirectoryError, check_directory, import_directory

    try:
        check_directory(args.directory)  # before any database is started
    except ImportDirectoryError as exc:
        print(f"progress-admin import-json: {exc}", file=sys.stderr)
        return 2
    settings = admin_settings()
    migrate(settings)
    engine = admin_engine(settings, pool_size=2)  # the importer counts on one, writes on the other
    try:
        report = import_directory(args.directory, engine, dry_run=args.dry_run, progress=sys.stderr)
    finally:
        engine.dispose()
    return 0 if report.clean else 1


def _configure_cover_days(parser: argparse.ArgumentParser) -> None:
    import datetime as dt

    parser.add_argument("--from", dest="first", type=dt.date.fromisoformat, required=True, help="first day")
    parser.add_argument("--to", dest="last", type=dt.date.fromisoformat, required=True, help="last day")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", dest="users", action="append", help="a user id (repeat for more)")
    who.add_argument(
        "--active-on",
        type=dt.date.fromisoformat,
        help="every user with at least one attempt on this local day (their practice day)",
    )
    parser.add_argument("--reason", required=True, help="why (kept with each covered day)")


@command(
    "cover-days",
    "cover days (an outage, a support repair): they keep streaks unbroken (idempotent)",
    _configure_cover_days,
)
def _cover_days(args: argparse.Namespace) -> int:
    from progress_admin.covered import check_request, cover_days
    from progress_admin.database import admin_engine, admin_settings, migrate
    from progress_common.identity import parse_user_id

    try:  # before any database is started
        users = [parse_user_id(u) for u in args.users] if args.users else None
        check_request(args.first, args.last, args.reason)
    except ValueError as exc:
        print(f"progress-admin cover-days: {exc}", file=sys.stderr)
        return 2
    settings = admin_settings()
    migrate(settings)
    engine = admin_engine(settings)
    try:
        report = cover_days(
            engine, args.first, args.last, args.reason, user_ids=users, active_on=args.active_on
        )
    finally:
        engine.dispose()
    print("\n".join(report.lines()))
    return 0


def _configure_erase(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user",
        dest="users",
        action="append",
        required=True,
        help="the learner (user_7 or 7); repeat for more",
    )


def describe_erasure(user_id: int, deleted: dict[str, int]) -> str:
    """One line: what the erasure of one learner removed."""
    removed = [f"{count} {name.replace('_', ' ')}" for name, count in deleted.items() if count]
    return f"user {user_id}: " + (
        "erased " + ", ".join(removed) if removed else "nothing stored, nothing to erase"
    )


@command(
    "erase",
    "erase learners (account deletion): every row of theirs in every table and their export files; idempotent",
    _configure_erase,
)
def _erase(args: argparse.Namespace) -> int:
    from progress_admin.database import admin_engine, admin_settings, local_exports_dir, migrate
    from progress_common.erasure import erase_user
    from progress_common.export_store import LocalExportStore, export_store
    from progress_common.identity import parse_user_id

    try:  # before any database is started
        users = [parse_user_id(u) for u in args.users]
    except ValueError as exc:
        print(f"progress-admin erase: {exc}", file=sys.stderr)
        return 2
    settings = admin_settings()
    migrate(settings)
    engine = admin_engine(settings)
    # EXPORT_BUCKET (an operator's AWS credentials), else the export folder of `serve`
    store = export_store() or LocalExportStore(local_exports_dir())
    try:
        for user_id in users:
            result = erase_user(user_id, engine=engine, store=store)
            print(describe_erasure(user_id, result.deleted.model_dump()))
    finally:
        engine.dispose()
    return 0
