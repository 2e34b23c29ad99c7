"""Benchmarks of the DESIGN.md targets: `./dev bench` (or `python -m bench.run`).

Everything is measured in one run on one machine and reported as ratios, because these machines are
shared and noisy: the real handlers (warm) against the old design and against a bare SELECT 1 through
the same engine, growth from 1 000 to 100 000 attempts, cold start against the bare imports of the
dependencies, and write throughput with 1, 4 and 16 writers. Not part of the test run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "progress")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ProgressService")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="No application metrics to publish")

from sqlalchemy import Engine, text  # noqa: E402

from bench.baseline import old_progress, old_statistics  # noqa: E402
from progress_admin.database import migrate  # noqa: E402
from progress_admin.scratch import scratch_database  # noqa: E402
from progress_admin.serve import FakeContext, load_function_module  # noqa: E402
from progress_common import db as common_db  # noqa: E402
from progress_common.models import AttemptMessage  # noqa: E402
from progress_common.settings import get_settings, load_settings  # noqa: E402
from progress_common.writes import save_user_attempt_to_db  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
SEED_SQL = text(
    """
INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at, session_id)
SELECT :u, mod(i * 7919, 200), mod(i * 7, 10) < 7, 'answer ' || i,
       now() - make_interval(secs => (i::double precision / :n) * :span_days * 86400),
       CAST(:session_base AS bigint) + i / 20
  FROM generate_series(1, :n) AS i
"""
)


def event(method: str, path: str, user: int, query: dict[str, str] | None = None) -> dict[str, Any]:
    from urllib.parse import urlencode

    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "queryStringParameters": query or None,
        "headers": {"accept": "application/json"},
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "authorizer": {"jwt": {"claims": {"sub": str(user)}, "scopes": None}},
        },
        "isBase64Encoded": False,
    }


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Metrics are printed to stdout per invocation (as in Lambda, where stdout is a pipe)."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        yield


def timings(fn: Callable[[], Any], runs: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def seed(engine: Engine, sizes: tuple[int, ...]) -> dict[int, int]:
    users = {}
    with engine.connect() as conn:
        for n in sizes:
            user = 1_000_000 + n
            span_days = min(max(n / 100, 7), 1000)  # 1k: 10 days, 10k: 100 days, 100k: 1000 days
            started = time.perf_counter()
            conn.execute(SEED_SQL, {"u": user, "n": n, "span_days": span_days, "session_base": user * 10_000})
            print(
                f"  seeded {n:>7} attempts for user {user} in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            users[n] = user
        conn.execute(text("ANALYZE"))
    return users


def interleaved(
    fn: Callable[[], Any], floor: Callable[[], Any], runs: int, warmup: int = 5
) -> tuple[list[float], list[float]]:
    """Time fn and floor alternately, so both see the same machine load (these machines are noisy)."""
    for _ in range(warmup):
        fn()
        floor()
    samples: list[float] = []
    floors: list[float] = []
    for _ in range(runs):
        for target, out in ((fn, samples), (floor, floors)):
            started = time.perf_counter_ns()
            target()
            out.append((time.perf_counter_ns() - started) / 1e6)
    return samples, floors


def bench_reads(engine: Engine, users: dict[int, int], runs: int) -> list[dict[str, Any]]:
    progress = load_function_module(ROOT / "functions/get_progress/app.py").lambda_handler
    stats = load_function_module(ROOT / "functions/get_statistics/app.py").lambda_handler
    context = FakeContext("bench", 10)

    def select_one() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()

    rows = []
    for n, user in users.items():
        baseline_runs = max(3, min(runs, 2_000_000 // n // 10))
        for name, handler, ev, old in (
            (
                "GET /progress",
                progress,
                event("GET", "/progress", user),
                lambda u=user: old_progress(engine, u),
            ),
            (
                "GET /progress/statistics",
                stats,
                event("GET", "/progress/statistics", user),
                lambda u=user: old_statistics(engine, u),
            ),
        ):
            with quiet():
                response = handler(ev, context)
                assert response["statusCode"] == 200, response
                assert json.loads(response["body"])["total_attempts"] == n
                real, floors = interleaved(functools.partial(handler, ev, context), select_one, runs)
                baseline = timings(old, baseline_runs, warmup=1)
            rows.append(
                {
                    "endpoint": name,
                    "attempts": n,
                    "p50_ms": p50(real),
                    "p95_ms": p95(real),
                    "old_p50_ms": p50(baseline),
                    "speedup": p50(baseline) / p50(real),
                    "floor_ms": p50(floors),
                    "vs_select1": p50(real) / p50(floors),
                }
            )
    return rows


COLD_HANDLER = """
import json, sys, time
started = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("handler_app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
response = module.lambda_handler({event}, type("C", (), {{"function_name": "cold", "function_version": "1",
    "memory_limit_in_mb": 512, "invoked_function_arn": "arn:aws:lambda:local:0:function:cold",
    "aws_request_id": "cold", "get_remaining_time_in_millis": lambda self: 10000}})())
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "status": response["statusCode"], "boto3": "boto3" in sys.modules,
                  "botocore": "botocore" in sys.modules}}), file=sys.stderr)
