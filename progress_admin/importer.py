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

import datetime as dt
import hashlib
import json
import os
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from progress_common.db import is_transient, sqlstate
from progress_common.errors import DatabaseUnavailableError, InvalidUserIdError, ProgressError
from progress_common.identity import parse_user_id
from progress_common.models import AttemptMessage, validate_timezone
from progress_common.writes import write_attempts

IMPORT_NAMESPACE = uuid.UUID("b3e4a3c2-55a1-4f5e-a7a4-61f0c3a9e7d2")
ATTEMPTS_FILE = re.compile(r"attempts_(?P<user>.+)\.json")
STREAKS_FILE = "streaks.json"
FIELD_ALIASES = {
    "is_correct": ("is_correct", "correct"),
    "created_at": ("created_at", "timestamp"),
    "user_answer": ("user_answer", "answer"),
}
PROGRESS_BAR_MIN_FILES = 10
# Attempts per write statement (one transaction each): big enough to be fast, small enough for memory.
RECORDS_PER_STATEMENT = 1_000
# Characters read from a file at a time, and the most one record may span (an attempt is ~200).
READ_CHUNK_CHARS = 64 * 1024
MAX_RECORD_CHARS = 1024 * 1024
INT4_MAX = 2**31 - 1

EXISTING_UIDS_SQL = text(
    "SELECT u FROM jsonb_array_elements_text(CAST(:uids AS jsonb)) AS u"
    " WHERE CAST(u AS uuid) IN (SELECT attempt_uid FROM attempts) OR CAST(u AS uuid) IN"
    " (SELECT attempt_uid FROM attempts_archive)"
)
LEGACY_STREAK_SQL = text("SELECT progress_set_legacy_longest_streak_v1(:user_id, :longest)")
SET_TIMEZONE_SQL = text("SELECT progress_set_timezone_v1(:user_id, :timezone)")
# How often each record's fingerprint was seen before in this file, kept by the database (a temporary
# table of this session) rather than in memory: the stable keys need it, and a file may be any size.
SEEN_TABLE_SQL = text(
    "CREATE TEMPORARY TABLE IF NOT EXISTS import_seen (fp text PRIMARY KEY, n int NOT NULL)"
)
SEEN_CLEAR_SQL = text("TRUNCATE import_seen")
OCCURRENCES_SQL = text(
    """
WITH input AS (
    SELECT fp, ord FROM jsonb_array_elements_text(CAST(:fps AS jsonb)) WITH ORDINALITY AS t(fp, ord)
), numbered AS (
    SELECT i.ord, i.fp,
           coalesce(s.n, 0) + row_number() OVER (PARTITION BY i.fp ORDER BY i.ord) AS occurrence
      FROM input i LEFT JOIN import_seen s ON s.fp = i.fp
), saved AS (
    INSERT INTO import_seen (fp, n) SELECT fp, max(occurrence) FROM numbered GROUP BY fp
    ON CONFLICT (fp) DO UPDATE SET n = EXCLUDED.n
)
SELECT occurrence FROM numbered ORDER BY ord
"""
)

# Each key of this run with where it came from and what it holds, likewise in the database: a record
# whose key an earlier record of the run already took is the same attempt (a duplicate) when it holds the
# same, and a conflict, reported with both places, when it does not.
KEYS_TABLE_SQL = text(
    "CREATE TEMPORARY TABLE IF NOT EXISTS import_keys"
    " (uid uuid PRIMARY KEY, place text NOT NULL, content text NOT NULL)"
)
KEYS_CLEAR_SQL = text("TRUNCATE import_keys")
EARLIER_KEYS_SQL = text(
    """
WITH input AS (
    SELECT CAST(e ->> 'uid' AS uuid) AS uid, e ->> 'place' AS place, e ->> 'content' AS content, ord
      FROM jsonb_array_elements(CAST(:records AS jsonb)) WITH ORDINALITY AS t(e, ord)
), firsts AS (
    SELECT DISTINCT ON (uid) uid, place, content FROM input ORDER BY uid, ord
), earlier AS (
    SELECT i.ord, coalesce(k.place, f.place) AS place, coalesce(k.content, f.content) AS content,
           k.uid IS NULL AND f.place = i.place AS first
      FROM input i
      LEFT JOIN import_keys k ON k.uid = i.uid
      JOIN firsts f ON f.uid = i.uid
), saved AS (
    INSERT INTO import_keys (uid, place, content) SELECT uid, place, content FROM firsts
    ON CONFLICT (uid) DO NOTHING
)
SELECT CASE WHEN first THEN NULL ELSE place END, CASE WHEN first THEN NULL ELSE content END
  FROM earlier ORDER BY ord
"""
)
# What an attempt already stored under these keys holds (an earlier run's import), to tell a re-import of
# the same attempt from a different attempt under the same id.
STORED_CONTENT_SQL = text(
    "SELECT CAST(attempt_uid AS text), exercise_id, is_correct, user_answer, created_at, session_id"
    " FROM attempts WHERE attempt_uid = ANY (CAST(:uids AS uuid[]))"
    " UNION ALL SELECT CAST(attempt_uid AS text), exercise_id, is_correct, user_answer, created_at, session_id"
    " FROM attempts_archive WHERE attempt_uid = ANY (CAST(:uids AS uuid[]))"
)


