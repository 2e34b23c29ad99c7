"""Archival: move attempts older than the retention period from `attempts` to `attempts_archive`.

Each batch is one statement (progress_archive_batch_v1), so its delete and insert commit together: a run
killed at any point loses and duplicates nothing. Rows are picked with SKIP LOCKED, so overlapping runs
share the work. No aggregate is touched, so no figure a GET returns changes (DESIGN invariant 2).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, text

from progress_common.db import get_engine, unavailable_as_typed_error
from progress_common.errors import DatabaseUnavailableError, SchemaOutdatedError

ARCHIVE_BATCH_SQL = text("SELECT progress_archive_batch_v1(CAST(:cutoff AS timestamptz), :batch_size)")
MORE_REMAINING_SQL = text(
    "SELECT EXISTS (SELECT 1 FROM attempts WHERE created_at < CAST(:cutoff AS timestamptz))"
)

# Stop when less than this is left, or less than three times the slowest batch so far.
MIN_TIME_MARGIN_MS = 2_000


class ArchiveInterruptedError(DatabaseUnavailableError):
    """The database became unavailable mid-run. Every finished batch is committed (`moved` rows), the
    batch in flight is rolled back; a retry carries on where this run stopped."""

    def __init__(self, moved: int, batches: int) -> None:
        super().__init__(f"the database became unavailable after {batches} batches ({moved} attempts moved)")
        self.moved = moved
        self.batches = batches


@dataclass(frozen=True)
class ArchiveResult:
    moved: int
    batches: int
    more_remaining: bool
    stopped_for_time: bool
    cutoff: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def archive_old_attempts(
    *,
    retention_days: int,
    batch_size: int,
    remaining_ms: Callable[[], int] | None = None,
    engine: Engine | None = None,
) -> ArchiveResult:
    """Move old attempts in batches until none is left or the remaining time runs short."""
    engine = engine or get_engine()
    cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)).isoformat()
    started = time.perf_counter()
    moved = batches = 0
    slowest_ms = 0.0
    stopped_for_time = False
    exhausted = False
    try:
        with unavailable_as_typed_error(), engine.connect() as conn:
            while True:
                if remaining_ms is not None and remaining_ms() < max(MIN_TIME_MARGIN_MS, 3 * slowest_ms):
                    stopped_for_time = True
                    break
                batch_started = time.perf_counter()
                count = conn.execute(
                    ARCHIVE_BATCH_SQL, {"cutoff": cutoff, "batch_size": batch_size}
                ).scalar_one()
                slowest_ms = max(slowest_ms, (time.perf_counter() - batch_started) * 1000)
                batches += 1
                moved += count
                if count < batch_size:
                    exhausted = True
                    break
            more = exhausted is False and bool(
                conn.execute(MORE_REMAINING_SQL, {"cutoff": cutoff}).scalar_one()
            )
    except SchemaOutdatedError:
        raise  # not an interruption: nothing will move until the schema is migrated
    except DatabaseUnavailableError as exc:
        raise ArchiveInterruptedError(moved, batches) from exc
    return ArchiveResult(
        moved=moved,
        batches=batches,
        more_remaining=more,
        stopped_for_time=stopped_for_time,
        cutoff=cutoff,
        seconds=round(time.perf_counter() - started, 3),
    )
