"""The learner's own data, out: POST /progress/export, GET /progress/export/{id} and the export worker.

POST records an export (one in progress per learner) and hands its id to the worker through the export
queue. The worker reads everything of the learner in keyset pages inside one REPEATABLE READ snapshot
(PostgreSQL builds each page's JSON Lines, progress_export_page_v4) and streams it, gzip-compressed, into the
export store as it goes: a manifest line first (format version, counts per kind, generated_at), then every
kind (docs/export.md). Memory stays flat whatever the history: one page and one upload part at a time. GET
answers the export's status and, when ready, a download link valid DOWNLOAD_URL_SECONDS. Answer text
travels only in the export file: nothing here logs it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from progress_common.aws_clients import bounded_client
from progress_common.db import get_engine, is_transient, run_idempotent, unavailable_as_typed_error
from progress_common.errors import (
    DatabaseUnavailableError,
    ExportInProgressError,
    ExportNotFoundError,
    ExportUnavailableError,
)
from progress_common.export_store import ExportStore, download_name, object_key, required_export_store
from progress_common.models import ExportResponse
from progress_common.observability import logger, metrics
from progress_common.settings import get_export_settings
from progress_common.sqltext import render_sql

DOWNLOAD_URL_SECONDS = 15 * 60
# Objects expire this many days after they are written (the bucket's lifecycle rule in template.yaml says
# the same; a test compares): an older ready export reads "expired".
EXPORT_RETENTION_DAYS = 7
# A learner's export records older than this are removed when they ask for a new one.
EXPORT_RECORD_DAYS = 30
# An export in progress for longer than this has lost its worker (crashed or timed out, its retry included:
# ExportWorkerFunction's Timeout plus the queue's VisibilityTimeout, checked by tests/test_template.py): it
# reads "failed" ("timed_out") and no longer blocks a new one.
EXPORT_STALE_SECONDS = 3600
# gzip level: 6 compresses JSON Lines about 8x at well over the rate PostgreSQL builds them.
GZIP_LEVEL = 6

# Values written into the text (sqltext): one simple Query, one round trip each.
REQUEST_SQL = (
    "SELECT export_id, created, status, created_at FROM progress_export_request_v1("
    "CAST({user_id} AS bigint), CAST({stale} AS integer), CAST({keep} AS integer))"
)
STATUS_SQL = (
    "SELECT progress_export_status_v1(CAST({user_id} AS bigint), {export_id},"
    " CAST({stale} AS integer), CAST({retention} AS integer))"
)
PAGE_SQL = (
    "SELECT next_kind, next_at, next_id, line_count, lines FROM progress_export_page_v4("
    "CAST({user_id} AS bigint), CAST({kind} AS integer), CAST({after_at} AS timestamptz),"
    " CAST({after_id} AS bigint), CAST({limit} AS integer))"
)
# The worker's bookkeeping: bound parameters (text and JSON), off any hot path.
CLAIM_SQL = text(
    "SELECT user_id FROM progress_export_claim_v1(CAST(:export_id AS uuid), CAST(:run_id AS uuid),"
    " CAST(:stale AS integer))"
)
FINISH_SQL = text(
    "SELECT progress_export_finish_v1(CAST(:export_id AS uuid), CAST(:run_id AS uuid), CAST(:key AS text),"
    " CAST(:size AS bigint), CAST(:format_version AS integer), CAST(:counts AS jsonb))"
)
FAIL_SQL = text(
    "SELECT progress_export_fail_v1(CAST(:export_id AS uuid), CAST(:run_id AS uuid), CAST(:failure AS text))"
)
# One snapshot for the manifest and every page: archival moving rows between two pages cannot make a row
# appear twice or not at all, and the counts are those of the rows written.
SNAPSHOT_SQL = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"


# --- POST /progress/export -------------------------------------------------------------------------------

_queue_client: Any = None
_queue_lock = threading.Lock()


def _queue() -> Any:
    global _queue_client
    with _queue_lock:
        if _queue_client is None:
            _queue_client = bounded_client("sqs")
        return _queue_client


def reset_queue_client() -> None:
    """Forget the queue client (tests, serve: the endpoint changed)."""
    global _queue_client
    with _queue_lock:
        _queue_client = None


def send_to_worker(export_id: uuid.UUID) -> None:
    """Hand the export to the worker: one message on the export queue."""
    queue_url = get_export_settings().export_queue_url
    if queue_url is None:
        from progress_common.errors import ConfigurationError

        raise ConfigurationError("EXPORT_QUEUE_URL is not set")
    _queue().send_message(QueueUrl=queue_url, MessageBody=json.dumps({"export_id": str(export_id)}))


def request_export(user_id: int, *, engine: Engine | None = None) -> ExportResponse:
    """Record a new export of everything of user_id and hand it to the worker.

    ExportInProgressError when the learner has one in progress; ExportUnavailableError (the export is
    recorded as failed, "not_queued") when the queue cannot be reached.
    """
    engine = engine or get_engine()
    with unavailable_as_typed_error():
        ((export_id, created, status, created_at),) = run_idempotent(
            render_sql(REQUEST_SQL, user_id=user_id, stale=EXPORT_STALE_SECONDS, keep=EXPORT_RECORD_DAYS),
            engine=engine,
        )
    if not created:
        raise ExportInProgressError("an export of your data is already in progress", export_id)
    try:
        send_to_worker(export_id)
    except Exception as exc:
        logger.warning(
            "could not queue an export", extra={"export_id": str(export_id), "error_type": type(exc).__name__}
        )
        _mark_failed(engine, export_id, None, "not_queued")
        raise ExportUnavailableError("the export could not be started; retry later") from None
    logger.info("export requested", extra={"export_id": str(export_id)})
    return ExportResponse(export_id=export_id, status=status, created_at=created_at)


# --- GET /progress/export/{id} ---------------------------------------------------------------------------


def export_status(
    user_id: int, export_id: uuid.UUID, *, engine: Engine | None = None, store: ExportStore | None = None
) -> ExportResponse:
    """The learner's export; with a download link when it is ready. ExportNotFoundError when it is not one
    of theirs (another learner's is not told apart from none)."""
    sql = render_sql(
        STATUS_SQL,
        user_id=user_id,
        export_id=export_id,
        stale=EXPORT_STALE_SECONDS,
        retention=EXPORT_RETENTION_DAYS,
    )
    with unavailable_as_typed_error():
        ((document,),) = run_idempotent(sql, engine=engine or get_engine())
    if document is None:
        raise ExportNotFoundError("no such export")
    found: dict[str, Any] = json.loads(document)
    key = found.pop("object_key")
    if found["status"] == "ready":
        store = store or required_export_store()
        found["download_url"] = store.download_url(key, download_name(export_id), DOWNLOAD_URL_SECONDS)
        found["download_expires_at"] = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=DOWNLOAD_URL_SECONDS)
    return ExportResponse.model_validate(found)


