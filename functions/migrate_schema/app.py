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
import threading
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


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.info(
        "custom resource request",
        extra={k: event.get(k) for k in ("RequestType", "LogicalResourceId", "StackId", "RequestId")},
    )
    try:
        status, reason, data = _handle(event, context)
    except Exception as exc:  # answer FAILED for anything, or CloudFormation waits for an hour
        logger.exception("schema migration failed")
        status, reason, data = "FAILED", f"{type(exc).__name__}: {exc}", {}
    answer = {
        "Status": status,
        "Reason": f"{reason} (log stream {getattr(context, 'log_stream_name', '-')})"[:MAX_REASON_CHARS],
        "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_RESOURCE_ID,
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "NoEcho": False,
        "Data": data,
    }
    send_response(event["ResponseURL"], answer)
    logger.info("answered CloudFormation", extra={"status": status, "reason": answer["Reason"]})
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
    request_type = event.get("RequestType")
    if request_type == "Delete":
        return "SUCCESS", "schema and data kept: deleting the stack never drops data", {}
    if request_type not in ("Create", "Update"):
        return "FAILED", f"unknown RequestType {request_type!r}", {}
    target = str((event.get("ResourceProperties") or {}).get("SchemaRevision") or "")
    if not target:
        return "FAILED", "ResourceProperties.SchemaRevision is missing", {}

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

    from progress_admin.database import alembic_config, check_reachable, migrate
    from progress_common.db import make_engine
    from progress_common.settings import get_settings

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
