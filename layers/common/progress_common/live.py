"""Live updates: single-use tickets, the WebSocket $connect/$disconnect, and the push after a batch.

A learner's page asks POST /progress/live-ticket (JWT) for a ticket and opens the WebSocket URL with it;
$connect consumes the ticket in one statement and binds the connection to the ticket's user, so the
WebSocket API needs no authorizer of its own and no token ever travels in a URL. After the attempts
consumer has committed a batch, each affected user's open connections get one message with the fresh
GET /progress figures, through the API Gateway management API: best effort, bounded in time, after the
commit, and never able to fail or hold up the batch. boto3 is imported on that path only.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine, text

from progress_common.db import get_engine, is_transient, run_idempotent
from progress_common.identity import parse_user_id
from progress_common.models import LiveTicketResponse
from progress_common.observability import logger, metrics
from progress_common.settings import get_live_settings
from progress_common.sqltext import sql_literal

TICKET_TTL_SECONDS = 60
MAX_CONNECTIONS_PER_USER = 5
# API Gateway closes every WebSocket connection after 2 hours: an older row missed its $disconnect.
CONNECTION_MAX_AGE_SECONDS = 2 * 3600
# Rows of expired tickets and stale connections removed per ticket issued: bounded work per request.
CLEANUP_BATCH = 100
MAX_TICKET_LENGTH = 128
# Each management API call may take this long to connect and again to answer; the batch's budget
# (LIVE_PUSH_BUDGET_SECONDS) bounds them all together.
MANAGEMENT_TIMEOUT_SECONDS = 0.5
PUSH_WORKERS = 8
# After a push that reached no connection at all (endpoint unreachable), skip pushing for this long, so a
# missing route to the endpoint costs one budget per interval rather than one per batch.
UNREACHABLE_PAUSE_SECONDS = 30.0

# The statements are calls of the functions in progress_admin/sql/functions/progress_live_*_v1.sql.
ISSUE_TICKET_SQL = text(
    "SELECT progress_live_issue_ticket_v1(CAST(:ticket_hash AS bytea), CAST(:user_id AS bigint),"
    " CAST(:ttl AS integer), CAST(:max_age AS integer), CAST(:cleanup AS integer))"
)
CONNECT_SQL = text(
    "SELECT user_id, evicted FROM progress_live_connect_v1("
    "CAST(:ticket_hash AS bytea), CAST(:connection_id AS text), CAST(:keep AS integer))"
)
DISCONNECT_SQL = text("SELECT progress_live_disconnect_v1(CAST(:connection_ids AS text[]))")
# Values written into the text (sqltext): one simple Query, one round trip, after every batch.
CONNECTIONS_SQL = (
    "SELECT user_id, connection_id FROM progress_live_connections_v1(ARRAY[{ids}]::bigint[], {keep})"
)


def _ticket_hash(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


# --- POST /progress/live-ticket ------------------------------------------------------------------------


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
            "ticket_hash": _ticket_hash(ticket),
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


# --- WebSocket $connect / $disconnect --------------------------------------------------------------------


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
            "ticket_hash": _ticket_hash(ticket),
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


# --- the push after a batch -----------------------------------------------------------------------------


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


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
_unreachable_until = 0.0


def reset_push_state() -> None:
    """Forget the cached management clients and any pause after an unreachable endpoint (tests, serve)."""
    global _unreachable_until
    with _clients_lock:
        _clients.clear()
    _unreachable_until = 0.0


def _management_client(endpoint: str) -> Any:
    """One apigatewaymanagementapi client per endpoint per container: short timeouts, no retries."""
    with _clients_lock:
        client = _clients.get(endpoint)
        if client is None:
            import boto3  # only the push path needs it (cold start)
            from botocore.config import Config

            client = boto3.session.Session().client(
                "apigatewaymanagementapi",
                endpoint_url=endpoint,
                config=Config(
                    connect_timeout=MANAGEMENT_TIMEOUT_SECONDS,
                    read_timeout=MANAGEMENT_TIMEOUT_SECONDS,
                    retries={"total_max_attempts": 1},
                    max_pool_connections=PUSH_WORKERS,
                ),
            )
            _clients[endpoint] = client
    return client


def users_of_successful_records(event: Mapping[str, Any], batch_response: Mapping[str, Any]) -> set[int]:
    """The users whose messages of this SQS batch were recorded (written or duplicate).

    Read from the event and the batch response, so it holds whatever the write path does inside.
    """
    failed = {item.get("itemIdentifier") for item in batch_response.get("batchItemFailures") or ()}
    users: set[int] = set()
    for record in event.get("Records") or ():
        if not isinstance(record, Mapping) or record.get("messageId") in failed:
            continue
        try:
            users.add(parse_user_id(json.loads(record.get("body") or "")["user_id"]))
        except (ValueError, TypeError, KeyError):
            continue  # cannot happen for a recorded message; never a reason to fail the batch
    return users


def _connections_of(engine: Engine, user_ids: Iterable[int]) -> dict[int, list[str]]:
    """The open connections of these users (the newest MAX_CONNECTIONS_PER_USER each), in one round trip."""
    ids = ", ".join(sql_literal(user_id) for user_id in sorted(set(user_ids)))
    found: dict[int, list[str]] = {}
    for user_id, connection_id in run_idempotent(
        CONNECTIONS_SQL.format(ids=ids, keep=sql_literal(MAX_CONNECTIONS_PER_USER)), engine=engine
    ):
        found.setdefault(int(user_id), []).append(connection_id)
    return found


def progress_message(user_id: int, *, engine: Engine | None = None) -> bytes:
    """The message a user's connections receive: the GET /progress fields, without the attempts page."""
    from progress_common.queries import get_progress

    progress = get_progress(user_id, limit=1, engine=engine).model_dump(
        mode="json", exclude={"recent_attempts", "next_cursor"}
    )
    return json.dumps({"type": "progress", "progress": progress}, separators=(",", ":")).encode()


