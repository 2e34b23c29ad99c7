"""Erasure, for account deletion: DELETE /progress/users/{user_id} (the app's backend) and
`progress-admin erase` (operators) remove everything of one learner.

One statement removes every row of the learner in every table, the profile and settings included
(progress_erase_user_v3), and reports what it removed; after its commit, the learner's open live pages are
closed (best effort) and their export files deleted by listing the learner's prefix in the export store, so
a file a worker was still writing goes too (the worker deletes what it finishes after its record is gone).
Idempotent: a second erasure removes nothing and answers zeros. When the files cannot be deleted, the rows
are gone already and the call fails (503): a retry deletes the files.
"""

from __future__ import annotations

from sqlalchemy import Engine

from progress_common.db import get_engine, run_idempotent, unavailable_as_typed_error
from progress_common.errors import ExportUnavailableError
from progress_common.export_store import ExportStore, export_store
from progress_common.models import ErasedCounts, ErasureResponse
from progress_common.observability import logger, metrics
from progress_common.sqltext import render_sql

# Value written into the text (sqltext): one simple Query.
ERASE_SQL = "SELECT deleted, connection_ids FROM progress_erase_user_v3(CAST({user_id} AS bigint))"


def delete_export_files(user_id: int, store: ExportStore | None) -> int:
    """Delete every export file of the learner; the number deleted. ExportUnavailableError when the store
    cannot be reached (the files stay until a retry, or the bucket's lifecycle rule, removes them)."""
    if store is None:
        return 0
    try:
        return store.delete_user_objects(user_id)
    except ExportUnavailableError:
        raise
    except Exception as exc:
        logger.warning("could not delete export files", extra={"error_type": type(exc).__name__})
        raise ExportUnavailableError("the learner's export files could not be deleted; retry") from None


def erase_user(
    user_id: int, *, engine: Engine | None = None, store: ExportStore | None = None
) -> ErasureResponse:
    """Remove everything of user_id; answer what was removed (zeros when nothing was left)."""
    # run_idempotent: a pooled connection that died while idle never delivered it; erasing twice is erasing
    with unavailable_as_typed_error():
        ((deleted, connection_ids),) = run_idempotent(
            render_sql(ERASE_SQL, user_id=user_id), engine=engine or get_engine()
        )
    if (
        connection_ids
    ):  # best effort; without LIVE_MANAGEMENT_ENDPOINT (progress-admin erase) nothing to close
        from progress_common.live_management import close_connections

        close_connections(list(connection_ids))
    files = delete_export_files(user_id, store if store is not None else export_store())
    counts = ErasedCounts(**deleted, export_files=files)
    logger.info("learner erased", extra={"erased_user_id": user_id, "deleted": counts.model_dump()})
    metrics.add_metric(name="LearnersErased", unit="Count", value=1)
    return ErasureResponse(user_id=user_id, erased=True, deleted=counts)
