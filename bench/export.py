"""The export worker's memory and speed: `./dev bench --export` (`python -m bench.export`).

Seeds two learners in a scratch database, one with ROWS attempts (1 000 000 by default) and one with
ROWS / 100 (10 000), half of each learner's attempts older than the retention period and archived by the
archival code, sessions of 20 attempts. Each export then runs in a fresh interpreter that imports
ExportWorkerFunction's handler and calls it with an SQS event, as Lambda does (bench/export_child.py),
writing to a moto S3 server on loopback in a process of its own, so each child's peak RSS (ru_maxrss) is
the worker's alone; the small export runs before and after the big one. Prints rows, seconds, rows/s, file
size and peak RSS, and the ratio of the big export's peak RSS to the small one's (target: within 1.2x).
Read ratios, not seconds: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from progress_admin.local.template import local_powertools_environment
from progress_admin.scratch import scratch_database
from progress_common.archive import archive_old_attempts
from progress_common.settings import load_settings
from progress_schema.database import admin_engine, migrate

BUCKET = "progress-bench-exports"
SEED_SQL = text(
    """
INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at, session_id)
SELECT CAST(:user_id AS bigint), mod(i, 300), mod(i, 4) <> 0, 'answer ' || i,
       now() - make_interval(days => CAST(floor(730.0 * i / CAST(:rows AS bigint)) AS int),
                             mins => CAST(mod(i, 600) AS int)),
       CAST(:user_id AS bigint) * 1000000 + i / 20
  FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS i
"""
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(engine: Any, user_id: int, rows: int) -> None:
    chunk = 100_000
    with engine.connect() as conn:
        for start in range(1, rows + 1, chunk):
            conn.execute(
                SEED_SQL,
                {"user_id": user_id, "rows": rows, "start": start, "stop": min(start + chunk - 1, rows)},
            )


def export_in_child(database_url: str, endpoint: str, user_id: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EXPORT_BUCKET": BUCKET,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        **local_powertools_environment(Path(__file__).resolve().parent.parent),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.export_child", str(user_id)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"export of user {user_id} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="attempts of the big learner")
    args = parser.parse_args(argv)

    big, small = 900_001, 900_002
    port = _free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="eu-west-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with scratch_database("progress_bench_export") as database:
            settings = load_settings({"DATABASE_URL": database.url})
            migrate(settings)
            engine = admin_engine(settings)
            try:
                started = time.perf_counter()
                seed(engine, big, args.rows)
                seed(engine, small, args.rows // 100)
                moved = archive_old_attempts(retention_days=365, batch_size=50_000, engine=engine).moved
                with engine.connect() as conn:
                    conn.execute(text("ANALYZE"))
                print(
                    f"seeded {args.rows:,} + {args.rows // 100:,} attempts ({moved:,} archived) in "
                    f"{time.perf_counter() - started:.0f} s on a {database.kind} database",
                    flush=True,
                )
            finally:
                engine.dispose()
            runs = [
                ("small", export_in_child(database.url, endpoint, small)),
                ("big", export_in_child(database.url, endpoint, big)),
                ("small again", export_in_child(database.url, endpoint, small)),
            ]
    finally:
        moto.terminate()
        moto.wait(10)
    print(
        "| export | rows | of which archived | seconds | rows/s | file MB | pages | peak RSS MB | RSS warm, before |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, run in runs:
        print(
            f"| {name} | {run['rows']:,} | {run['counts']['archived_attempt']:,} | {run['seconds']:.1f} |"
            f" {run['rows'] / run['seconds']:,.0f} | {run['size_bytes'] / 1e6:.1f} | {run['pages']:,} |"
            f" {run['peak_kb'] / 1024:.1f} | {run['floor_kb'] / 1024:.1f} |"
        )
    small_peak = max(run["peak_kb"] for name, run in runs if name != "big")
    big_run = runs[1][1]
    ratio = big_run["peak_kb"] / small_peak
    print(
        f"\npeak RSS, {big_run['rows']:,} rows against {runs[0][1]['rows']:,}: {ratio:.2f}x (target <= 1.2x: "
        f"{'met' if ratio <= 1.2 else 'NOT met'}); {big_run['rows'] / big_run['seconds']:,.0f} rows/s"
    )
    return 0 if ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
