"""MigrateSchemaFunction: the CloudFormation custom resource that brings the database schema to the
revision the stack's code needs, from inside the VPC, before the functions that need it are updated.

Create/Update: upgrade to ResourceProperties.SchemaRevision, each migration in its own transaction (a
failure rolls back the migration that failed, keeps those completed, and answers FAILED, so the deploy
fails and CloudFormation rolls back; running it again continues). A database already at or beyond that
revision is left alone (a rollback never downgrades). Delete answers SUCCESS and drops
nothing. Whatever happens, CloudFormation gets an answer at the pre-signed ResponseURL before this
function's timeout: otherwise the stack would wait an hour for it.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from progress_common.observability import logger

# The schema is one resource per database: Update never replaces it (a new id would make CloudFormation
# send Delete for the old one, which must not matter either, but keeps the history plain).
PHYSICAL_RESOURCE_ID = "progress-schema"
# Kept back from the function's remaining time to answer CloudFormation (a PUT with its own timeout).
ANSWER_RESERVE_MS = 5_000
RESPONSE_TIMEOUT_SECONDS = 3.0
# A DDL statement that waits longer than this for a lock fails (and the deploy with it) instead of
# queueing the service's writers behind it.
LOCK_TIMEOUT_MS = 5_000
MAX_REASON_CHARS = 1_000  # the whole response must stay under CloudFormation's 4 KB


def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    fields = event if isinstance(event, dict) else {}
    logger.info(
        "custom resource request",
        extra={
            k: _bounded(fields.get(k), 300)
            for k in ("RequestType", "LogicalResourceId", "StackId", "RequestId")
        },
    )
    # The whole event is checked before anything is touched: a request CloudFormation did not send
    # (or cannot be answered) migrates nothing.
    problems = event_problems(event)
    url = fields.get("ResponseURL")
    if not isinstance(url, str) or not _is_response_url(url):
        logger.error(
            "custom resource event without a usable ResponseURL: nothing migrated, nobody to answer",
            extra={"problems": problems},
        )
        return _answer(fields, "FAILED", "; ".join(problems), {}, context)
    host, port = _host_and_port(url)
    if not response_host_reachable(host, port):
        # No answer can reach CloudFormation, whatever the migration does: do nothing, and say why. The
        # stack waits out the resource's ServiceTimeout and rolls back; the fix is the network.
        logger.error(
            "cannot reach the host of CloudFormation's response URL: nothing migrated. From private "
            "subnets the answer needs S3: an S3 gateway endpoint (PrivateRouteTableIds) or a NAT gateway",
            extra={"host": host, "port": port, "timeout_seconds": RESPONSE_HOST_CHECK_SECONDS},
        )
        return _answer(fields, "FAILED", f"cannot reach {host}:{port} to answer CloudFormation", {}, context)
    data: dict[str, Any] = {}
    if problems:
        status, reason = "FAILED", "invalid custom resource event: " + "; ".join(problems)
    else:
        try:
            status, reason, data = _handle(event, context)
        except Exception as exc:  # answer FAILED for anything, or CloudFormation waits for an hour
            logger.exception("schema migration failed")
            status, reason, data = "FAILED", f"{type(exc).__name__}: {exc}", {}
    answer = _answer(fields, status, reason, data, context)
    send_response(url, answer)
    logger.info("answered CloudFormation", extra={"status": status, "reason": answer["Reason"]})
    return answer


# What CloudFormation sends, with the most each field may hold here (real ones are far shorter): an
# answer echoes them, and the whole answer must stay under CloudFormation's 4 KB.
ECHOED_FIELDS = {"StackId": 512, "RequestId": 128, "LogicalResourceId": 255, "PhysicalResourceId": 255}
REQUEST_TYPES = ("Create", "Update", "Delete")
MAX_ANSWER_BYTES = 4_096
RESPONSE_HOST_CHECK_SECONDS = 3.0


def event_problems(event: Any) -> list[str]:
    """Why `event` is not a custom resource request this function can act on (empty when it is)."""
    if not isinstance(event, dict):
        return [f"the event is a {type(event).__name__}, not an object"]
    problems = []
    if event.get("RequestType") not in REQUEST_TYPES:
        problems.append(f"RequestType must be one of {', '.join(REQUEST_TYPES)}")
    if not _is_response_url(event.get("ResponseURL")):
        problems.append("ResponseURL must be an http(s) URL with a host")
    required = ["StackId", "RequestId", "LogicalResourceId"]
    if event.get("RequestType") in ("Update", "Delete"):
        required.append("PhysicalResourceId")
    for name in required:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            problems.append(f"{name} must be a non-empty string")
        elif _json_length(value) > ECHOED_FIELDS[name]:
            problems.append(f"{name} is longer than {ECHOED_FIELDS[name]} characters")
    properties = event.get("ResourceProperties")
    if event.get("RequestType") in ("Create", "Update"):
        if not isinstance(properties, dict):
            problems.append("ResourceProperties must be an object")
        elif not isinstance(properties.get("SchemaRevision"), str) or not properties["SchemaRevision"]:
            problems.append("ResourceProperties.SchemaRevision must be a non-empty string")
    return problems


def _is_response_url(url: Any) -> bool:
    if not isinstance(url, str) or len(url) > 8_192:
        return False
    parsed = urllib.parse.urlsplit(url)
    return parsed.scheme in ("https", "http") and bool(parsed.hostname)


def _host_and_port(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return str(parsed.hostname), parsed.port or (443 if parsed.scheme == "https" else 80)


def response_host_reachable(host: str, port: int) -> bool:
    """Whether a TCP connection to the response URL's host opens within a few seconds."""
    try:
        socket.create_connection((host, port), timeout=RESPONSE_HOST_CHECK_SECONDS).close()
    except OSError:
        return False
    return True


