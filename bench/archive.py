"""Archival throughput: `python -m bench.archive --rows 1000000` (or `./dev bench --archive`).

Seeds a table with ROWS attempts across 1 000 users, two thirds of them older than the retention
period, then runs the archival code once and reports rows moved per second. The table keeps its
live rows and indexes, so batches pay the real cost of deleting from and inserting into indexed tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from sqlalchemy import text

from progress_admin.scratch import scratch_database
from progress_common.archive import archive_old_attempts
from progress_common.settings import load_settings
from progress_schema.database import admin_engine, migrate

SEED_SQL = text(
    """
INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at)
SELECT 2000000 + mod(i, 1000), mod(i, 300), mod(i, 4) <> 0, 'answer ' || i,
       now() - make_interval(days => CAST(mod(i * 7, 1095) AS int))
  FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS i
"""
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5_000)
    args = parser.parse_args(argv)
    with scratch_database("progress_bench_archive") as database:
        settings = load_settings({"DATABASE_URL": database.url})
        migrate(settings)
        engine = admin_engine(settings)
        try:
            started = time.perf_counter()
            chunk = 100_000
            with engine.connect() as conn:
                for start in range(1, args.rows + 1, chunk):
                    conn.execute(SEED_SQL, {"start": start, "stop": min(start + chunk - 1, args.rows)})
                conn.execute(text("ANALYZE"))
                eligible = conn.execute(
                    text("SELECT count(*) FROM attempts WHERE created_at < now() - interval '365 days'")
                ).scalar_one()
            print(
                f"seeded {args.rows:,} attempts ({eligible:,} older than 365 days) in "
                f"{time.perf_counter() - started:.1f} s on a {database.kind} database",
                flush=True,
            )
            result = archive_old_attempts(retention_days=365, batch_size=args.batch_size, engine=engine)
            with engine.connect() as conn:
                live = conn.execute(text("SELECT count(*) FROM attempts")).scalar_one()
                archived = conn.execute(text("SELECT count(*) FROM attempts_archive")).scalar_one()
        finally:
            engine.dispose()
    assert live + archived == args.rows and archived == result.moved == eligible
    print(
        f"archived {result.moved:,} rows in {result.batches} batches of {args.batch_size:,} in "
        f"{result.seconds:.1f} s: {result.moved / result.seconds:,.0f} rows/s (cpu count {os.cpu_count()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
