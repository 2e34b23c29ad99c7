"""One warm container for the throughput benchmarks, as a process of its own.

`python -m bench.consumer --batch 10 --attempts 2000 --user-base N`: feeds RecordAttemptsFunction's real
handler SQS events of `--batch` valid messages until `--attempts` are written.
`python -m bench.consumer --reads 2000 --user-base N`: calls GET /progress and GET /progress/statistics
alternately for user N, `--reads` requests in all.
Prints {"seconds": ..., "attempts" or "requests": ...} as its last line. bench/run.py starts several at once
(separate processes, as separate Lambda containers are) to see what one database serves.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
from progress_admin.local.template import local_powertools_environment  # noqa: E402  (yaml only)

# the template's POWERTOOLS_* values, quieter; what the environment already says wins
os.environ.update({**local_powertools_environment(ROOT, POWERTOOLS_LOG_LEVEL="WARNING"), **os.environ})
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="No application metrics to publish")

USERS_PER_CONSUMER = 50


def backend_pid() -> int:
    """The server process behind this container's one connection (the functions' engine)."""
    from progress_common import db

    return int(db.run_idempotent("SELECT pg_backend_pid()")[0][0])


def server_cpu_seconds(pid: int) -> float:
    """CPU time a server process has used (the database runs on this machine; Linux /proc), else NaN."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan")


def attempt_bodies(count: int, user_base: int) -> list[str]:
    """Valid messages of USERS_PER_CONSUMER learners, a few seconds apart, as a busy queue holds them."""
    now = dt.datetime.now(dt.UTC)
    return [
        json.dumps(
            {
                "attempt_uid": str(uuid.uuid4()),
                "user_id": f"user_{user_base + n % USERS_PER_CONSUMER}",
                "exercise_id": n % 40,
                "is_correct": n % 3 != 0,
                "user_answer": "la maison",
                "created_at": (now - dt.timedelta(seconds=count - n)).isoformat(),
            }
        )
        for n in range(count)
    ]


def events(batch: int, attempts: int, user_base: int) -> list[dict[str, Any]]:
    bodies = attempt_bodies(attempts, user_base)
    from progress_admin.local.events import sqs_batch_event

    return [sqs_batch_event(bodies[i : i + batch]) for i in range(0, len(bodies), batch)]


def consume(handler: Any, batches: list[dict[str, Any]]) -> float:
    """Feed every event to the handler; seconds taken. A failed message is a broken benchmark."""
    from progress_admin.local.runtime import FakeContext

    context = FakeContext("bench-consumer", 30)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # metrics go to stdout, as in Lambda
        for event in batches:
            result = handler(event, context)
            if result["batchItemFailures"]:
                raise RuntimeError(f"the consumer failed messages: {result['batchItemFailures'][:3]}")
    return time.perf_counter() - started


def read(requests: int, user: int, start_at: float) -> tuple[float, float]:
    """Seconds for `requests` warm GETs, alternating the two read endpoints, and the server's CPU seconds."""
    from progress_admin.local.events import http_event
    from progress_admin.local.runtime import FakeContext, load_function_module

    context = FakeContext("bench-reader", 30)
    calls = [
        (
            load_function_module(ROOT / f"functions/{name}/app.py").lambda_handler,
            http_event("GET", path, claims={"sub": str(user)}),
        )
        for name, path in (("get_progress", "/progress"), ("get_statistics", "/progress/statistics"))
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        for handler, ev in calls:
            handler(ev, context)  # warm
        pid = backend_pid()
        time.sleep(max(0.0, start_at - time.time()))
        cpu_before = server_cpu_seconds(pid)
        started = time.perf_counter()
        for n in range(requests):
            handler, ev = calls[n % 2]
            if handler(ev, context)["statusCode"] != 200:
                raise RuntimeError("a read failed")
        return time.perf_counter() - started, server_cpu_seconds(pid) - cpu_before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--attempts", type=int, default=0)
    parser.add_argument("--reads", type=int, default=0)
    parser.add_argument("--user-base", type=int, required=True)
    parser.add_argument("--start-at", type=float, default=0.0, help="time.time() to start at (all together)")
    args = parser.parse_args(argv)
    from progress_admin.local.runtime import load_function_module

    if args.reads:
        seconds, server_cpu = read(args.reads, args.user_base, args.start_at)
        print(json.dumps({"seconds": seconds, "requests": args.reads, "server_cpu_seconds": server_cpu}))
        return 0
    handler = load_function_module(ROOT / "functions/record_attempts/app.py").lambda_handler
    batches = events(args.batch, args.attempts, args.user_base)
    consume(handler, events(args.batch, args.batch, args.user_base))  # warm: connect, plans
    pid = backend_pid()
    time.sleep(max(0.0, args.start_at - time.time()))
    cpu_before = server_cpu_seconds(pid)
    seconds = consume(handler, batches)
    server_cpu = server_cpu_seconds(pid) - cpu_before
    print(json.dumps({"seconds": seconds, "attempts": args.attempts, "server_cpu_seconds": server_cpu}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