def _json_length(value: str) -> int:
    return len(json.dumps(value)) - 2  # as it is written in the answer (escapes included), no quotes


def _bounded(value: Any, limit: int) -> Any:
    """A string cut to at most `limit` characters as written in JSON; anything else as it is."""
    if not isinstance(value, str):
        return value
    value = value[:limit]
    while _json_length(value) > limit:
        value = value[:-1]
    return value


def _answer(
    event: dict[str, Any], status: str, reason: str, data: dict[str, Any], context: LambdaContext
) -> dict[str, Any]:
    physical = event.get("PhysicalResourceId") if event.get("RequestType") != "Create" else None
    answer: dict[str, Any] = {
        "Status": status,
        "Reason": "",
        "PhysicalResourceId": _bounded(physical, ECHOED_FIELDS["PhysicalResourceId"]) or PHYSICAL_RESOURCE_ID,
        "NoEcho": False,
        "Data": data,
    }
    for name in ("StackId", "RequestId", "LogicalResourceId"):
        value = event.get(name)
        answer[name] = _bounded(value, ECHOED_FIELDS[name]) if isinstance(value, str) else None
    if not isinstance(answer["PhysicalResourceId"], str):
        answer["PhysicalResourceId"] = PHYSICAL_RESOURCE_ID
    # the Reason gets what is left of CloudFormation's 4 KB (at most MAX_REASON_CHARS)
    room = MAX_ANSWER_BYTES - 1 - len(json.dumps(answer).encode())
    full = f"{reason} (log stream {getattr(context, 'log_stream_name', '-')})"
    answer["Reason"] = _bounded(full, min(MAX_REASON_CHARS, room))
    return answer


def send_response(url: str, answer: dict[str, Any]) -> None:
    """PUT the answer to the pre-signed S3 URL (Content-Type empty: it is part of the signature)."""
    body = json.dumps(answer).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is CloudFormation's pre-signed https URL
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    last: Exception | None = None
    for _ in range(2):
        try:
            with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS) as response:  # noqa: S310
                response.read()
                return
        except Exception as exc:
            last = exc
            logger.warning("could not deliver the answer to CloudFormation", extra={"error": str(exc)})
    raise RuntimeError("the answer to CloudFormation could not be delivered") from last


def _handle(event: dict[str, Any], context: LambdaContext) -> tuple[str, str, dict[str, Any]]:
    """Act on a request event_problems() found nothing wrong with."""
    if event["RequestType"] == "Delete":
        return "SUCCESS", "schema and data kept: deleting the stack never drops data", {}
    target: str = event["ResourceProperties"]["SchemaRevision"]

    budget_ms = context.get_remaining_time_in_millis() - ANSWER_RESERVE_MS
    if budget_ms <= 1_000:
        return "FAILED", "too little time left to migrate; raise the function's timeout", {}
    outcome: dict[str, Any] = {}
    backend: dict[str, int] = {}

    def work() -> None:
        try:
            outcome["result"] = migrate_to(target, budget_ms, backend)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="migration", daemon=True)
    worker.start()
    worker.join(budget_ms / 1000)
    if worker.is_alive():
        # Each statement is bounded by the statement timeout, but not the sum of them: end the
        # migration's session, so its transaction rolls back now rather than commit after FAILED.
        _terminate(backend.get("pid"))
        return "FAILED", f"migration did not finish within {budget_ms} ms; it is safe to run again", {}
    if "error" in outcome:
        exc = outcome["error"]
        logger.error("schema migration failed", extra={"error_type": type(exc).__name__, "error": str(exc)})
        return "FAILED", f"migration to {target} failed: {type(exc).__name__}: {exc}", {}
    status, reason, revision = outcome["result"]
    return status, reason, {"Revision": revision or ""}


def _terminate(pid: int | None) -> None:
    if pid is None:
        return
    from sqlalchemy import text

    from progress_common.db import make_engine
    from progress_common.settings import get_settings

    engine = make_engine(get_settings(), socket_timeout=2)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        logger.warning("ended the migration's database session", extra={"pid": pid})
    except Exception as exc:
        logger.error("could not end the migration's database session", extra={"pid": pid, "error": str(exc)})
    finally:
        engine.dispose()


def migrate_to(target: str, budget_ms: int, backend: dict[str, int]) -> tuple[str, str, str | None]:
    """Upgrade to `target` unless the database is already at or beyond it. Bounded by budget_ms."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from progress_common.db import make_engine
    from progress_common.settings import get_settings
    from progress_schema.database import alembic_config, check_reachable, migrate

    settings = get_settings()
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    if target not in known:
        return "FAILED", f"this code has no migration {target} (it knows {sorted(known)})", None

    check_reachable(settings)
    engine = make_engine(settings, socket_timeout=budget_ms / 1000)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    if current is not None and (
        current not in known or target in {rev.revision for rev in script.iterate_revisions(current, "base")}
    ):
        logger.info("schema already at or beyond the target", extra={"current": current, "target": target})
        return "SUCCESS", f"database at {current}, which includes {target}: nothing to do", current

    revision = migrate(
        settings,
        target,
        socket_timeout=budget_ms / 1000,
        statement_timeout_ms=budget_ms,
        lock_timeout_ms=min(LOCK_TIMEOUT_MS, budget_ms),
        on_begin=lambda conn: backend.update(
            pid=conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        ),
    )
    logger.info("schema migrated", extra={"from": current, "to": revision})
    return "SUCCESS", f"migrated from {current or 'an empty database'} to {revision}", revision