# --- the worker ------------------------------------------------------------------------------------------


@dataclass
class ExportRun:
    """What one run of the worker did, for its log line and metrics (never any data of the export)."""

    export_id: uuid.UUID
    outcome: str = "skipped"  # skipped | ready | abandoned | failed
    user_id: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    size_bytes: int = 0
    pages: int = 0
    seconds: float = 0.0
    failure: str | None = None

    def as_log(self) -> dict[str, Any]:
        rows = sum(self.counts.values())
        return {
            "export_id": str(self.export_id),
            "outcome": self.outcome,
            "export_user_id": self.user_id,
            "rows": rows,
            "counts": self.counts,
            "size_bytes": self.size_bytes,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(rows / self.seconds) if self.seconds else None,
            "failure": self.failure,
        }


class ExportInconsistentError(RuntimeError):
    """The lines written differ from the manifest's counts (cannot happen inside one snapshot)."""


def _mark_failed(engine: Engine, export_id: uuid.UUID, run_id: uuid.UUID | None, failure: str) -> bool:
    with unavailable_as_typed_error():
        ((changed,),) = run_idempotent(
            FAIL_SQL,
            {"export_id": str(export_id), "run_id": str(run_id) if run_id else None, "failure": failure},
            engine=engine,
        )
    return bool(changed)


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, DatabaseUnavailableError) or (
        isinstance(exc, sa_exc.SQLAlchemyError | OSError) and is_transient(exc)
    ):
        return "database_unavailable"
    if isinstance(exc, ExportUnavailableError) or type(exc).__module__.startswith(("botocore", "boto3")):
        return "storage_unavailable"
    return "internal_error"


def _end_snapshot(conn: Any) -> None:
    """Roll the snapshot back after a failure, so the pooled connection returns idle; a connection that is
    gone already is left to the pool."""
    if conn.invalidated:
        return
    with contextlib.suppress(sa_exc.SQLAlchemyError, OSError):
        conn.exec_driver_sql("ROLLBACK")


