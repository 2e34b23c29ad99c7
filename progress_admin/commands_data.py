"""progress-admin commands on the data and the schema's sources: `archive`, `import-json`, `cover-days`,
`erase`, `openapi` and `sql-freeze`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from progress_admin.command_registry import (
    bounded_setting,
    command,
    positive_seconds,
    project_root,
    setting_bounds,
    setting_default,
)


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


def _configure_sql_freeze(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("revision", help="the new migration's revision, e.g. 0009")


@command(
    "sql-freeze",
    "copy the SQL files changed since the last migration into migrations/sql/REVISION/",
    _configure_sql_freeze,
)
def _sql_freeze(args: argparse.Namespace) -> int:
    from progress_schema import sqlsource

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

    from progress_common.archive import archive_old_attempts
    from progress_common.db import make_engine
    from progress_schema.database import admin_settings

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


def _configure_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory", type=Path, help="folder with attempts_<user>.json files and streaks.json"
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would be imported, write nothing")


@command("import-json", "import the old system's JSON progress files (idempotent)", _configure_import)
def _import_json(args: argparse.Namespace) -> int:
    from progress_admin.importer import ImportDirectoryError, check_directory, import_directory
    from progress_schema.database import admin_engine, admin_settings, migrate

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
    from progress_common.identity import parse_user_id
    from progress_schema.database import admin_engine, admin_settings, migrate

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
    from progress_common.erasure import erase_user
    from progress_common.export_store import LocalExportStore, export_store
    from progress_common.identity import parse_user_id
    from progress_schema.database import admin_engine, admin_settings, local_exports_dir, migrate

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