def attempt_content(
    exercise_id: int, is_correct: bool, user_answer: str, created_at: dt.datetime, session_id: int | None
) -> str:
    """What an attempt holds, as one comparable text (the instant in UTC, whatever offset it came with)."""
    instant = created_at.astimezone(dt.UTC).isoformat()
    return json.dumps([exercise_id, is_correct, user_answer, instant, session_id])


def _content_of(attempt: AttemptMessage) -> str:
    assert attempt.created_at is not None
    return attempt_content(
        attempt.exercise_id, attempt.is_correct, attempt.user_answer, attempt.created_at, attempt.session_id
    )


def _describe(content: str) -> str:
    exercise_id, is_correct, _, instant, session_id = json.loads(content)
    return f"exercise {exercise_id}, {'correct' if is_correct else 'wrong'}, at {instant}" + (
        f", session {session_id}" if session_id is not None else ""
    )


class ImportDirectoryError(Exception):
    """The directory to import does not exist or is not a directory."""


class UnreadableRestError(Exception):
    """The file cannot be read past this point (broken JSON, nesting too deep, a record too large)."""


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

    @property
    def clean(self) -> bool:
        return all(not f.rejected and not f.skipped for f in self.files)

    def totals(self) -> tuple[int, int, int]:
        return (
            sum(f.imported for f in self.files),
            sum(f.duplicates for f in self.files),
            sum(len(f.rejected) for f in self.files),
        )