def write_export(engine: Engine, user_id: int, writer: Any, page_rows: int) -> tuple[dict[str, Any], int]:
    """Stream everything of user_id into writer (gzip JSON Lines); return the manifest and the pages read."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: a gzip member
    manifest: dict[str, Any] = {}
    written = pages = 0
    with engine.connect() as conn:
        conn.exec_driver_sql(SNAPSHOT_SQL)
        try:
            kind: int | None = 0
            after_at: dt.datetime | None = None
            after_id: int | None = None
            while kind is not None:
                sql = render_sql(
                    PAGE_SQL,
                    user_id=user_id,
                    kind=kind,
                    after_at=after_at,
                    after_id=after_id,
                    limit=page_rows,
                )
                next_kind, after_at, after_id, line_count, lines = conn.exec_driver_sql(sql).one()
                pages += 1
                if kind == 0:
                    manifest = json.loads(lines)
                else:
                    written += line_count
                if line_count:
                    writer.write(compressor.compress(lines.encode() + b"\n"))
                kind = next_kind
            conn.exec_driver_sql("COMMIT")
        except BaseException:
            _end_snapshot(conn)
            raise
    writer.write(compressor.flush())
    if written != sum(manifest["counts"].values()):
        raise ExportInconsistentError(f"{written} lines written, the manifest counts {manifest['counts']}")
    return manifest, pages


def _delete_quietly(store: ExportStore, key: str) -> None:
    try:
        store.delete_object(key)
    except Exception as exc:  # erasure and reset delete the learner's prefix; the lifecycle rule expires it
        logger.warning("could not delete an unrecorded export file", extra={"error_type": type(exc).__name__})


def run_export(
    export_id: uuid.UUID,
    *,
    engine: Engine | None = None,
    store: ExportStore | None = None,
    page_rows: int | None = None,
) -> ExportRun:
    """Make one export. Returns normally when the export is done, failed (recorded as such, with a reason
    code) or not there to do (already done, stale, erased); raises only when even recording the failure
    failed (the database is down), so that the queue delivers the message again."""
    engine = engine or get_engine()
    store = store or required_export_store()
    page_rows = page_rows or get_export_settings().export_page_rows
    run = ExportRun(export_id)
    run_id = uuid.uuid4()
    started = time.monotonic()
    with unavailable_as_typed_error():
        ((user_id,),) = run_idempotent(
            CLAIM_SQL,
            {"export_id": str(export_id), "run_id": str(run_id), "stale": EXPORT_STALE_SECONDS},
            engine=engine,
        )
    if user_id is None:
        logger.info("export not there to make (done, stale or erased)", extra=run.as_log())
        return run
    run.user_id = int(user_id)
    key = object_key(run.user_id, export_id, run_id)
    writer = None
    written = False
    try:
        writer = store.writer(key, download_name(export_id))
        manifest, run.pages = write_export(engine, run.user_id, writer, page_rows)
        run.size_bytes = writer.close()
        writer, written = None, True
        run.counts = manifest["counts"]
        with unavailable_as_typed_error():
            ((finished,),) = run_idempotent(
                FINISH_SQL,
                {
                    "export_id": str(export_id),
                    "run_id": str(run_id),
                    "key": key,
                    "size": run.size_bytes,
                    "format_version": manifest["format_version"],
                    "counts": json.dumps(run.counts),
                },
                engine=engine,
            )
    except Exception as exc:
        if writer is not None:
            writer.abort()
        if written:  # complete, but it could not be recorded: no file without its record
            _delete_quietly(store, key)
        run.outcome, run.failure = "failed", _failure_reason(exc)
        run.seconds = time.monotonic() - started
        logger.error("export failed", extra={**run.as_log(), "error_type": type(exc).__name__})
        metrics.add_metric(name="ExportsFailed", unit="Count", value=1)
        _mark_failed(engine, export_id, run_id, run.failure)  # raises when the database is down: retried
        return run
    run.seconds = time.monotonic() - started
    if not finished:
        # erased or reset while it ran (or taken over by a redelivery): its file must not stay behind
        store.delete_object(key)
        run.outcome = "abandoned"
        logger.info("export abandoned: it was erased, reset or taken over meanwhile", extra=run.as_log())
        return run
    run.outcome = "ready"
    logger.info("export ready", extra=run.as_log())
    metrics.add_metric(name="ExportsCompleted", unit="Count", value=1)
    metrics.add_metric(name="ExportRows", unit="Count", value=sum(run.counts.values()))
    return run


__all__ = [
    "DOWNLOAD_URL_SECONDS",
    "EXPORT_RETENTION_DAYS",
    "EXPORT_STALE_SECONDS",
    "ExportRun",
    "export_status",
    "request_export",
    "run_export",
    "write_export",
]
