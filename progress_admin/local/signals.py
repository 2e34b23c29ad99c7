"""`GET /local/signals` of `progress-admin serve`: the signal outbox, newest first, so an app developer sees
what the bus would carry (a demo learner's streak_saver) without AWS. Locally the sweep publishes to no bus: it
logs each signal as one line and marks it published (progress_common/signals_publish.py). `?user_id=7` (or
`user_7`) keeps one learner's; `?limit=` (at most 500, default 100)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import text

from progress_admin.local.gateway import Reply, json_reply

SIGNALS_PATH = "/local/signals"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500

OUTBOX_SQL = text(
    "SELECT id, user_id, kind, local_day, due_at, detail, status, publish_attempts, published_at"
    " FROM signal_outbox WHERE CAST(:user_id AS bigint) IS NULL OR user_id = CAST(:user_id AS bigint)"
    " ORDER BY due_at DESC, id DESC LIMIT CAST(:limit AS integer)"
)


def serves(method: str, raw_path: str) -> bool:
    return method in ("GET", "HEAD") and raw_path.rstrip("/") == SIGNALS_PATH


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def outbox_reply(query: str) -> Reply:
    """The outbox's newest rows (one statement)."""
    from progress_common.db import run_idempotent
    from progress_common.identity import parse_user_id

    params = parse_qs(query)
    try:
        limit = int(params.get("limit", [str(DEFAULT_LIMIT)])[0])
        user_id = parse_user_id(params["user_id"][0]) if "user_id" in params else None
    except ValueError as exc:
        return json_reply(400, {"message": str(exc)})
    if not 1 <= limit <= MAX_LIMIT:
        return json_reply(400, {"message": f"limit must be between 1 and {MAX_LIMIT}"})
    rows = run_idempotent(OUTBOX_SQL, {"user_id": user_id, "limit": limit})
    columns = (
        "id",
        "user_id",
        "kind",
        "local_day",
        "due_at",
        "detail",
        "status",
        "publish_attempts",
        "published_at",
    )
    signals = [{name: _iso(value) for name, value in zip(columns, row, strict=True)} for row in rows]
    return json_reply(200, {"signals": signals})
