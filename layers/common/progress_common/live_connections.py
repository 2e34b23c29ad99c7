"""Live updates, the connections: the WebSocket API's $connect consumes a ticket and binds the connection
to the ticket's user (at most MAX_CONNECTIONS_PER_USER: a newer one pushes the oldest out, closed through
the management API), $disconnect forgets it, and the push finds each user's open connections."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, text

from progress_common.db import is_transient, run_idempotent
from progress_common.live_management import close_connections
from progress_common.live_tickets import MAX_TICKET_LENGTH, ticket_hash
from progress_common.observability import logger, metrics
from progress_common.sqltext import sql_literal

MAX_CONNECTIONS_PER_USER = 5

# Calls of progress_schema/sql/functions/progress_live_*_v1.sql.
CONNECT_SQL = text(
    "SELECT user_id, evicted FROM progress_live_connect_v1("
    "CAST(:ticket_hash AS bytea), CAST(:connection_id AS text), CAST(:keep AS integer))"
)
DISCONNECT_SQL = text("SELECT progress_live_disconnect_v1(CAST(:connection_ids AS text[]))")
# values written into the text (sqltext): one simple Query
CONNECTIONS_SQL = (
    "SELECT user_id, connection_id FROM progress_live_connections_v1(ARRAY[{ids}]::bigint[], {keep})"
)


def _websocket_response(status: int, code: str | None = None, message: str = "") -> dict[str, Any]:
    if code is None:
        return {"statusCode": status}
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": {"code": code, "message": message}}),
    }


def _connection_id(event: Mapping[str, Any]) -> str | None:
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    connection_id = context.get("connectionId") if isinstance(context, Mapping) else None
    if isinstance(connection_id, str) and 0 < len(connection_id) <= 128:
        return connection_id
    return None


def _ticket_of(event: Mapping[str, Any]) -> str | None:
    params = event.get("queryStringParameters")
    ticket = params.get("ticket") if isinstance(params, Mapping) else None
    if isinstance(ticket, str) and 0 < len(ticket) <= MAX_TICKET_LENGTH:
        return ticket
    return None


def bind_connection(
    ticket: str, connection_id: str, *, engine: Engine | None = None
) -> tuple[int | None, list[str]]:
    """Consume the ticket and bind the connection to its user.

    Returns the user (None: refused) and the user's oldest connections that made room (to be closed).
    """
    ((user_id, evicted),) = run_idempotent(
        CONNECT_SQL,
        {
            "ticket_hash": ticket_hash(ticket),
            "connection_id": connection_id,
            "keep": MAX_CONNECTIONS_PER_USER,
        },
        engine=engine,
    )
    return (int(user_id) if user_id is not None else None), list(evicted or ())


def handle_connect(event: Mapping[str, Any]) -> dict[str, Any]:
    """The $connect route: 200 binds the connection; anything else makes API Gateway refuse it."""
    connection_id = _connection_id(event)
    if connection_id is None:
        logger.warning("rejected a $connect event without a connection id")
        return _websocket_response(400, "bad_request", "not an API Gateway WebSocket $connect event")
    ticket = _ticket_of(event)
    if ticket is None:
        metrics.add_metric(name="LiveConnectRefused", unit="Count", value=1)
        logger.info("refused a connection without a ticket", extra={"connection_id": connection_id})
        return _websocket_response(401, "ticket_required", "open the URL from POST /progress/live-ticket")
    try:
        user_id, evicted = bind_connection(ticket, connection_id)
    except Exception as exc:
        if not is_transient(exc):
            raise
        logger.warning("database unavailable on $connect", extra={"error_type": type(exc).__name__})
        metrics.add_metric(name="DatabaseUnavailable", unit="Count", value=1)
        return _websocket_response(503, "database_unavailable", "retry later with a new ticket")
    if user_id is None:
        metrics.add_metric(name="LiveConnectRefused", unit="Count", value=1)
        logger.info("refused an unknown, expired or used ticket", extra={"connection_id": connection_id})
        return _websocket_response(401, "invalid_ticket", "the ticket is unknown, expired or already used")
    logger.append_keys(user_id=user_id)
    logger.info("connection opened", extra={"connection_id": connection_id, "evicted": len(evicted)})
    metrics.add_metric(name="LiveConnections", unit="Count", value=1)
    if evicted:
        close_connections(evicted)
    return _websocket_response(200)


def handle_disconnect(event: Mapping[str, Any]) -> dict[str, Any]:
    """The $disconnect route (best effort on API Gateway's side): forget the connection."""
    connection_id = _connection_id(event)
    if connection_id is None:
        logger.warning("rejected a $disconnect event without a connection id")
        return _websocket_response(400, "bad_request", "not an API Gateway WebSocket $disconnect event")
    forget_connections([connection_id])
    logger.info("connection closed", extra={"connection_id": connection_id})
    return _websocket_response(200)


def forget_connections(connection_ids: list[str], *, engine: Engine | None = None) -> int:
    """Delete these connections (closed, or gone for the management API); return how many there were."""
    ((forgotten,),) = run_idempotent(DISCONNECT_SQL, {"connection_ids": connection_ids}, engine=engine)
    return int(forgotten)


def connections_of(engine: Engine, user_ids: Iterable[int]) -> dict[int, list[str]]:
    """The open connections of these users (the newest MAX_CONNECTIONS_PER_USER each), in one round trip."""
    ids = ", ".join(sql_literal(user_id) for user_id in sorted(set(user_ids)))
    found: dict[int, list[str]] = {}
    for user_id, connection_id in run_idempotent(
        CONNECTIONS_SQL.format(ids=ids, keep=sql_literal(MAX_CONNECTIONS_PER_USER)), engine=engine
    ):
        found.setdefault(int(user_id), []).append(connection_id)
    return found