"""
COLD_DEPENDENCIES = """
import json, sys, time
started = time.perf_counter()
import aws_lambda_powertools.event_handler, aws_lambda_powertools.logging, aws_lambda_powertools.metrics
import aws_lambda_powertools.tracing, aws_lambda_powertools.event_handler.openapi.params
import pydantic, sqlalchemy, sqlalchemy.dialects.postgresql.pg8000, pg8000
{extra}
print(json.dumps({{"seconds": time.perf_counter() - started}}), file=sys.stderr)
"""


def _python(code: str, env: dict[str, str], importtime: bool = False) -> tuple[dict[str, Any], str]:
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=True)
    result = [line for line in proc.stderr.splitlines() if line.startswith('{"seconds"')]
    return json.loads(result[-1]), proc.stderr


def bench_cold_start(database_url: str, user: int, runs: int, *, tracing: bool = False) -> dict[str, Any]:
    """Fresh interpreters: import GET /progress's handler and serve one request, against importing only
    its dependencies. With tracing on, the X-Ray SDK is a dependency of both sides."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONDONTWRITEBYTECODE": "0"}
    if tracing:
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
    else:
        env["POWERTOOLS_TRACE_DISABLED"] = "1"
    dependencies = COLD_DEPENDENCIES.format(extra="import aws_xray_sdk.core" if tracing else "")
    path = str(ROOT / "functions/get_progress/app.py")
    handler_code = COLD_HANDLER.format(path=path, event=repr(event("GET", "/progress", user)))
    _python(handler_code, env)  # compile caches, as a deployed package has them
    handler_runs = []
    deps_runs = []
    for _ in range(runs):  # alternate, so both see the same machine load
        handler_runs.append(_python(handler_code, env)[0])
        deps_runs.append(_python(dependencies, env)[0]["seconds"])
    assert all(r["status"] == 200 for r in handler_runs)
    handler_s = statistics.median(r["seconds"] for r in handler_runs)
    deps_s = statistics.median(deps_runs)
    _, trace = _python(handler_code, env, importtime=True)
    costs = []
    for line in trace.splitlines():
        if line.startswith("import time:") and "|" in line:
            parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
            if parts[0].isdigit():
                costs.append((int(parts[1]), parts[2].strip()))
    top = [name for _, name in sorted(costs, reverse=True) if name.count(".") == 0][:8]
    return {
        "tracing": tracing,
        "handler_ms": handler_s * 1000,
        "deps_ms": deps_s * 1000,
        "ratio": handler_s / deps_s,
        "boto3_imported": any(r["boto3"] for r in handler_runs),
        "top_cumulative": [(name, us / 1000) for us, name in sorted(costs, reverse=True) if name in top][:8],
    }