class JsonStream:
    """Reads one JSON document value by value, holding at most about one record in memory.

    Only the containers the import formats need are walked here (the top-level array or object, and an
    `attempts` array inside an object); each record is decoded whole by the standard decoder.
    """

    def __init__(self, source: TextIO) -> None:
        self._source = source
        self._buffer = ""
        self._pos = 0
        self._eof = False
        self._decoder = json.JSONDecoder()

    def _more(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = self._source.read(READ_CHUNK_CHARS)
        except UnicodeDecodeError:
            raise UnreadableRestError("not UTF-8 text") from None
        if not chunk:
            self._eof = True
            return False
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in " \t\r\n":
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._more():
                return ""

    def take(self, expected: str) -> None:
        found = self.peek()
        if found != expected:
            raise UnreadableRestError(
                f"expected {expected!r}, found {found[:1]!r}" if found else "unexpected end"
            )
        self._pos += 1

    def value(self) -> Any:
        """Decode the next value whole."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except RecursionError:
                raise UnreadableRestError("nested too deeply") from None
            except json.JSONDecodeError as exc:
                # at (or just before) the end of what was read: a value cut by the chunk boundary,
                # e.g. `tru|e`, `"\\u00|e9"`, `-|1`; read on and decode it again
                cut_short = exc.pos >= len(self._buffer) - 8 or exc.msg.startswith("Unterminated string")
                if cut_short and len(self._buffer) - self._pos <= MAX_RECORD_CHARS and self._more():
                    continue
                if cut_short and not self._eof:
                    raise UnreadableRestError(f"a record longer than {MAX_RECORD_CHARS} characters") from None
                raise UnreadableRestError(f"not JSON: {exc.msg}") from None
            if end == len(self._buffer) and self._more():
                continue  # a number may go on in the next chunk: decode it again, whole
            self._pos = end
            return value

    def array_items(self) -> Iterator[Any]:
        self.take("[")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            yield self.value()
            separator = self.peek()
            self._pos += 1
            if separator == "]":
                return
            if separator != ",":
                raise UnreadableRestError(f"expected ',' or ']', found {separator[:1]!r}")

    def object_keys(self) -> Iterator[str]:
        """The keys of an object; after each, the caller reads (or skips) its value with value()."""
        self.take("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise UnreadableRestError("expected a key")
            key = self.value()
            self.take(":")
            yield key
            separator = self.peek()
            self._pos += 1
            if separator == "}":
                return
            if separator != ",":
                raise UnreadableRestError(f"expected ',' or '}}', found {separator[:1]!r}")

    def end(self) -> None:
        if self.peek():
            raise UnreadableRestError("more data after the end of the document")


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


def _fingerprint(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def _open_inside(directory: Path, path: Path) -> tuple[TextIO | None, str | None]:
    """Open `path` for reading when it is a regular file in `directory` (a symbolic link only when its
    target is one too); else (None, why not)."""
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.exists():
            return None, "a dangling symbolic link"
        if target.parent != directory.resolve() and directory.resolve() not in target.parents:
            return None, "a symbolic link to outside the directory: not followed"
        path = target
    try:
        # O_NOFOLLOW: nothing swapped in since the check; O_NONBLOCK: a FIFO cannot hang the run
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        return None, "a directory, not a file"
    except OSError as exc:
        return None, f"cannot be opened ({exc.strerror})"
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None, "a directory, not a file" if path.is_dir() else "not a regular file"
    return os.fdopen(fd, encoding="utf-8"), None


def _attempt_records(stream: JsonStream) -> Iterator[Any]:
    """The records of an attempts file: a top-level list, or the `attempts` list of an object."""
    if stream.peek() == "[":
        yield from stream.array_items()
    elif stream.peek() == "{":
        found = False
        for key in stream.object_keys():
            if key == "attempts" and not found and stream.peek() == "[":
                found = True
                yield from stream.array_items()
            else:
                stream.value()  # another member: skipped
        if not found:
            raise UnreadableRestError("expected a list of attempts (or an object with an 'attempts' list)")
    else:
        raise UnreadableRestError("expected a list of attempts (or an object with an 'attempts' list)")
    stream.end()


class _AttemptsFile:
    """One attempts file being imported: records are checked, keyed and written a chunk at a time."""

    def __init__(self, name: str, user_id: int, engine: Engine, seen: Connection, dry_run: bool) -> None:
        self.report = FileReport(name)
        self.user_id = user_id
        self.engine = engine
        self.seen = seen
        self.dry_run = dry_run
        self.pending: list[tuple[int, dict[str, Any]]] = []

    def reject(self, index: int, reason: str) -> None:
        self.report.rejected.append(f"{self.report.name}[{index}]: {reason}")

    def add(self, index: int, record: Any) -> None:
        if not isinstance(record, dict):
            self.reject(index, "not an object")
            return
        self.pending.append((index, record))
        if len(self.pending) >= RECORDS_PER_STATEMENT:
            self.flush()

    def _occurrences(self, records: list[dict[str, Any]]) -> list[int]:
        fingerprints = json.dumps([_fingerprint(record) for record in records])
        return [int(n) for n in self.seen.execute(OCCURRENCES_SQL, {"fps": fingerprints}).scalars()]

    def _attempt(self, index: int, record: dict[str, Any], occurrence: int) -> AttemptMessage | None:
        own_user = record.get("user_id")
        if own_user is not None:
            try:
                disagrees = parse_user_id(own_user) != self.user_id
            except InvalidUserIdError:
                disagrees = True
            if disagrees:
                self.reject(index, f"its user_id is not the file's user ({self.user_id}): not imported")
                return None
        created_at = _created_at(_pick(record, "created_at"))
        if created_at is None:
            self.reject(index, "created_at (or timestamp) is missing")
            return None
        candidate = {
            "attempt_uid": stable_key(self.user_id, record, occurrence),
            "user_id": self.user_id,
            "exercise_id": record.get("exercise_id"),
            "is_correct": _pick(record, "is_correct"),
            "user_answer": _pick(record, "user_answer") or "",
            "created_at": created_at,
            "session_id": record.get("session_id"),
        }
        try:
            return AttemptMessage.model_validate(candidate)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
            )
            self.reject(index, problems)
            return None

    def flush(self) -> None:
        if not self.pending:
            return
        chunk, self.pending = self.pending, []
        occurrences = self._occurrences([record for _, record in chunk])
        valid: list[tuple[int, AttemptMessage]] = []
        for (index, record), occurrence in zip(chunk, occurrences, strict=True):
            attempt = self._attempt(index, record, occurrence)
            if attempt is not None:
                valid.append((index, attempt))
        if not valid:
            return
        valid = self._same_key_earlier(valid)
        if not valid:
            return
        attempts = [attempt for _, attempt in valid]
        if self.dry_run:
            with self.engine.connect() as conn:
                uids = json.dumps([str(a.attempt_uid) for a in attempts])
                existing = {row[0] for row in conn.execute(EXISTING_UIDS_SQL, {"uids": uids})}
            self.report.duplicates += len(existing)
            self.report.imported += len(attempts) - len(existing)
            return
        # one statement, one transaction per chunk; the stable keys make a re-run skip what is in
        try:
            outcomes = write_attempts(attempts, engine=self.engine)
        except (ProgressError, sa_exc.DBAPIError) as exc:
            if isinstance(exc, DatabaseUnavailableError):
                raise  # the run cannot go on: said by the command, not a traceback
            reason = exc.code if isinstance(exc, ProgressError) else f"SQLSTATE {sqlstate(exc)}"
            for index, _ in valid:
                self.reject(index, f"its chunk was refused by the database ({reason}): not imported")
            return
        stored = self._stored_content(
            [a for a, o in zip(attempts, outcomes, strict=True) if o == "duplicate"]
        )
        for (index, attempt), outcome in zip(valid, outcomes, strict=True):
            if outcome == "written":
                self.report.imported += 1
            elif outcome == "duplicate":
                held = stored.get(str(attempt.attempt_uid))
                if held is None or held == _content_of(attempt):
                    self.report.duplicates += 1
                else:
                    self.reject(
                        index,
                        f"conflict: its id was imported before as another attempt ({_describe(held)}); "
                        f"this one ({_describe(_content_of(attempt))}) was not imported",
                    )
            else:
                self.reject(index, "names a session that belongs to another user: not imported")

    def _same_key_earlier(self, valid: list[tuple[int, AttemptMessage]]) -> list[tuple[int, AttemptMessage]]:
        """The records to write: a record whose key an earlier record of this run took is a duplicate when
        it holds the same (counted, not written again) and a conflict, with both places, when it does not."""
        records = json.dumps(
            [
                {
                    "uid": str(a.attempt_uid),
                    "place": f"{self.report.name}[{index}]",
                    "content": _content_of(a),
                }
                for index, a in valid
            ]
        )
        earlier = self.seen.execute(EARLIER_KEYS_SQL, {"records": records}).all()
        kept: list[tuple[int, AttemptMessage]] = []
        for (index, attempt), (place, content) in zip(valid, earlier, strict=True):
            if place is None:
                kept.append((index, attempt))
            elif content == _content_of(attempt):
                self.report.duplicates += 1
            else:
                self.reject(
                    index,
                    f"conflict: same id as {place} ({_describe(content)}) but holds "
                    f"{_describe(_content_of(attempt))}: not imported",
                )
        return kept

    def _stored_content(self, attempts: list[AttemptMessage]) -> dict[str, str]:
        if not attempts:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(STORED_CONTENT_SQL, {"uids": [str(a.attempt_uid) for a in attempts]}).all()
        return {uid: attempt_content(*row) for uid, *row in rows}


def import_attempts_file(
    directory: Path, path: Path, user_id: int, engine: Engine, seen: Connection, *, dry_run: bool
) -> FileReport:
    state = _AttemptsFile(path.name, user_id, engine, seen, dry_run)
    source, why_not = _open_inside(directory, path)
    if source is None:
        state.report.skipped = why_not
        return state.report
    seen.execute(SEEN_CLEAR_SQL)
    next_index = 0
    try:
        with source:
            for record in _attempt_records(JsonStream(source)):
                state.add(next_index, record)
                next_index += 1
            state.flush()
    except UnreadableRestError as exc:
        state.flush()  # what came before the problem is imported
        if next_index == 0 and not state.report.rejected:
            reason = str(exc)
            state.report.skipped = reason if reason.startswith("not JSON") else f"not JSON: {reason}"
        else:
            state.reject(next_index, f"{exc}; the rest of the file was not read")
    return state.report


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
    source, why_not = _open_inside(directory, path)
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
