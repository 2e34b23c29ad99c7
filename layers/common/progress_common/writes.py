"""Writes: the shared write path (save_user_attempt_to_db and batches) and reset.

Each call is one SQL statement, hence one transaction: the attempts, their aggregates, sessions and the
profile's cached streaks are written together or not at all (the triggers of the schema do the folding).
A batch of any size is one statement that returns each attempt's outcome (write_attempts).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from progress_common.db import get_engine, run_idempotent, sqlstate, unavailable_as_typed_error
from progress_common.errors import InvalidTimezoneError, SessionOwnershipError
from progress_common.models import AttemptMessage, DeletedCounts, ResetResponse
from progress_common.sqltext import render_sql

SaveOutcome = Literal["written", "duplicate"]
# What progress_record_attempts_v2 reports for each attempt of a batch.
WriteOutcome = Literal["written", "duplicate", "session_of_another_user"]

RECORD_SQL = text("SELECT attempt_uid::text FROM progress_record_attempts_v1(CAST(:batch AS jsonb))")
BATCH_SQL = text("SELECT outcome FROM progress_record_attempts_v2(CAST(:batch AS jsonb))")
# Values written into the text (sqltext): one simple Query, one round trip.
RESET_SQL = (
    "SELECT deleted_attempts, deleted_archived, deleted_sessions, deleted_exports, connection_ids"
    " FROM progress_reset_user_v4(CAST({user_id} AS bigint))"
)


@contextmanager
def _domain_errors() -> Iterator[None]:
    """Turn the database errors a write can meet into this package's typed errors; others pass through."""
    try:
        with unavailable_as_typed_error():
            yield
    except sa_exc.DBAPIError as exc:
        code = sqlstate(exc)
        if code == "PR001":
            raise SessionOwnershipError("the attempt names a session that belongs to another user") from exc
        if code == "22023":
            raise InvalidTimezoneError("the database does not know that timezone") from exc
        raise


def _batch_json(attempts: Sequence[AttemptMessage]) -> str:
    return json.dumps([attempt.to_row() for attempt in attempts])


def write_attempts(attempts: Sequence[AttemptMessage], *, engine: Engine | None = None) -> list[WriteOutcome]:
    """Write a batch with one statement; return each attempt's outcome, in order.

    "duplicate": its attempt_uid was recorded before (live or archived, or earlier in this batch), and
    nothing was written or changed. "session_of_another_user": nothing of it was written. The other
    attempts of the batch are written either way. A database error fails the whole batch (nothing written).
    """
    if not attempts:
        return []
    # Idempotent by attempt_uid, so a connection that died while the container was frozen costs one retry.
    with _domain_errors():
        rows = run_idempotent(BATCH_SQL, {"batch": _batch_json(attempts)}, engine=engine)
    return [row[0] for row in rows]


# The zones the database's tz data has (pg_timezone_names, a scan of tens of ms): asked only after a batch
# failed on a timezone, to find the names the layer accepts but the database does not know yet.
UNKNOWN_TIMEZONES_SQL = text(
    "SELECT z FROM unnest(CAST(:zones AS text[])) AS z"
    " WHERE NOT EXISTS (SELECT 1 FROM pg_timezone_names n WHERE n.name = z)"
)


def timezones_unknown_to_database(names: Iterable[str], *, engine: Engine | None = None) -> set[str]:
    """Those of these timezone names the database cannot apply."""
    zones = sorted(set(names))
    if not zones:
        return set()
    with unavailable_as_typed_error():
        return {row[0] for row in run_idempotent(UNKNOWN_TIMEZONES_SQL, {"zones": zones}, engine=engine)}


def save_attempts(attempts: Sequence[AttemptMessage], *, engine: Engine | None = None) -> set[str]:
    """Write a batch of attempts all or nothing; return the attempt_uids actually written.

    A uid already recorded (live or archived) is skipped, so a retried batch writes nothing twice. When any
    attempt names another user's session, nothing is written (SessionOwnershipError).
    """
    if not attempts:
        return set()
    with _domain_errors(), (engine or get_engine()).connect() as conn:
        return {row[0] for row in conn.execute(RECORD_SQL, {"batch": _batch_json(attempts)})}


def save_user_attempt_to_db(attempt: AttemptMessage, *, engine: Engine | None = None) -> SaveOutcome:
    """Write one attempt with its aggregates, session counters and cached streaks, atomically.

    Returns "duplicate" (and writes or changes nothing) when its attempt_uid was recorded before; raises
    SessionOwnershipError (writing nothing) when it names a session of another user.
    """
    (outcome,) = write_attempts([attempt], engine=engine)
    if outcome == "session_of_another_user":
        raise SessionOwnershipError("the attempt names a session that belongs to another user")
    return outcome


def reset_user(user_id: int, *, engine: Engine | None = None) -> tuple[ResetResponse, list[str]]:
    """Remove everything of one user but their settings (progress_reset_user_v4: attempts, days, sessions,
    freezes granted, repairs, exports, live tickets and connections), atomically; a second reset returns
    zeros. Returns what was deleted and the ids of the user's live connections it removed: after this
    commit, the caller closes those at API Gateway (close_after_reset) and deletes the files of the exports
    it removed (delete_export_files_after_reset).

    Retried once when its pooled connection turns out dead (run_idempotent): removing what is already
    removed removes nothing, so a retry can change only the counts reported, never what is stored.
    """
    with _domain_errors():
        ((attempts, archived, sessions, exports, connection_ids),) = run_idempotent(
            render_sql(RESET_SQL, user_id=user_id), engine=engine or get_engine()
        )
    deleted = DeletedCounts(
        attempts=attempts,
        archived_attempts=archived,
        sessions=sessions,
        exports=exports,
        live_connections=len(connection_ids),
    )
    return ResetResponse(user_id=user_id, deleted=deleted, profile_reset=True), list(connection_ids)


def reset_progress(user_id: int, *, engine: Engine | None = None) -> ResetResponse:
    """reset_user, for callers that have no live connections to close (tools, tests)."""
    return reset_user(user_id, engine=engine)[0]


def delete_export_files_after_reset(user_id: int) -> int | None:
    """After a reset that removed export records: delete the learner's export files, best effort. The reset
    has committed and its answer stands: a store that cannot be reached is logged and counted
    (ExportFilesLeft, an alarm watches it); the files can no longer be downloaded (their records are gone)
    and the bucket's lifecycle rule removes them within EXPORT_RETENTION_DAYS. None when that happened."""
    # imported here: GET functions import this module, and only a reset that removed exports needs these
    from progress_common.erasure import delete_export_files
    from progress_common.errors import ProgressError
    from progress_common.export_store import export_store
    from progress_common.observability import logger, metrics

    try:
        return delete_export_files(user_id, export_store())
    except ProgressError:
        logger.warning("export files left after a reset", extra={"error_type": "ExportUnavailableError"})
        metrics.add_metric(name="ExportFilesLeft", unit="Count", value=1)
        return None
