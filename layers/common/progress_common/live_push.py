"""Live updates, the push: after the attempts consumer has committed a batch, each affected learner's open
connections get one message with the fresh GET /progress figures. Best effort, bounded in time
(LIVE_PUSH_BUDGET_SECONDS), after the commit, never able to fail or hold up the batch. The consumer's
batch processor names the learners whose messages it recorded; nothing here reads the messages again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from progress_common.db import get_engine
from progress_common.live_connections import connections_of, forget_connections
from progress_common.live_management import _management_client, _post_all, pause_if_unreachable, paused
from progress_common.observability import logger, metrics
from progress_common.settings import get_live_settings


@dataclass
class PushReport:
    """What one push did, connection by connection."""

    sent: int = 0
    gone: int = 0
    failed: int = 0
    skipped: int = 0
    users: int = 0
    seconds: float = 0.0
    outcomes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "gone": self.gone,
            "failed": self.failed,
            "skipped": self.skipped,
            "users": self.users,
            "seconds": round(self.seconds, 3),
        }


def progress_message(user_id: int, *, engine: Engine | None = None) -> bytes:
    """The message a user's connections receive: the GET /progress fields, without the attempts page."""
    from progress_common.queries import get_progress

    progress = get_progress(user_id, limit=1, engine=engine).model_dump(
        mode="json", exclude={"recent_attempts", "next_cursor"}
    )
    return json.dumps({"type": "progress", "progress": progress}, separators=(",", ":")).encode()


def push_progress(
    user_ids: Iterable[int], *, budget_seconds: float | None = None, engine: Engine | None = None
) -> PushReport:
    """Send each user's open connections their fresh progress; never raises; bounded by the budget.

    Call only after the writes are committed. Each connection receives its own user's figures only.
    """
    report = PushReport()
    settings = get_live_settings()
    users = set(user_ids)
    if settings.live_management_endpoint is None or not users:
        return report
    started = time.monotonic()
    budget = settings.live_push_budget_seconds if budget_seconds is None else budget_seconds
    deadline = started + max(0.0, budget)
    try:
        engine = engine or get_engine()
        connections = connections_of(engine, users)
        report.users = len(connections)
        if not connections:
            return report
        if paused(started):
            report.skipped = sum(len(c) for c in connections.values())
            return report
        jobs: list[tuple[str, bytes | None]] = []
        for user_id, connection_ids in connections.items():
            if time.monotonic() >= deadline:
                report.skipped += len(connection_ids)
                continue
            message = progress_message(user_id, engine=engine)
            jobs.extend((connection_id, message) for connection_id in connection_ids)
        if jobs and time.monotonic() < deadline:
            # built once per container (boto3's import and service model): not charged to the budget
            built = time.monotonic()
            client = _management_client(settings.live_management_endpoint)
            deadline += time.monotonic() - built
            report.outcomes = _post_all(client, jobs, deadline)
        else:
            report.outcomes = {connection_id: "skipped" for connection_id, _ in jobs}
        values = list(report.outcomes.values())
        report.sent = values.count("sent")
        report.gone = values.count("gone")
        report.failed = values.count("failed") + values.count("unreachable")
        report.skipped += values.count("skipped") + values.count("timeout")
        pause_if_unreachable(report.outcomes)
        gone = [cid for cid, outcome in report.outcomes.items() if outcome == "gone"]
        if gone:
            forget_connections(gone, engine=engine)
    except Exception as exc:
        # best effort: the batch is already committed and its result must not change
        logger.warning("live push failed", extra={"error_type": type(exc).__name__})
        report.failed += 1
    finally:
        report.seconds = time.monotonic() - started
    return report


def push_after_batch(users: Iterable[int], remaining_ms: Callable[[], int] | None = None) -> PushReport:
    """The attempts consumer's push, after its batch has committed, to the learners whose messages it
    recorded (written or duplicate). Never raises."""
    try:
        budget = get_live_settings().live_push_budget_seconds
        if remaining_ms is not None:  # never into the last second of the invocation
            budget = min(budget, max(0.0, remaining_ms() / 1000 - 1.0))
        report = push_progress(users, budget_seconds=budget)
    except Exception as exc:
        logger.warning("live push failed", extra={"error_type": type(exc).__name__})
        return PushReport(failed=1)
    if report.users:
        for name, value in (
            ("LivePushesSent", report.sent),
            ("LivePushesGone", report.gone),
            ("LivePushesFailed", report.failed),
            ("LivePushesSkipped", report.skipped),
        ):
            metrics.add_metric(name=name, unit="Count", value=value)
        logger.info("live push", extra=report.as_dict())
    return report
