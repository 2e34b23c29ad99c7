"""Benchmarks of the docs/design.md targets: `./dev bench` (or `python -m bench.run`).

Everything is measured in one run on one machine and reported as ratios, because these machines are
shared and noisy: the real handlers (warm) against the old design and against a bare SELECT 1 through
the same engine, growth from 1 000 to 100 000 attempts, cold start against the bare imports of the
dependencies; through the counting loopback proxy of bench/wire.py, the round trips of each request and
its p50 with and without 1 ms added to every database reply; and write throughput of the SQS consumer
with batches of 1, 10 and 100. Not part of the test run.
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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
from progress_admin.local.template import local_powertools_environment  # noqa: E402  (yaml only)

# the template's POWERTOOLS_* values, quieter; what the environment already says wins
os.environ.update({**local_powertools_environment(ROOT, POWERTOOLS_LOG_LEVEL="WARNING"), **os.environ})
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="No application metrics to publish")

from sqlalchemy import URL, Engine, text  # noqa: E402
from sqlalchemy import event as sa_event  # noqa: E402

from bench import consumer  # noqa: E402
from bench.baseline import old_progress, old_statistics  # noqa: E402
from bench.wire import RoundTripProxy  # noqa: E402
from progress_admin.local.events import http_event  # noqa: E402
from progress_admin.local.runtime import FakeContext, load_function_module  # noqa: E402
from progress_admin.scratch import scratch_database  # noqa: E402
from progress_common import db as common_db  # noqa: E402
from progress_common.settings import get_settings, load_settings  # noqa: E402
from progress_schema.database import migrate  # noqa: E402

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
    """The gateway's event for `user`'s request (the one builder, progress_admin/local/events.py)."""
    return http_event(method, path, query=query, claims={"sub": str(user)})


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


REPLY_DELAY_S = 0.001  # about one round trip through RDS Proxy
BATCH_SIZES = (1, 10, 100)


def proxied_engine(proxy: RoundTripProxy, url: URL) -> Engine:
    """The functions' engine as in Lambda (one connection), connected through the proxy."""
    settings = load_settings({"DATABASE_URL": proxy.url(url).render_as_string(hide_password=False)})
    return common_db.make_engine(settings, pool_size=1, check_schema=True)


