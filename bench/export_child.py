"""One export in this fresh interpreter, as Lambda runs ExportWorkerFunction: its handler imported, a warm-up
invocation for a learner with nothing (the container is warm, as for every export but its first), then the
export of `python -m bench.export_child USER_ID`, each from an SQS event; prints what it did and what it cost.
Imports nothing the worker does not (bench/export.py runs it, with DATABASE_URL, EXPORT_BUCKET, the S3
endpoint in its environment)."""

from __future__ import annotations

import json
import resource
import sys
import uuid
from pathlib import Path
from typing import Any

# the one event builder and the runtime stand-in: standard library only, as the worker imports
from progress_admin.local.events import sqs_batch_event
from progress_admin.local.runtime import FakeContext, load_function_module

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    user_id = int(sys.argv[1])
    app = load_function_module(ROOT / "functions/export_worker/app.py")
    context = FakeContext("ExportWorkerFunction", timeout_seconds=300, memory_limit_in_mb=1024)

    from sqlalchemy import text

    from progress_common.db import get_engine

    runs: list[Any] = []
    original = app.run_export

    def recorded(export_id: uuid.UUID, **kwargs: Any) -> Any:
        runs.append(original(export_id, **kwargs))
        return runs[-1]

    setattr(app, "run_export", recorded)  # noqa: B010 - the handler's own name for it
    floor_kb = 0
    for user in (1, user_id):  # user 1 has nothing: the warm-up (boto3 client, first connection)
        with get_engine().connect() as conn:
            conn.exec_driver_sql(
                "UPDATE exports SET status = 'failed' WHERE status IN ('pending', 'running')"
            )
            export_id = conn.execute(
                text("SELECT export_id FROM progress_export_request_v1(:u, 3600, 30)"), {"u": user}
            ).scalar_one()
        floor_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        response = app.lambda_handler(sqs_batch_event([{"export_id": str(export_id)}]), context)
        assert response == {"batchItemFailures": []}, response
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run = runs[-1]
    print(
        json.dumps(
            {
                "outcome": run.outcome,
                "rows": sum(run.counts.values()),
                "counts": run.counts,
                "seconds": run.seconds,
                "pages": run.pages,
                "size_bytes": run.size_bytes,
                "floor_kb": floor_kb,
                "peak_kb": peak_kb,
            }
        )
    )
    return 0 if run.outcome == "ready" else 1


if __name__ == "__main__":
    sys.exit(main())
