"""One export in this fresh interpreter, as Lambda runs ExportWorkerFunction: its handler imported, a warm-up
invocation for a learner with nothing (the container is warm, as for every export but its first), then the
export of `python -m bench.export_child USER_ID`, each from an SQS event; prints what it did and what it cost.
Imports nothing the worker does not (bench/export.py runs it, with DATABASE_URL, EXPORT_BUCKET, the S3
endpoint in its environment)."""

from __future__ import annotations

import importlib.util
import json
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class Context:
    """The Lambda context the handler's decorators read."""

    function_name = "ExportWorkerFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:ExportWorkerFunction"
    aws_request_id = str(uuid.uuid4())
    _deadline = time.monotonic() + 300

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def sqs_event(body: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:local:0:exports",
            }
        ]
    }


def main() -> int:
    user_id = int(sys.argv[1])
    spec = importlib.util.spec_from_file_location(
        "export_worker_app", ROOT / "functions/export_worker/app.py"
    )
    assert spec and spec.loader
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)

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
        response = app.lambda_handler(sqs_event(json.dumps({"export_id": str(export_id)})), Context())
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
