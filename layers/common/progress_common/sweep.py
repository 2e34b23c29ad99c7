"""The minute sweep (SweepFunction, EventBridge Scheduler every minute; `progress-admin serve` and `sweep`
locally): advances the ingest watermark from what the attempts queue proves, opens and closes incidents,
covers the days of the learners a closed incident affected, writes the signals due to the outbox and
publishes the outbox to EventBridge (signals_publish.py; docs/signals.md).

Every step takes "now" from one clock (progress_common.clock, or the instant given), so a test or
`progress-admin sweep --at` can run it as of any minute. Each step is one statement, its own transaction;
a sweep killed between two steps leaves nothing half-done, and the next sweep carries on.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from progress_common import clock
from progress_common.db import run_idempotent, unavailable_as_typed_error
from progress_common.observability import logger, metrics
from progress_common.settings import IngestSettings, get_ingest_settings
from progress_common.signals_publish import PublishReport, publish_pending
from progress_common.watermark import Evidence, read_evidence

ADVANCE_SQL = text(
    "SELECT progress_watermark_advance_v1(CAST(:now AS timestamptz), CAST(:candidate AS timestamptz),"
    " :empty, CAST(:evidence AS jsonb))"
)
COVER_SQL = text("SELECT progress_incident_cover_v1(CAST(:limit AS integer))")
# learners looked at per covering statement: each is a short transaction that locks that many profiles
COVER_BATCH = 500
# leave this much of the invocation for the rest of the sweep
COVER_RESERVE_MS = 5_000
SIGNALS_SQL = text("SELECT progress_signals_sweep_v1(CAST(:now AS timestamptz), CAST(:limit AS integer))")
# learners planned per signals statement (each a short transaction locking that many profiles), and at most
# this many statements a sweep (the rest are due still and go first at the next minute)
SIGNALS_BATCH = 500
SIGNALS_MAX_BATCHES = 40
SIGNALS_RESERVE_MS = 3_000


@dataclass
class SweepReport:
    now: dt.datetime
    watermark: dt.datetime | None = None
    advanced: bool = False
    holds: int = 0
    holds_released: int = 0
    open_incident: int | None = None
    incident_opened: int | None = None
    incident_closed: int | None = None
    covered: list[dict[str, Any]] = field(default_factory=list)
    signals: dict[str, int] = field(default_factory=dict)
    published: PublishReport | None = None

    @property
    def lag_seconds(self) -> float | None:
        return None if self.watermark is None else (self.now - self.watermark).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "lag_seconds": self.lag_seconds,
            "advanced": self.advanced,
            "holds": self.holds,
            "holds_released": self.holds_released,
            "open_incident": self.open_incident,
            "incident_opened": self.incident_opened,
            "incident_closed": self.incident_closed,
            "covered": self.covered,
            "signals": self.signals,
            "published": self.published.as_dict() if self.published is not None else None,
        }


def advance_watermark(
    now: dt.datetime, evidence: Evidence, *, engine: Engine | None = None
) -> dict[str, Any]:
    """One step of the watermark and the incidents (progress_watermark_advance_v1); its JSON answer."""
    with unavailable_as_typed_error():
        ((answer,),) = run_idempotent(
            ADVANCE_SQL,
            {
                "now": now.isoformat(),
                "candidate": evidence.candidate.isoformat() if evidence.candidate else None,
                "empty": evidence.queue_empty,
                "evidence": json.dumps(evidence.detail),
            },
            engine=engine,
        )
    return answer if isinstance(answer, dict) else json.loads(answer)


def cover_incident_batch(*, engine: Engine | None = None, limit: int = COVER_BATCH) -> dict[str, Any] | None:
    """Cover the next batch of learners of a closed incident; None when no incident waits for covers."""
    with unavailable_as_typed_error():
        ((answer,),) = run_idempotent(COVER_SQL, {"limit": limit}, engine=engine)
    if answer is None:
        return None
    return answer if isinstance(answer, dict) else json.loads(answer)


def sweep_signals_batch(
    now: dt.datetime, *, engine: Engine | None = None, limit: int = SIGNALS_BATCH
) -> dict[str, Any]:
    """Plan the learners due at `now` (at most `limit`) and write their due signals to the outbox
    (progress_signals_sweep_v1): one statement, its own transaction. Safe to retry: each signal is unique by
    (user, kind, local day), and a learner already planned is no longer due."""
    with unavailable_as_typed_error():
        ((answer,),) = run_idempotent(SIGNALS_SQL, {"now": now.isoformat(), "limit": limit}, engine=engine)
    return answer if isinstance(answer, dict) else json.loads(answer)


def sweep_signals(
    now: dt.datetime,
    *,
    engine: Engine | None = None,
    remaining_ms: Callable[[], int] | None = None,
    limit: int = SIGNALS_BATCH,
) -> dict[str, int]:
    """Every learner due at `now`, batch by batch while time remains: the totals of the batches."""
    totals = {"evaluated": 0, "written": 0, "skipped_off": 0, "skipped_paused": 0, "batches": 0}
    for _ in range(SIGNALS_MAX_BATCHES):
        if remaining_ms is not None and remaining_ms() <= SIGNALS_RESERVE_MS:
            break
        batch = sweep_signals_batch(now, engine=engine, limit=limit)
        totals["batches"] += 1
        for key in ("evaluated", "written", "skipped_off", "skipped_paused"):
            totals[key] += int(batch[key])
        if not batch["more"]:
            break
    return totals


def _instant(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def run_sweep(
    now: dt.datetime | None = None,
    *,
    engine: Engine | None = None,
    ingest: IngestSettings | None = None,
    remaining_ms: Callable[[], int] | None = None,
) -> SweepReport:
    """One sweep as of `now` (default: the clock). Raises DatabaseUnavailableError when the database cannot
    be reached (the scheduler's retry, or the next minute, carries on)."""
    now = now or clock.utc_now()
    report = SweepReport(now=now)
    ingest = ingest or get_ingest_settings()
    evidence = read_evidence(now, ingest)
    state = advance_watermark(now, evidence, engine=engine)
    report.watermark = _instant(state["watermark"])
    report.advanced = bool(state["advanced"])
    report.holds, report.holds_released = int(state["holds"]), int(state["holds_released"])
    report.open_incident = state["open_incident"]
    report.incident_opened, report.incident_closed = state["incident_opened"], state["incident_closed"]
    if report.incident_opened is not None:
        logger.error(
            "ingest incident opened: the watermark has not advanced for 15 minutes; days stay unsettled",
            extra={
                "incident": report.incident_opened,
                "watermark": state["watermark"],
                "evidence": evidence.detail,
            },
        )
    if report.incident_closed is not None:
        logger.warning(
            "ingest incident closed: the watermark caught up; covering the learners it affected",
            extra={"incident": report.incident_closed, "watermark": state["watermark"]},
        )
    while remaining_ms is None or remaining_ms() > COVER_RESERVE_MS:
        batch = cover_incident_batch(engine=engine)
        if batch is None:
            break
        report.covered.append(batch)
        if batch["covered"]:
            logger.warning("incident covered its learners' missed days", extra=batch)
            break
    report.signals = sweep_signals(now, engine=engine, remaining_ms=remaining_ms)
    # after the signals step (the outbox it wrote goes out in the same minute), within the remaining time;
    # what does not fit, or what EventBridge did not take, stays pending for the next sweep
    report.published = publish_pending(
        now, bus=ingest.event_bus_name, engine=engine, remaining_ms=remaining_ms
    )
    _emit(report)
    return report


def _emit(report: SweepReport) -> None:
    metrics.add_metric(name="IngestIncidentOpen", unit="Count", value=1 if report.open_incident else 0)
    metrics.add_metric(name="IngestHolds", unit="Count", value=report.holds)
    metrics.add_metric(name="SignalsWritten", unit="Count", value=report.signals.get("written", 0))
    if report.lag_seconds is not None:
        metrics.add_metric(name="IngestWatermarkLagSeconds", unit="Seconds", value=report.lag_seconds)
    logger.info("sweep", extra=report.as_dict())
