"""Ingest incidents and holds for operators (`progress-admin incidents`, `progress-admin holds`): what the
minute sweep opened and closed, what it covered, and the veto that takes those covers back (docs/signals.md,
docs/operations.md)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, text

# within this long after an incident closed, an operator may veto its covers (progress_incident_veto_v1)
VETO_HOURS = 24

LIST_SQL = text(
    "SELECT id, started_at, opened_at, closed_at, covered, learners_covered, days_covered, vetoed_at,"
    " veto_learners FROM ingest_incidents ORDER BY id DESC LIMIT :limit"
)
SHOW_SQL = text(
    "SELECT row_to_json(i)::text, (SELECT row_to_json(w)::text FROM ingest_watermark w),"
    " (SELECT count(DISTINCT c.user_id) FROM user_covered_days c WHERE c.incident_id = i.id),"
    " (SELECT count(*) FROM user_covered_days c WHERE c.incident_id = i.id)"
    " FROM ingest_incidents i WHERE i.id = :id"
)
VETO_SQL = text("SELECT progress_incident_veto_v1(CAST(:id AS bigint), CAST(:now AS timestamptz))")
HOLDS_SQL = text(
    "SELECT attempt_uid::text, user_id, held_from, receive_count, reason, created_at FROM ingest_holds"
    " ORDER BY held_from, attempt_uid LIMIT :limit"
)
RELEASE_SQL = text(
    "SELECT attempt_uid::text, user_id, held_from"
    " FROM progress_hold_release_v1(CAST(:uids AS uuid[]), CAST(:user_id AS bigint))"
)


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def incident_lines(engine: Engine, *, limit: int = 20) -> list[str]:
    """The newest incidents first, one line each."""
    with engine.connect() as conn:
        rows = conn.execute(LIST_SQL, {"limit": limit}).all()
    if not rows:
        return ["no ingest incidents"]
    lines = []
    for i, started, opened, closed, covered, learners, days, vetoed, veto_learners in rows:
        state = (
            f"vetoed {_when(vetoed)} ({veto_learners} learners' covers removed)"
            if vetoed
            else "open"
            if closed is None
            else f"closed {_when(closed)}, "
            + (f"covered {days} days of {learners} learners" if covered else f"covering ({learners} so far)")
        )
        lines.append(f"incident {i}: complete through {_when(started)}, opened {_when(opened)}, {state}")
    return lines


def show_incident(engine: Engine, incident_id: int) -> dict[str, Any] | None:
    """Everything about one incident, and the watermark now; None when there is no such incident."""
    with engine.connect() as conn:
        row = conn.execute(SHOW_SQL, {"id": incident_id}).one_or_none()
    if row is None:
        return None
    incident, watermark, learners, days = row
    return {
        "incident": json.loads(incident),
        "covered_now": {"learners": learners, "days": days},
        "veto_until": _veto_until(json.loads(incident)),
        "watermark": json.loads(watermark) if watermark else None,
    }


def _veto_until(incident: dict[str, Any]) -> str | None:
    closed = incident.get("closed_at")
    if not closed:
        return None
    return (dt.datetime.fromisoformat(closed) + dt.timedelta(hours=VETO_HOURS)).isoformat()


def veto_incident(engine: Engine, incident_id: int, now: dt.datetime) -> dict[str, Any]:
    """Remove an incident's covers (within VETO_HOURS of its close); its answer: outcome, learners, days."""
    with engine.begin() as conn:
        answer = conn.execute(VETO_SQL, {"id": incident_id, "now": now.isoformat()}).scalar_one()
    return answer if isinstance(answer, dict) else json.loads(answer)


def hold_lines(engine: Engine, *, limit: int = 100) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(HOLDS_SQL, {"limit": limit}).all()
    if not rows:
        return ["no holds: no message of a learner is on its way to the DLQ"]
    return [
        f"hold {uid}: user {user}, days from {_when(held_from)} on, receive {count} ({reason}), since {_when(at)}"
        for uid, user, held_from, count, reason, at in rows
    ]


def release_holds(
    engine: Engine, *, attempt_uids: Sequence[uuid.UUID] = (), user_id: int | None = None
) -> list[tuple[str, int, dt.datetime]]:
    """Release the holds of these attempts, or all of one learner's; the holds released."""
    with engine.begin() as conn:
        rows = conn.execute(
            RELEASE_SQL,
            {"uids": "{" + ",".join(str(u) for u in attempt_uids) + "}", "user_id": user_id},
        ).all()
    return [(uid, int(user), held_from) for uid, user, held_from in rows]