def bench_wire(url: URL, users: dict[int, int], runs: int) -> list[dict[str, Any]]:
    """Per request on a warm container: round trips and statements (counted), p50 without and with
    REPLY_DELAY_S added to every reply (timed alternately, so both see the same machine load)."""
    context = FakeContext("bench", 10)
    progress = load_function_module(ROOT / "functions/get_progress/app.py").lambda_handler
    stats = load_function_module(ROOT / "functions/get_statistics/app.py").lambda_handler
    reset = load_function_module(ROOT / "functions/reset_progress/app.py").lambda_handler
    record = load_function_module(ROOT / "functions/record_attempts/app.py").lambda_handler
    user = users[min(users)]
    reset_user = 4_000_000
    sqs_batches = iter(consumer.events(10, 10 * (2 * runs + 20), user_base=4_100_000))

    def http(handler: Callable[..., Any], ev: dict[str, Any]) -> Callable[[], None]:
        def call() -> None:
            response = handler(ev, context)
            assert response["statusCode"] == 200, response

        return call

    def sqs() -> None:
        assert not record(next(sqs_batches), context)["batchItemFailures"]

    # (name, call, timed runs): a batch writes, so fewer of those
    requests: list[tuple[str, Callable[[], None], int]] = [
        ("GET /progress", http(progress, event("GET", "/progress", user)), runs),
        ("GET /progress/statistics", http(stats, event("GET", "/progress/statistics", user)), runs),
        ("POST /progress/reset", http(reset, event("POST", "/progress/reset", reset_user)), runs),
        ("SQS batch of 10 (consumer)", sqs, max(10, runs // 4)),
    ]
    rows = []
    with RoundTripProxy.for_url(url) as proxy:
        engine = proxied_engine(proxy, url)
        statements: list[str] = []
        sa_event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        common_db.set_engine(engine)
        try:
            with quiet():
                for name, call, timed_runs in requests:
                    call()  # warm: the container's connection exists, plans are cached
                    statements.clear()
                    with proxy.measure() as trips:
                        call()
                    counted = (trips.round_trips, trips.connections, len(statements))
                    plain: list[float] = []
                    delayed: list[float] = []
                    pid = consumer.backend_pid()
                    cpu_before = consumer.server_cpu_seconds(pid)
                    for _ in range(timed_runs):
                        for delay, out in ((0.0, plain), (REPLY_DELAY_S, delayed)):
                            proxy.reply_delay_s = delay
                            started = time.perf_counter_ns()
                            call()
                            out.append((time.perf_counter_ns() - started) / 1e6)
                    proxy.reply_delay_s = 0.0
                    server_us = (consumer.server_cpu_seconds(pid) - cpu_before) / (2 * timed_runs) * 1e6
                    rows.append(
                        {
                            "request": name,
                            "round_trips": counted[0],
                            "new_connections": counted[1],
                            "statements": counted[2],
                            "p50_ms": p50(plain),
                            "p50_delayed_ms": p50(delayed),
                            "target_ms": REPLY_DELAY_S * 1000 + 2 * p50(plain),
                            "runs": timed_runs,
                            "server_us": server_us,
                        }
                    )
        finally:
            common_db.set_engine(None)
    return rows


def run_containers(
    database_url: str, containers: int, args: Callable[[int], list[str]]
) -> list[dict[str, Any]]:
    """Run bench.consumer in `containers` processes started together; their results."""
    env = {**os.environ, "DATABASE_URL": database_url}
    start_at = time.time() + 3.0  # after every process has imported, connected and warmed up
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.consumer", f"--start-at={start_at}", *args(index)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(containers)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"a benchmark process failed (exit {proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def run_consumers(
    database_url: str, batch: int, attempts: int, consumers: int, user_base: int
) -> tuple[float, float]:
    """Attempts per second written by `consumers` containers started together, `attempts` in all, and the
    database server's CPU microseconds per attempt."""
    per_consumer = max(batch, attempts // consumers // batch * batch)
    results = run_containers(
        database_url,
        consumers,
        lambda index: [
            f"--batch={batch}",
            f"--attempts={per_consumer}",
            f"--user-base={user_base + index * consumer.USERS_PER_CONSUMER}",
        ],
    )
    total = sum(r["attempts"] for r in results)
    return total / max(r["seconds"] for r in results), sum(
        r["server_cpu_seconds"] for r in results
    ) / total * 1e6


def bench_read_throughput(
    database_url: str, user: int, requests: int, readers: tuple[int, ...]
) -> dict[int, tuple[float, float]]:
    """GETs per second (the two reads alternately) served to 1 and more containers at once."""
    rates = {}
    for count in readers:
        reader_args = [f"--reads={max(2, requests // count)}", f"--user-base={user}"]
        results = run_containers(database_url, count, functools.partial(lambda same, _: same, reader_args))
        total = sum(r["requests"] for r in results)
        rates[count] = (
            total / max(r["seconds"] for r in results),
            sum(r["server_cpu_seconds"] for r in results) / total * 1e6,
        )
    return rates


def bench_batches(
    url: URL, database_url: str, attempts: int, consumer_counts: tuple[int, ...]
) -> list[dict[str, Any]]:
    """Write throughput of the real consumer by SQS batch size: on loopback with 1 and more consumers,
    and with REPLY_DELAY_S per reply (one consumer through the proxy)."""
    rows = []
    user_base = 6_000_000
    with RoundTripProxy.for_url(url, reply_delay_s=REPLY_DELAY_S) as proxy:
        delayed_url = proxy.url(url).render_as_string(hide_password=False)
        for batch in BATCH_SIZES:
            row: dict[str, Any] = {"batch": batch, "attempts": attempts}
            for consumers in consumer_counts:
                user_base += 10_000
                rate, server_us = run_consumers(database_url, batch, attempts, consumers, user_base)
                row[f"loopback_{consumers}"] = rate
                if consumers == 1:
                    row["server_us_per_attempt"] = server_us
            user_base += 10_000
            row["delayed_1"] = run_consumers(delayed_url, batch, max(attempts // 4, batch), 1, user_base)[0]
            rows.append(row)
    return rows


def render(
    reads: list[dict[str, Any]],
    cold: list[dict[str, Any]],
    wire: list[dict[str, Any]],
    batches: list[dict[str, Any]],
    read_rates: dict[int, tuple[float, float]],
    database_kind: str,
) -> str:
    out = []
    out.append(
        f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, "
        f"{platform.machine()}, Python {platform.python_version()}; database: {database_kind}; "
        f"load average at the end (1/5/15 min): {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
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
    delay_ms = REPLY_DELAY_S * 1000
    out.append(
        f"Warm container, through the counting loopback proxy; p50 of {wire[0]['runs']} calls each "
        f"({wire[-1]['runs']} SQS batches), without and with {delay_ms:g} ms added to every database reply "
        "(alternately):"
    )
    out.append("")
    out.append(
        f"| request | round trips | statements | p50 ms | p50 ms, +{delay_ms:g} ms per reply "
        f"| target ≤ {delay_ms:g} ms + 2x p50 | met | server CPU µs |"
    )
    out.append("|---|---:|---:|---:|---:|---:|---|---:|")
    for w in wire:
        met = "yes" if w["p50_delayed_ms"] <= w["target_ms"] else "no"
        out.append(
            f"| {w['request']} | {w['round_trips']} | {w['statements']} | {w['p50_ms']:.2f} | "
            f"{w['p50_delayed_ms']:.2f} | {w['target_ms']:.2f} | {met} | {w['server_us']:.0f} |"
        )
    out.append("")
    consumer_counts = sorted(int(k.split("_")[1]) for k in batches[0] if k.startswith("loopback_"))
    head = " | ".join(f"attempts/s, {c} consumer{'s' if c > 1 else ''}" for c in consumer_counts)
    out.append(
        f"| SQS batch size | {head} | x batch of 1 "
        f"| attempts/s, 1 consumer, +{delay_ms:g} ms per reply | x batch of 1 | server CPU µs per attempt |"
    )
    out.append("|---:|" + "---:|" * (len(consumer_counts) + 4))
    one = batches[0]
    for b in batches:
        rates = " | ".join(f"{b[f'loopback_{c}']:.0f}" for c in consumer_counts)
        out.append(
            f"| {b['batch']} | {rates} | {b['loopback_1'] / one['loopback_1']:.1f}x | {b['delayed_1']:.0f} | "
            f"{b['delayed_1'] / one['delayed_1']:.1f}x | {b['server_us_per_attempt']:.0f} |"
        )
    out.append("")
    out.append(
        "GETs/s (GET /progress and GET /progress/statistics alternately, 1 000-attempt user, loopback): "
        + ", ".join(
            f"{rate:.0f} with {count} container{'s' if count > 1 else ''} (server CPU {us:.0f} µs per GET)"
            for count, (rate, us) in read_rates.items()
        )
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="timed calls per endpoint and size")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument(
        "--write-attempts", type=int, default=3000, help="attempts per consumer and batch size"
    )
    parser.add_argument("--consumers", default="1,4", help="concurrent consumers to compare, e.g. 1,4")
    parser.add_argument("--quick", action="store_true", help="small sizes and few runs (smoke test)")
    args = parser.parse_args(argv)
    sizes = (200, 2_000) if args.quick else SIZES
    runs = 20 if args.quick else args.runs
    with scratch_database("progress_bench") as database:
        os.environ["DATABASE_URL"] = database.url
        get_settings.cache_clear()
        migrate(load_settings())
        # seeding 100 000 attempts takes longer than a request may
        engine = common_db.make_engine(get_settings(), socket_timeout=None, statement_timeout_ms=0)
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
            url = common_db.database_url(get_settings())
            print("counting round trips, timing with and without a delay per reply ...", flush=True)
            wire = bench_wire(url, users, runs)
            print("measuring write throughput by batch size ...", flush=True)
            consumer_counts = tuple(int(c) for c in args.consumers.split(","))
            if 1 not in consumer_counts:
                consumer_counts = (1, *consumer_counts)
            batches = bench_batches(
                url, database.url, 200 if args.quick else args.write_attempts, consumer_counts
            )
            print("measuring read throughput ...", flush=True)
            read_rates = bench_read_throughput(
                database.url, users[sizes[0]], 200 if args.quick else args.write_attempts, consumer_counts
            )
        finally:
            common_db.set_engine(None)
    print()
    print(render(reads, cold, wire, batches, read_rates, database.kind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
