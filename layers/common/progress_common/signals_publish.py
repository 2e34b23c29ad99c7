"""Publishing the signal outbox (docs/signals.md, "Publishing"): the sweep's step after the signals step.

The outbox (`signal_outbox`) is written by the signals step, once per learner, kind and local day. This step
reads what is still to publish (`progress_signals_pending_v1`: one statement, which also suppresses the rows
whose condition no longer holds), sends them to the EventBridge bus EVENT_BUS_NAME with PutEvents, at most
ten entries a call, and marks them by id (`progress_signals_mark_v1`: one statement).

At least once, never twice by choice:
- A row is marked published only after EventBridge accepted its entry; a marked row is never read again.
- A read, its PutEvents calls and its mark are one transaction, and the pending read locks the rows it returns
  (FOR UPDATE SKIP LOCKED): two overlapping sweeps send disjoint rows.
- An entry EventBridge refused (FailedEntryCount, the entry's ErrorCode), or a call that did not answer
  within the bounded timeouts (settings.aws_*), leaves its rows pending: the next sweep sends them again.
- A sweep killed after the outbox write and before the mark loses nothing (the rows are pending); if it was
  killed after PutEvents and before the mark, the next sweep sends those events again: every event carries
  its `outbox_id`, by which a subscriber drops a duplicate.

Locally (EVENT_BUS_NAME unset: `progress-admin serve`, `progress-admin sweep`) nothing reaches AWS: each
signal is logged as one line and marked published, so `GET /local/signals` shows what a subscriber would have
received.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from progress_common.aws_clients import bounded_client
from progress_common.db import get_engine, unavailable_as_typed_error
from progress_common.observability import logger, metrics

# The events' `source` (docs/signal-event.schema.json): the one value a rule matches on
EVENT_SOURCE = "progress.service"
# PutEvents takes at most 10 entries a call
PUT_EVENTS_MAX_ENTRIES = 10
# rows read per statement; the step reads again while time remains and the last read was full
READ_LIMIT = 500
# leave this much of the invocation when starting another read (a read's batches take at most
# 50 calls x aws_max_attempts x (connect + read) seconds when EventBridge is slow but answers)
PUBLISH_RESERVE_MS = 10_000

PENDING_SQL = text(
    "SELECT id, user_id, kind, local_day, due_at, detail"
    " FROM progress_signals_pending_v1(CAST(:limit AS integer), CAST(:now AS timestamptz))"
)
MARK_SQL = text(
    "SELECT progress_signals_mark_v1(CAST(:published AS bigint[]), CAST(:failed AS bigint[]),"
    " CAST(:now AS timestamptz))"
)


@dataclass(frozen=True)
class Signal:
    id: int
    user_id: int
    kind: str
    local_day: dt.date
    due_at: dt.datetime
    detail: dict[str, Any]

    def event_detail(self) -> dict[str, Any]:
        """The event's `detail` (docs/signal-event.schema.json): the kind's own fields, then ours."""
        return {
            **self.detail,
            "outbox_id": self.id,
            "user_id": self.user_id,
            "kind": self.kind,
            "local_day": self.local_day.isoformat(),
            "due_at": self.due_at.astimezone(dt.UTC).isoformat(),
        }

    def entry(self, bus: str) -> dict[str, Any]:
        return {
            "Source": EVENT_SOURCE,
            "DetailType": self.kind,
            "Detail": json.dumps(self.event_detail(), separators=(",", ":"), sort_keys=True),
            "Time": self.due_at,
            "EventBusName": bus,
        }

    def line(self) -> str:
        """One log line locally: what a subscriber would receive."""
        return (
            f"signal {self.kind} outbox_id={self.id} user_id={self.user_id} local_day={self.local_day}"
            f" due_at={self.due_at.astimezone(dt.UTC).isoformat()} detail={json.dumps(self.detail, sort_keys=True)}"
        )


@dataclass
class PublishReport:
    published: int = 0
    failed: int = 0
    # EventBridge did not answer (or answered an error for the whole call): the rest waits for the next sweep
    unavailable: bool = False
    # the step stopped with rows possibly left (time, failures): the next sweep carries on
    more: bool = False
    error_codes: dict[str, int] = field(default_factory=dict)
    # locally (no bus): the lines logged, newest last
    local: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "published": self.published,
            "failed": self.failed,
            "unavailable": self.unavailable,
            "more": self.more,
            "error_codes": self.error_codes,
        }
        if self.local:
            answer["local"] = self.local
        return answer


def _as_signal(row: Sequence[Any]) -> Signal:
    id_, user_id, kind, local_day, due_at, detail = row
    if isinstance(detail, str):
        detail = json.loads(detail)
    if isinstance(local_day, str):
        local_day = dt.date.fromisoformat(local_day)
    if isinstance(due_at, str):
        due_at = dt.datetime.fromisoformat(due_at)
    return Signal(int(id_), int(user_id), str(kind), local_day, due_at, dict(detail or {}))


@contextmanager
def claimed(engine: Engine | None = None) -> Iterator[Connection]:
    """One transaction for a read, its PutEvents calls and its mark: the pending read locks the rows it
    returns (FOR UPDATE SKIP LOCKED), so an overlapping sweep skips them instead of sending them too. A sweep
    that dies lets go of them when its connection goes (they are still pending)."""
    with unavailable_as_typed_error(), (engine or get_engine()).connect() as conn:
        conn.execution_options(isolation_level="READ COMMITTED")  # the engine is autocommit: a transaction
        with conn.begin():
            yield conn


def read_pending(conn: Connection, now: dt.datetime, *, limit: int = READ_LIMIT) -> list[Signal]:
    """The signals still to publish, in id order, re-checked at `now` (the rows whose condition no longer
    holds are suppressed by the same statement) and locked for this transaction (one statement)."""
    return [
        _as_signal(row) for row in conn.execute(PENDING_SQL, {"limit": limit, "now": now.isoformat()}).all()
    ]


def _array(ids: Sequence[int]) -> str:
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


def mark(
    published: Sequence[int],
    failed: Sequence[int],
    now: dt.datetime,
    *,
    conn: Connection | None = None,
    engine: Engine | None = None,
) -> None:
    """Mark rows published, and count a failed attempt on the others (they stay pending); one statement,
    safe to run twice. In the read's transaction (conn), else on its own."""
    if not published and not failed:
        return
    params = {"published": _array(published), "failed": _array(failed), "now": now.isoformat()}
    if conn is not None:
        conn.execute(MARK_SQL, params)
        return
    with unavailable_as_typed_error(), (engine or get_engine()).connect() as own:
        own.execute(MARK_SQL, params)


