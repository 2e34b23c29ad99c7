"""Importing one `attempts_<user>.json` file: records checked, given a stable key and written through the
shared write path a chunk at a time (each chunk one statement and one transaction).

The key is the user and the record's `id` when it has one (`1` and `"1"` are the same id), else what the
record holds and how often the same record came before in the file. A record whose key an earlier one took
is a duplicate when it holds the same attempt and a conflict, reported with both places, when it does not.
What the run has seen is kept by the database (temporary tables of the importer's own session), not in
memory, so a file may be any size."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from progress_admin.import_report import FileReport
from progress_admin.json_files import JsonStream, UnreadableRestError, open_inside
from progress_common.db import sqlstate
from progress_common.errors import DatabaseUnavailableError, InvalidUserIdError, ProgressError
from progress_common.identity import parse_user_id
from progress_common.models import AttemptMessage
from progress_common.writes import write_attempts

IMPORT_NAMESPACE = uuid.UUID("b3e4a3c2-55a1-4f5e-a7a4-61f0c3a9e7d2")
FIELD_ALIASES = {
    "is_correct": ("is_correct", "correct"),
    "created_at": ("created_at", "timestamp"),
    "user_answer": ("user_answer", "answer"),
}
# Attempts per write statement (one transaction each): big enough to be fast, small enough for memory.
RECORDS_PER_STATEMENT = 1_000
EXISTING_UIDS_SQL = text(
    "SELECT u FROM jsonb_array_elements_text(CAST(:uids AS jsonb)) AS u"
    " WHERE CAST(u AS uuid) IN (SELECT attempt_uid FROM attempts) OR CAST(u AS uuid) IN"
    " (SELECT attempt_uid FROM attempts_archive)"
)
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
    source, why_not = open_inside(directory, path)
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