def bench_writes(per_writer: int) -> list[dict[str, Any]]:
    settings = get_settings()
    now = dt.datetime.now(dt.UTC)
    rows = []
    for writers in (1, 4, 16):
        engines = [common_db.make_engine(settings) for _ in range(writers)]
        barrier = threading.Barrier(writers + 1)
        errors: list[BaseException] = []

        def write(
            index: int,
            engine: Engine,
            count: int = writers,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            user = 5_000_000 + count * 100 + index
            messages = [
                AttemptMessage(
                    attempt_uid=uuid.uuid4(),
                    user_id=user,
                    exercise_id=n % 30,
                    is_correct=n % 3 != 0,
                    user_answer="x",
                    created_at=now - dt.timedelta(minutes=n),
                )
                for n in range(per_writer)
            ]
            barrier.wait()
            try:
                for message in messages:
                    save_user_attempt_to_db(message, engine=engine)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(i, e)) for i, e in enumerate(engines)]
        for t in threads:
            t.start()
        barrier.wait()
        started = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        for e in engines:
            e.dispose()
        if errors:
            raise errors[0]
        rows.append(
            {
                "writers": writers,
                "attempts": writers * per_writer,
                "per_second": writers * per_writer / elapsed,
            }
        )
    return rows


def render(
    reads: list[dict[str, Any]], cold: list[dict[str, Any]], writes: list[dict[str, Any]], database_kind: str
) -> str:
    out = []
    out.append(
        f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, "
        f"{platform.machine()}, Python {platform.python_version()}; database: {database_kind}"
    )
    out.append("")
    out.append(
        "| endpoint | attempts | p50 ms | p95 ms | old design p50 ms | faster than old | SELECT 1 p50 ms "
        "| x SELECT 1 |"
    )
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in reads:
        out.append(
            f"| {r['endpoint']} | {r['attempts']:,} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
            f"{r['old_p50_ms']:.1f} | {r['speedup']:.0f}x | {r['floor_ms']:.3f} | {r['vs_select1']:.1f}x |"
        )
    out.append("")
    out.append("| endpoint | growth p50(100 000) / p50(1 000) |")
    out.append("|---|---:|")
    for endpoint in ("GET /progress", "GET /progress/statistics"):
        by_size = {r["attempts"]: r["p50_ms"] for r in reads if r["endpoint"] == endpoint}
        if 1_000 in by_size and 100_000 in by_size:
            out.append(f"| {endpoint} | {by_size[100_000] / by_size[1_000]:.2f} |")
    out.append("")
    for c in cold:
        out.append(
            f"cold start, tracing {'on ' if c['tracing'] else 'off'} (GET /progress, fresh interpreter, import + "
            f"first request): {c['handler_ms']:.0f} ms; bare dependency imports: {c['deps_ms']:.0f} ms; "
            f"ratio {c['ratio']:.2f}; boto3 imported: {c['boto3_imported']}"
        )
    out.append(
        "top cumulative import costs (ms): "
        + ", ".join(f"{name} {ms:.0f}" for name, ms in cold[0]["top_cumulative"])
    )
    out.append("")
    out.append("| concurrent writers | attempts | writes/s |")
    out.append("|---:|---:|---:|")
    for w in writes:
        out.append(f"| {w['writers']} | {w['attempts']:,} | {w['per_second']:.0f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="timed calls per endpoint and size")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--writes-per-writer", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="small sizes and few runs (smoke test)")
    args = parser.parse_args(argv)
    sizes = (200, 2_000) if args.quick else SIZES
    runs = 20 if args.quick else args.runs
    with scratch_database("progress_bench") as database:
        os.environ["DATABASE_URL"] = database.url
        get_settings.cache_clear()
        migrate(load_settings())
        engine = common_db.make_engine(get_settings())
        common_db.set_engine(engine)
        try:
            print(f"database: {database.kind}; seeding ...", flush=True)
            users = seed(engine, sizes)
            print("measuring warm reads ...", flush=True)
            reads = bench_reads(engine, users, runs)
            print("measuring cold start ...", flush=True)
            cold_runs = 2 if args.quick else args.cold_runs
            cold = [
                bench_cold_start(database.url, users[sizes[0]], cold_runs, tracing=False),
                bench_cold_start(database.url, users[sizes[0]], cold_runs, tracing=True),
            ]
            print("measuring writes ...", flush=True)
            writes = bench_writes(30 if args.quick else args.writes_per_writer)
        finally:
            common_db.set_engine(None)
    print()
    print(render(reads, cold, writes, database.kind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
