"""What finding the learners due and writing their signals costs: `./dev bench --signals-sweep` (or
`python -m bench.signals_sweep`).

Issue 23: 1 000 000 profiles, 10 000 due in the same minute: one sweep's database time within 2 s, the lookup
of the due learners by index only, and a cost that grows with the number due, not with the number of
profiles (100 000 and 1 000 000 profiles with the same 10 000 due).

In one run, for each size a scratch database migrated to head gets that many profiles (each learner practised
yesterday, a run of 10 days, in UTC, so at 20:00 their streak_saver is due); 10 000 of them are due now by
the due index (`next_signal_at`), the others tomorrow. One signals step (progress_common/sweep.py,
`sweep_signals`: batches of one statement each) runs as of 20:00; the table has its statements, their total
wall time on loopback (an upper bound of the database's time), the signals written, and whether EXPLAIN of
the due lookup shows index scans only. The publish step is bench/signals.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any

from sqlalchemy import Engine, text

from bench.run import quiet
from bench.signals import timed_statements
from progress_admin.scratch import scratch_database
from progress_common import db as common_db
from progress_common.settings import load_settings
from progress_common.sweep import sweep_signals
from progress_schema.database import migrate

SIZES = (100_000, 1_000_000)
DUE = 10_000
NOW = dt.datetime(2026, 12, 4, 20, 0, tzinfo=dt.UTC)
# the lookup progress_signals_sweep_v1 runs for each batch (its first statement), explained on its own
DUE_LOOKUP = (
    "EXPLAIN SELECT p.* FROM user_profiles p WHERE p.next_signal_at <= CAST(:now AS timestamptz)"
    " ORDER BY p.next_signal_at LIMIT 500 FOR UPDATE SKIP LOCKED"
)


def seed(engine: Engine, profiles: int) -> None:
    """Profiles as the write path leaves them for a learner who practised yesterday (a run of 10 days)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_profiles (user_id, timezone, first_practice_date, last_practice_date,"
                " practice_days, current_streak, longest_streak, streak_run_end, total_attempts,"
                " correct_attempts, next_signal_at)"
                " SELECT g, 'UTC', DATE '2026-11-24', DATE '2026-12-03', 10, 10, 10, DATE '2026-12-03', 10, 10,"
                "  CASE WHEN g <= :due THEN CAST(:now AS timestamptz) - make_interval(secs => g %% 60)"
                "       ELSE CAST(:now AS timestamptz) + interval '1 day' END"
                " FROM generate_series(1, CAST(:n AS integer)) AS g"
            ),
            {"n": profiles, "due": DUE, "now": NOW.isoformat()},
        )
        conn.exec_driver_sql("ANALYZE user_profiles")


def explain_due_lookup(engine: Engine) -> tuple[bool, str]:
    with engine.connect() as conn:
        plan = "\n".join(row[0] for row in conn.execute(text(DUE_LOOKUP), {"now": NOW.isoformat()}))
    return "Seq Scan" not in plan and "Index" in plan, plan


def run_one(profiles: int) -> dict[str, Any]:
    with scratch_database("progress_bench_sweep") as database:
        settings = load_settings({"DATABASE_URL": database.url})
        migrate(settings)
        engine = common_db.make_engine(settings, pool_size=2)
        try:
            seed(engine, profiles)
            index_only, plan = explain_due_lookup(engine)
            with timed_statements(engine) as timings, quiet():
                started = time.perf_counter()
                totals = sweep_signals(NOW, engine=engine)
                wall = time.perf_counter() - started
        finally:
            engine.dispose()
    return {
        "profiles": profiles,
        "due": DUE,
        "evaluated": totals["evaluated"],
        "written": totals["written"],
        "statements": len(timings),
        "db_seconds": sum(t for _, t in timings),
        "wall_seconds": wall,
        "index_scans_only": index_only,
        "plan": plan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = [run_one(size) for size in args.sizes]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| profiles | due | evaluated | signals written | statements | database s | due lookup |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        lookup = "index scan only" if row["index_scans_only"] else "NOT index only"
        print(
            f"| {row['profiles']:,} | {row['due']:,} | {row['evaluated']:,} | {row['written']:,} |"
            f" {row['statements']} | {row['db_seconds']:.2f} | {lookup} |"
        )
    if len(rows) > 1:
        print(
            f"\n{rows[-1]['profiles']:,} / {rows[0]['profiles']:,} profiles, same due: database time"
            f" {rows[-1]['db_seconds'] / rows[0]['db_seconds']:.2f}x"
        )
    print("\nthe due lookup's plan:\n" + rows[-1]["plan"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