def _post(client: Any, connection_id: str, data: bytes | None) -> str:
    """Send data to the connection, or close it when data is None; the outcome in one word."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if data is None:
            client.delete_connection(ConnectionId=connection_id)
        else:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return "gone" if code == "GoneException" or status == 410 else "failed"
    except (BotoCoreError, OSError):
        return "unreachable"
    return "sent"


def _post_all(client: Any, jobs: list[tuple[str, bytes | None]], deadline: float) -> dict[str, str]:
    """Post every (connection, message) in parallel; whatever has not answered by the deadline is
    "skipped" and left to finish (or time out) on its own thread."""
    from concurrent.futures import ThreadPoolExecutor, wait

    outcomes = {connection_id: "skipped" for connection_id, _ in jobs}
    executor = ThreadPoolExecutor(max_workers=min(PUSH_WORKERS, len(jobs)), thread_name_prefix="live-push")
    try:
        futures = {executor.submit(_post, client, cid, data): cid for cid, data in jobs}
        done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        for future in done:
            outcomes[futures[future]] = future.result()
        for future in pending:  # a call on the wire got no answer in time; a queued one never started
            if future.running():
                outcomes[futures[future]] = "timeout"
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return outcomes


def close_connections(
    connection_ids: list[str],
    *,
    budget_seconds: float = MANAGEMENT_TIMEOUT_SECONDS,
    farewell: bytes | None = None,
    metric: str = "LiveConnectionsEvicted",
) -> None:
    """Close connections at API Gateway (their rows are gone already): best effort, bounded, never raises.

    Used for the connections a user's newest one pushed out, so their pages see the socket close rather
    than wait for updates that no longer come, and for those a reset or an erasure removed. `farewell` is
    sent to each first, within the same budget, so the page knows why it was closed.
    """
    endpoint = get_live_settings().live_management_endpoint
    if endpoint is None or not connection_ids or time.monotonic() < _unreachable_until:
        return
    deadline = time.monotonic() + budget_seconds
    try:
        client = _management_client(endpoint)
        if farewell is not None:
            _post_all(client, [(connection_id, farewell) for connection_id in connection_ids], deadline)
        outcomes = _post_all(client, [(connection_id, None) for connection_id in connection_ids], deadline)
    except Exception as exc:
        logger.warning("could not close evicted connections", extra={"error_type": type(exc).__name__})
        return
    closed = sum(1 for outcome in outcomes.values() if outcome in ("sent", "gone"))
    metrics.add_metric(name=metric, unit="Count", value=closed)


# What a learner's open pages receive when a reset removed their connections, just before they close.
RESET_MESSAGE = json.dumps({"type": "reset", "reason": "progress_reset"}, separators=(",", ":")).encode()


def close_after_reset(connection_ids: list[str]) -> None:
    """After a reset's commit: tell the learner's open pages why, then close their connections."""
    close_connections(connection_ids, farewell=RESET_MESSAGE, metric="LiveConnectionsClosedByReset")


def push_progress(
    user_ids: Iterable[int], *, budget_seconds: float | None = None, engine: Engine | None = None
) -> PushReport:
    """Send each user's open connections their fresh progress; never raises; bounded by the budget.

    Call only after the writes are committed. Each connection receives its own user's figures only.
    """
    global _unreachable_until
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
        connections = _connections_of(engine, users)
        report.users = len(connections)
        if not connections:
            return report
        if started < _unreachable_until:
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
        # every call that was made found no endpoint, or no answer: pause rather than wait again each batch
        if {"unreachable", "timeout"} & set(values) and not {"sent", "gone", "failed"} & set(values):
            _unreachable_until = time.monotonic() + UNREACHABLE_PAUSE_SECONDS
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


def push_after_batch(
    event: Mapping[str, Any],
    batch_response: Mapping[str, Any],
    remaining_ms: Callable[[], int] | None = None,
) -> PushReport:
    """The attempts consumer's push, after its batch has committed. Never raises."""
    try:
        users = users_of_successful_records(event, batch_response)
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


__all__ = [
    "MAX_CONNECTIONS_PER_USER",
    "TICKET_TTL_SECONDS",
    "PushReport",
    "bind_connection",
    "close_after_reset",
    "handle_connect",
    "handle_disconnect",
    "issue_ticket",
    "push_after_batch",
    "push_progress",
    "reset_push_state",
    "users_of_successful_records",
]
