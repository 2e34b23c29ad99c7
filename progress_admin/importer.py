"""`progress-admin import-json DIR`: bring the old system's JSON progress files into the database.

Accepted files (see README, "Importing the old JSON files"):
- `attempts_<user>.json` (`attempts_user_7.json` or `attempts_7.json`): a list of attempts, or an object
  with an `attempts` list. Each attempt: `exercise_id`, `is_correct` or `correct`, `created_at` or
  `timestamp` (ISO 8601; without an offset it is read as UTC), optional `user_answer` or `answer`,
  `session_id`, `id`.
- `streaks.json`: per-user streak records, either `{"user_7": {"longest_streak": 12, ...}, ...}` or a
  list of `{"user_id": "user_7", "longest_streak": 12, ...}`; an optional `timezone` (IANA) is applied.

Attempts go through the shared write path (one transaction per file), so aggregates and streaks come
out as if they had arrived live. Each imported attempt gets a stable key, so a second run imports nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from sqlalchemy import Engine, text

from progress_common.errors import InvalidUserIdError, ProgressError
from progress_common.identity import parse_user_id
from progress_common.models import AttemptMessage, validate_timezone
from progress_common.writes import save_attempts

IMPORT_NAMESPACE = uuid.UUID("b3e4a3c2-55a1-4f5e-a7a4-61f0c3a9e7d2")
ATTEMPTS_FILE = re.compile(r"attempts_(?P<user>.+)\.json")
FIELD_ALIASES = {
    "is_correct": ("is_correct", "correct"),
    "created_at": ("created_at", "timestamp"),
    "user_answer": ("user_answer", "answer"),
}
PROGRESS_BAR_MIN_FILES = 10

EXISTING_UIDS_SQL = text(
    "SELECT u FROM jsonb_array_elements_text(CAST(:uids AS jsonb)) AS u"
    " WHERE CAST(u AS uuid) IN (SELECT attempt_uid FROM attempts) OR CAST(u AS uuid) IN"
    " (SELECT attempt_uid FROM attempts_archive)"
)
LEGACY_STREAK_SQL = text("SELECT progress_set_legacy_longest_streak_v1(:user_id, :longest)")
SET_TIMEZONE_SQL = text("SELECT progress_set_timezone_v1(:user_id, :timezone)")


class ImportDirectoryError(Exception):
    """The directory to import does not exist or is not a directory."""


@dataclass
class FileReport:
    name: str
    imported: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    skipped: str | None = None  # the whole file, and why
    streak_records: int | None = None  # for streaks.json: records applied (idempotent)

    def line(self) -> str:
        if self.skipped:
            return f"{self.name}: skipped ({self.skipped})"
        if self.streak_records is not None:
            return f"{self.name}: {self.streak_records} streak records applied, rejected {len(self.rejected)}"
        return f"{self.name}: imported {self.imported}, duplicates {self.duplicates}, rejected {len(self.rejected)}"


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    dry_run: bool = False

    @property
    def clean(self) -> bool:
        return all(not f.rejected and not f.skipped for f in self.files)

    def totals(self) -> tuple[int, int, int]:
        return (
            sum(f.imported for f in self.files),
            sum(f.duplicates for f in self.files),
            sum(len(f.rejected) for f in self.files),
        )


def _pick(record: dict[str, Any], name: str) -> Any:
    for alias in FIELD_ALIASES.get(name, (name,)):
        if alias in record:
            return record[alias]
    return None


def _created_at(value: Any) -> Any:
    # Old files wrote naive timestamps in UTC; an explicit offset wins.
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value  # let validation report it
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return value


def stable_key(user_id: int, record: dict[str, Any], occurrence: int) -> uuid.UUID:
    """The same attempt in the same file always gets the same key, whatever its position."""
    if record.get("id") is not None:
        return uuid.uuid5(IMPORT_NAMESPACE, f"{user_id}|id|{record['id']}")
    identity = json.dumps(
        [
            _pick(record, "created_at"),
            record.get("exercise_id"),
            _pick(record, "is_correct"),
            _pick(record, "user_answer"),
            record.get("session_id"),
            occurrence,
        ],
        sort_keys=True,
        default=str,
    )
    return uuid.uuid5(IMPORT_NAMESPACE, f"{user_id}|{identity}")


def parse_attempts_file(path: Path, user_id: int, report: FileReport) -> list[AttemptMessage] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.skipped = f"not JSON: {exc}"
        return None
    records = data.get("attempts") if isinstance(data, dict) else data
    if not isinstance(records, list):
        report.skipped = "expected a list of attempts (or an object with an 'attempts' list)"
        return None
    seen: Counter[str] = Counter()
    attempts: list[AttemptMessage] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            report.rejected.append(f"{path.name}[{index}]: not an object")
            continue
        fingerprint = json.dumps(record, sort_keys=True, default=str)
        seen[fingerprint] += 1
        candidate = {
            "attempt_uid": stable_key(user_id, record, seen[fingerprint]),
            "user_id": user_id,
            "exercise_id": record.get("exercise_id"),
            "is_correct": _pick(record, "is_correct"),
            "user_answer": _pick(record, "user_answer") or "",
            "created_at": _created_at(_pick(record, "created_at")),
            "session_id": record.get("session_id"),
        }
        if candidate["created_at"] is None:
            report.rejected.append(f"{path.name}[{index}]: created_at (or timestamp) is missing")
            continue
        try:
            attempts.append(AttemptMessage.model_validate(candidate))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            report.rejected.append(f"{path.name}[{index}]: {problems}")
    return attempts


def _existing(engine: Engine, attempts: list[AttemptMessage]) -> set[str]:
    with engine.connect() as conn:
        uids = json.dumps([str(a.attempt_uid) for a in attempts])
        return {row[0] for row in conn.execute(EXISTING_UIDS_SQL, {"uids": uids})}


def _parse_streaks(path: Path, report: FileReport) -> list[tuple[int, int, str | None]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.skipped = f"not JSON: {exc}"
        return []
    if isinstance(data, dict):
        entries = [(key, value) for key, value in data.items()]
    elif isinstance(data, list):
        entries = [(item.get("user_id") if isinstance(item, dict) else None, item) for item in data]
    else:
        report.skipped = "expected an object keyed by user id, or a list of records with user_id"
        return []
    result = []
    for index, (raw_user, record) in enumerate(entries):
        where = f"{path.name}[{raw_user if isinstance(data, dict) else index}]"
        try:
            user_id = parse_user_id(raw_user)
        except InvalidUserIdError as exc:
            report.rejected.append(f"{where}: {exc}")
            continue
        longest = record.get("longest_streak", 0) if isinstance(record, dict) else None
        if type(longest) is not int or longest < 0:
            report.rejected.append(f"{where}: longest_streak must be a non-negative integer")
            continue
        timezone = record.get("timezone") if isinstance(record, dict) else None
        if timezone is not None:
            try:
                validate_timezone(timezone)
            except ValueError:
                report.rejected.append(f"{where}: unknown timezone {timezone!r}")
                continue
        result.append((user_id, longest, timezone))
    return result


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
    """Import every attempts_*.json, then streaks.json, and report per file."""
    check_directory(directory)
    report = ImportReport(dry_run=dry_run)
    attempt_files = sorted(p for p in directory.iterdir() if p.is_file() and ATTEMPTS_FILE.fullmatch(p.name))
    show_bar = progress is not None and len(attempt_files) >= PROGRESS_BAR_MIN_FILES
    for done, path in enumerate(attempt_files, start=1):
        file_report = FileReport(path.name)
        report.files.append(file_report)
        match = ATTEMPTS_FILE.fullmatch(path.name)
        assert match is not None
        try:
            user_id = parse_user_id(match.group("user"))
        except InvalidUserIdError as exc:
            file_report.skipped = f"no user id in the file name ({exc})"
        else:
            attempts = parse_attempts_file(path, user_id, file_report)
            if attempts:
                try:
                    if dry_run:
                        file_report.duplicates = len(_existing(engine, attempts))
                        file_report.imported = len(attempts) - file_report.duplicates
                    else:
                        # one statement: the whole file's valid attempts commit together or not at all
                        written = save_attempts(attempts, engine=engine)
                        file_report.imported = len(written)
                        file_report.duplicates = len(attempts) - len(written)
                except ProgressError as exc:
                    file_report.skipped = f"not imported, nothing written: {exc}"
        if show_bar and progress is not None:
            _progress(progress, done, len(attempt_files))
    streaks_path = directory / "streaks.json"
    if streaks_path.is_file():
        file_report = FileReport(streaks_path.name, streak_records=0)
        report.files.append(file_report)
        for user_id, longest, timezone in _parse_streaks(streaks_path, file_report):
            if not dry_run:
                with engine.connect() as conn:
                    if timezone:
                        conn.execute(SET_TIMEZONE_SQL, {"user_id": user_id, "timezone": timezone})
                    conn.execute(LEGACY_STREAK_SQL, {"user_id": user_id, "longest": longest})
            file_report.streak_records = (file_report.streak_records or 0) + 1
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
