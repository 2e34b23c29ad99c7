"""Writes: the shared write path (save_user_attempt_to_db and batches) and reset.

Each call is one SQL statement, hence one transaction: the attempt, its aggregates, its session and the
profile's cached streaks are written together or not at all (the triggers of the schema do the folding).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from progress_common.db import get_engine, is_transient, run_idempotent, sqlstate
from progress_common.errors import DatabaseUnavailableError, InvalidTimezoneError, SessionOwnershipError
from progress_common.models import AttemptMessage, DeletedCounts, ResetResponse
from progress_common.sqltext import render_sql

SaveOutcome = Literal["written", "duplicate"]

RECORD_SQL = text("SELECT attempt_uid::text FROM progress_record_attempts_v1(CAST(:batch AS jsonb))")
# Values written into the text (sqltext): one simple Query, one round trip.
RESET_SQL = (
    "SELECT deleted_attempts, deleted_archived, deleted_sessions"
    " FROM progress_reset_user_v1(CAST({user_id} AS bigint))"
)


@contextmanager
def _domain_errors() -> Iterator[None]:
    """Turn the database errors a write can meet into this package's typed errors; others pass through."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        code = sqlstate(exc)
        if code == "PR001":
            raise SessionOwnershipError("the attempt names a session that belongs to another user") from exc
        if code == "22023":
            raise InvalidTimezoneError("the database does not know that timezone") from exc
        if is_transient(exc):
            raise DatabaseUnavailableError("the database is unavailable") from exc
        raise


def save_attempts(attempts: Sequence[AttemptMessage], *, engine: Engine | None = None) -> set[str]:
    """Write a batch of attempts in one transaction; return the attempt_uids actually written.

    A uid already recorded (live or archived) is skipped, so a retried batch writes nothing twice.
    """
    if not attempts:
        return set()
    batch = json.dumps([attempt.to_row(ordinal) for ordinal, attempt in enumerate(attempts)])
    with _domain_errors(), (engine or get_engine()).connect() as conn:
        return {row[0] for row in conn.execute(RECORD_SQL, {"batch": batch})}


def save_user_attempt_to_db(attempt: AttemptMessage, *, engine: Engine | None = None) -> SaveOutcome:
    """Write one attempt with its aggregates, session counters and cached streaks, atomically.

    Returns "duplicate" (and writes nothing) when its attempt_uid was recorded before.
    """
    written = save_attempts([attempt], engine=engine)
    return "written" if written else "duplicate"


def reset_progress(user_id: int, *, engine: Engine | None = None) -> ResetResponse:
    """Remove everything of one user, atomically; a second reset returns zeros.

    Retried once when its pooled connection turns out dead (run_idempotent): removing what is already
    removed removes nothing, so a retry can change only the counts reported, never what is stored.
    """
    with _domain_errors():
        ((attempts, archived, sessions),) = run_idempotent(
            render_sql(RESET_SQL, user_id=user_id), engine=engine or get_engine()
        )
    return ResetResponse(
        user_id=user_id,
        deleted=DeletedCounts(attempts=attempts, archived_attempts=archived, sessions=sessions),
        profile_reset=True,
    )
