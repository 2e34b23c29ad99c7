"""`progress-admin import-json DIR`: bring the old system's JSON progress files into the database.

Accepted files (see docs/operations.md, "Importing the old JSON files"):
- `attempts_<user>.json` (`attempts_user_7.json` or `attempts_7.json`): a list of attempts, or an object
  with an `attempts` list. Each attempt: `exercise_id`, `is_correct` or `correct`, `created_at` or
  `timestamp` (ISO 8601; without an offset it is read as UTC), optional `user_answer` or `answer`,
  `session_id`, `id`, `user_id` (when present it must name the file's user).
- `streaks.json`: per-user streak records, either `{"user_7": {"longest_streak": 12, ...}, ...}` or a
  list of `{"user_id": "user_7", "longest_streak": 12, ...}`; an optional `timezone` (IANA) is applied.

Files are read as a stream, record by record, and written through the shared write path in chunks of
RECORDS_PER_STATEMENT (each chunk one transaction), so memory stays bounded whatever a file's size. Each
imported attempt gets a stable key, so a second run (or a run after an interrupted one) imports nothing
twice. Every problem is reported with its file and record index, and the run goes on.
Symbolic links are followed only to files inside the directory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from progress_admin.import_attempts import (
    KEYS_CLEAR_SQL,
    KEYS_TABLE_SQL,
    SEEN_TABLE_SQL,
    import_attempts_file,
)
from progress_admin.import_report import FileReport, ImportReport
from progress_admin.json_files import JsonStream, UnreadableRestError, open_inside
from progress_common.db import is_transient
from progress_common.errors import DatabaseUnavailableError, InvalidUserIdError
from progress_common.identity import parse_user_id
from progress_common.models import validate_timezone

ATTEMPTS_FILE = re.compile(r"attempts_(?P<user>.+)\.json")
STREAKS_FILE = "streaks.json"
PROGRESS_BAR_MIN_FILES = 10
INT4_MAX = 2**31 - 1  # the longest streak a profile holds (integer column)
LEGACY_STREAK_SQL = text("SELECT progress_set_legacy_longest_streak_v1(:user_id, :longest)")
SET_TIMEZONE_SQL = text("SELECT progress_set_timezone_v1(:user_id, :timezone)")


class ImportDirectoryError(Exception):
    """The directory to import does not exist or is not a directory."""


def _streak_entries(stream: JsonStream) -> Iterator[tuple[str, Any, Any]]:
    """(where, raw user id, record) for each record of streaks.json, object or list form."""
    if stream.peek() == "{":
        for key in stream.object_keys():
            yield key, key, stream.value()
    elif stream.peek() == "[":
        for index, item in enumerate(stream.array_items()):
            yield str(index), item.get("user_id") if isinstance(item, dict) else None, item
    else:
        raise UnreadableRestError("expected an object keyed by user id, or a list of records with user_id")
    stream.end()


def _apply_streak(engine: Engine, raw_user: Any, record: Any) -> str | None:
    """Apply one streaks.json record; return why it was rejected, or None."""
    try:
        user_id = parse_user_id(raw_user)
    except InvalidUserIdError as exc:
        return str(exc)
    if not isinstance(record, dict):
        return "not an object"
    longest = record.get("longest_streak", 0)
    if type(longest) is not int or not 0 <= longest <= INT4_MAX:
        return f"longest_streak must be an integer from 0 to {INT4_MAX}"
    timezone = record.get("timezone")
    if timezone is not None:
        try:
            timezone = validate_timezone(timezone)
        except (ValueError, TypeError):
            return "timezone is not a known IANA name"
    try:
        with engine.connect() as conn:
            if timezone:
                conn.execute(SET_TIMEZONE_SQL, {"user_id": user_id, "timezone": timezone})
            conn.execute(LEGACY_STREAK_SQL, {"user_id": user_id, "longest": longest})
    except sa_exc.DBAPIError as exc:
        if is_transient(exc):
            raise DatabaseUnavailableError("the database is unavailable") from exc
        return f"refused by the database ({type(exc.orig).__name__})"
    return None


def import_streaks_file(directory: Path, path: Path, engine: Engine, *, dry_run: bool) -> FileReport:
    report = FileReport(path.name, streak_records=0)
    source, why_not = open_inside(directory, path)
    if source is None:
        report.skipped = why_not
        return report
    where = "0"
    try:
        with source:
            for where, raw_user, record in _streak_entries(JsonStream(source)):
                problem = None if dry_run else _apply_streak(engine, raw_user, record)
                if problem:
                    report.rejected.append(f"{path.name}[{where}]: {problem}")
                else:
                    report.streak_records = (report.streak_records or 0) + 1
    except UnreadableRestError as exc:
        report.rejected.append(f"{path.name}[after {where}]: {exc}; the rest of the file was not read")
    return report


def _progress(out: TextIO, done: int, total: int) -> None:
    width = 30
    filled = width * done // total
    out.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{total} files")
    if done == total:
        out.write("\n")
    out.flush()


def check_directory(directory: Path) -> None:
    """Raise ImportDirectoryError unless `directory` is an existing directory."""
    if not directory.exists():
        raise ImportDirectoryError(f"{directory} is not a directory (it does not exist)")
    if not directory.is_dir():
        raise ImportDirectoryError(f"{directory} is not a directory")


def import_directory(
    directory: Path,
    engine: Engine,
    *,
    dry_run: bool = False,
    progress: TextIO | None = None,
    echo: Callable[[str], None] = print,
) -> ImportReport:
    """Import every attempts_*.json, then streaks.json, and report per file.

    `engine` needs two connections: one keeps the fingerprint counts, the other writes."""
    check_directory(directory)
    report = ImportReport()
    attempt_files = sorted(p for p in directory.iterdir() if ATTEMPTS_FILE.fullmatch(p.name))
    show_bar = progress is not None and len(attempt_files) >= PROGRESS_BAR_MIN_FILES
    with engine.connect() as seen:
        seen.execute(SEEN_TABLE_SQL)
        seen.execute(KEYS_TABLE_SQL)
        seen.execute(KEYS_CLEAR_SQL)
        for done, path in enumerate(attempt_files, start=1):
            match = ATTEMPTS_FILE.fullmatch(path.name)
            assert match is not None
            try:
                user_id = parse_user_id(match.group("user"))
            except InvalidUserIdError as exc:
                report.files.append(FileReport(path.name, skipped=f"no user id in the file name ({exc})"))
            else:
                report.files.append(
                    import_attempts_file(directory, path, user_id, engine, seen, dry_run=dry_run)
                )
            if show_bar and progress is not None:
                _progress(progress, done, len(attempt_files))
    streaks_path = directory / STREAKS_FILE
    if streaks_path.exists() or streaks_path.is_symlink():
        report.files.append(import_streaks_file(directory, streaks_path, engine, dry_run=dry_run))
    for file_report in report.files:
        echo(file_report.line())
        for problem in file_report.rejected:
            echo(f"  rejected {problem}")
    imported, duplicates, rejected = report.totals()
    verb = "would import" if dry_run else "imported"
    echo(
        f"{'dry run: ' if dry_run else ''}{len(report.files)} files, {verb} {imported}, "
        f"duplicates {duplicates}, rejected {rejected}"
    )
    return report
