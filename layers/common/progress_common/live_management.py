"""Live updates, the API Gateway management API: sending a message to a WebSocket connection or closing
it (`POST`/`DELETE @connections/{id}`), in parallel, with short timeouts and no retries, bounded by a
deadline; best effort everywhere (never raises to its caller). boto3 is imported on this path only.
When every call found no endpoint or no answer, calls pause for UNREACHABLE_PAUSE_SECONDS, so a missing
route costs one budget per pause, not one per batch."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from progress_common.observability import logger, metrics
from progress_common.settings import get_live_settings

# Each management API call may take this long to connect and again to answer; the caller's budget
# (LIVE_PUSH_BUDGET_SECONDS for a push) bounds them all together.
MANAGEMENT_TIMEOUT_SECONDS = 0.5
PUSH_WORKERS = 8
# After calls that reached no connection at all (endpoint unreachable), skip calling for this long.
UNREACHABLE_PAUSE_SECONDS = 30.0

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
_unreachable_until = 0.0


def reset_push_state() -> None:
    """Forget the cached management clients and any pause after an unreachable endpoint (tests, serve)."""
    global _unreachable_until
    with _clients_lock:
        _clients.clear()
    _unreachable_until = 0.0


def paused(now: float) -> bool:
    """Whether calls are paused at the monotonic instant `now` (an endpoint found unreachable)."""
    return now < _unreachable_until


def pause_if_unreachable(outcomes: dict[str, str]) -> None:
    """Every call that was made found no endpoint, or no answer: pause rather than wait again each time."""
    global _unreachable_until
    values = set(outcomes.values())
    if {"unreachable", "timeout"} & values and not {"sent", "gone", "failed"} & values:
        _unreachable_until = time.monotonic() + UNREACHABLE_PAUSE_SECONDS


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
    if time.monotonic() >= deadline:
        return outcomes  # no time left: nothing is sent, not even on a thread that would outlive the call
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
    if endpoint is None or not connection_ids or paused(time.monotonic()):
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