_client_lock = threading.Lock()
_events_client: Any = None


def events_client() -> Any:
    """The EventBridge client, with the bounded connect and read timeouts and retries of settings.aws_*."""
    global _events_client
    with _client_lock:
        if _events_client is None:
            _events_client = bounded_client("events")
        return _events_client


def forget_client() -> None:
    """Drop the EventBridge client (tests: the endpoint changed)."""
    global _events_client
    with _client_lock:
        _events_client = None


def put_batch(bus: str, batch: Sequence[Signal], report: PublishReport) -> tuple[list[int], list[int]]:
    """One PutEvents call of at most ten entries: (published ids, failed ids). Raises when EventBridge did
    not answer, or refused the whole call."""
    answer = events_client().put_events(Entries=[signal.entry(bus) for signal in batch])
    results = answer.get("Entries", [])
    published: list[int] = []
    failed: list[int] = []
    for i, signal in enumerate(batch):
        result = results[i] if i < len(results) else {}
        if result.get("EventId") and not result.get("ErrorCode"):
            published.append(signal.id)
        else:
            failed.append(signal.id)
            code = str(result.get("ErrorCode") or "NoEventId")
            report.error_codes[code] = report.error_codes.get(code, 0) + 1
    return published, failed


def publish_pending(
    now: dt.datetime,
    *,
    bus: str | None,
    engine: Engine | None = None,
    remaining_ms: Callable[[], int] | None = None,
    limit: int = READ_LIMIT,
) -> PublishReport:
    """Publish what the outbox holds, within the remaining invocation time (docstring of the module)."""
    report = PublishReport()
    while True:
        with claimed(engine) as conn:
            signals = read_pending(conn, now, limit=limit)
            if not signals:
                break
            if bus is None:
                for signal in signals:
                    line = signal.line()
                    logger.info(line, extra={"signal": signal.event_detail(), "event_bus": None})
                    report.local.append(line)
                mark([s.id for s in signals], [], now, conn=conn)
                report.published += len(signals)
            elif not _publish(bus, signals, now, report, conn):
                break
        if len(signals) < limit:
            break
        if remaining_ms is not None and remaining_ms() <= PUBLISH_RESERVE_MS:
            report.more = True
            break
    _emit(report)
    return report


def _publish(
    bus: str, signals: list[Signal], now: dt.datetime, report: PublishReport, conn: Connection
) -> bool:
    """Send one read's signals in batches of ten; mark them in one statement. False: stop this sweep (some
    failed, or EventBridge did not answer), the rest stays pending for the next one."""
    published: list[int] = []
    failed: list[int] = []
    for start in range(0, len(signals), PUT_EVENTS_MAX_ENTRIES):
        batch = signals[start : start + PUT_EVENTS_MAX_ENTRIES]
        try:
            ok, refused = put_batch(bus, batch, report)
        except Exception as exc:
            # not answered within the bounded timeouts, or refused as a whole: these rows and the rest stay
            # pending (a call that timed out may still have been delivered: the outbox id tells)
            report.unavailable = True
            failed.extend(s.id for s in batch)
            logger.warning(
                "EventBridge did not take the signals; they stay pending for the next sweep",
                extra={
                    "event_bus": bus,
                    "error_type": type(exc).__name__,
                    "outbox_ids": [s.id for s in batch],
                    "left_pending": len(signals) - start,
                },
            )
            break
        published.extend(ok)
        failed.extend(refused)
    mark(published, failed, now, conn=conn)
    report.published += len(published)
    report.failed += len(failed)
    if failed and not report.unavailable:
        logger.warning(
            "EventBridge refused some signals; they stay pending for the next sweep",
            extra={"event_bus": bus, "outbox_ids": failed, "error_codes": report.error_codes},
        )
    stop = bool(failed) or report.unavailable
    report.more = report.more or stop
    return not stop


def _emit(report: PublishReport) -> None:
    metrics.add_metric(name="SignalsPublished", unit="Count", value=report.published)
    metrics.add_metric(name="SignalsPublishFailed", unit="Count", value=report.failed)
    if report.published or report.failed:
        logger.info("signals published", extra=report.as_dict() | {"local": len(report.local)})
