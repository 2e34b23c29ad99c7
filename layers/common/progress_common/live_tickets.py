"""Live updates, the tickets: POST /progress/live-ticket gives a learner a random single-use ticket, valid
TICKET_TTL_SECONDS, and the WebSocket URL to open with it; PostgreSQL keeps only the ticket's SHA-256.
$connect consumes it (live_connections), so no token ever travels in a URL."""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlencode

from sqlalchemy import Engine, text

from progress_common.db import run_idempotent
from progress_common.models import LiveTicketResponse
from progress_common.settings import get_live_settings

TICKET_TTL_SECONDS = 60
# API Gateway closes every WebSocket connection after 2 hours: an older row missed its $disconnect.
CONNECTION_MAX_AGE_SECONDS = 2 * 3600
# Rows of expired tickets and stale connections removed per ticket issued: bounded work per request.
CLEANUP_BATCH = 100
MAX_TICKET_LENGTH = 128

# A call of progress_schema/sql/functions/progress_live_issue_ticket_v1.sql.
ISSUE_TICKET_SQL = text(
    "SELECT progress_live_issue_ticket_v1(CAST(:ticket_hash AS bytea), CAST(:user_id AS bigint),"
    " CAST(:ttl AS integer), CAST(:max_age AS integer), CAST(:cleanup AS integer))"
)


def ticket_hash(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


def issue_ticket(user_id: int, *, engine: Engine | None = None) -> LiveTicketResponse:
    """A new single-use ticket for user_id, valid TICKET_TTL_SECONDS, with the URL to open.

    Also removes a bounded number of expired tickets and stale connections (same statement).
    """
    websocket_url = get_live_settings().live_websocket_url
    if websocket_url is None:
        from progress_common.errors import ConfigurationError

        raise ConfigurationError("LIVE_WEBSOCKET_URL is not set")
    ticket = secrets.token_urlsafe(32)
    # run_idempotent: a pooled connection that died while the container was frozen never delivered the
    # statement, so it runs once more on a new one (the same rule as the GETs)
    ((expires_at,),) = run_idempotent(
        ISSUE_TICKET_SQL,
        {
            "ticket_hash": ticket_hash(ticket),
            "user_id": user_id,
            "ttl": TICKET_TTL_SECONDS,
            "max_age": CONNECTION_MAX_AGE_SECONDS,
            "cleanup": CLEANUP_BATCH,
        },
        engine=engine,
    )
    return LiveTicketResponse(
        ticket=ticket, expires_at=expires_at, url=f"{websocket_url}?{urlencode({'ticket': ticket})}"
    )
