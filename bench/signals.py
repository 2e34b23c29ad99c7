"""What publishing the signal outbox costs: `./dev bench --signals` (or `python -m bench.signals`).

Issue 23: 10 000 signals due in the same minute are published in one sweep in PutEvents calls of ten, and the
sweep's database time stays within 2 s, growing with the number due, not with what the outbox already holds.

THIS BENCH COVERS THE PUBLISH STEP ONLY (progress_common/signals_publish.py): the outbox's reads and marks. The
step that finds the learners due among 100 000 / 1 000 000 profiles and writes the outbox is signals-core's;
its half of the bench (profiles, the due index, EXPLAIN of its statement) joins this file when it lands.

In one run, for each outbox history (100 000 and 1 000 000 rows already published, one per learner and day) a
scratch database migrated to head gets 10 000 pending signals due in the same minute; one publish step runs
against a stand-in EventBridge that answers every entry at once (no network: the database's share is what is
measured). The table: the statements the step ran and their total wall time (loopback, so an upper bound of
the database's time), the PutEvents calls and their largest size, and whether EXPLAIN of the pending read shows
index scans only. The due learners have a profile (they practised that morning), so their milestones pass
the pending read's re-check and are published.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event, text

from bench.run import quiet
from progress_admin.scratch import scratch_database
from progress_common import db as common_db
from progress_common import signals_publish
from progress_common.settings import get_settings, load_settings
from progress_schema.database import migrate

HISTORIES = (100_000, 1_000_000)
DUE = 10_000
NOW = dt.datetime(2026, 12, 4, 20, 0, tzinfo=dt.UTC)


class CountingEventBridge:
    """PutEvents that takes every entry at once, counting calls and entries."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.next_id = 0

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(len(Entries))
        self.next_id += len(Entries)
        return {
            "FailedEntryCount": 0,
            "Entries": [{"EventId": f"e{self.next_id}-{i}"} for i in range(len(Entries))],
        }


@contextmanager
def timed_statements(engine: Engine) -> Iterator[list[tuple[str, float]]]:
    timings: list[tuple[str, float]] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        timings.append((statement, time.perf_counter() - conn.info.pop("bench_started")))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield timings
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def seed(engine: Engine, history: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO signal_outbox (user_id, kind, local_day, due_at, detail, status, publish_attempts,"
                " published_at)"
                " SELECT g, 'milestone', DATE '2026-12-03' - (g %% 300), TIMESTAMPTZ '2026-12-03 20:00Z'"
                "  - make_interval(days => g %% 300), '{}', 'published', 1, TIMESTAMPTZ '2026-12-03 20:00Z'"
                " FROM generate_series(1, CAST(:n AS integer)) AS g"
            ),
            {"n": history},
        )
        # the due learners practised this morning (a profile each): their milestones still hold at send time
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " SELECT 10000000 + g, 1, true, TIMESTAMPTZ '2026-12-04 08:00Z'"
                " FROM generate_series(1, CAST(:n AS integer)) AS g"
            ),
            {"n": DUE},
        )
        conn.execute(
            text(
                "INSERT INTO signal_outbox (user_id, kind, local_day, due_at, detail)"
                " SELECT 10000000 + g, 'milestone', DATE '2026-12-04', CAST(:now AS timestamptz)"
                "  - make_interval(secs => g %% 60), '{\"days\": 3}'"
                " FROM generate_series(1, CAST(:n AS integer)) AS g"
            ),
            {"n": DUE, "now": NOW.isoformat()},
        )
        conn.exec_driver_sql("ANALYZE signal_outbox")


def explain_pending(engine: Engine) -> tuple[bool, str]:
    """The plans of the statements inside the pending read (auto_explain, nested statements, sent to this
    client as notices), in a transaction rolled back: index scans only (no Seq Scan)?"""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        for setting in (
            "LOAD 'auto_explain'",
            "SET LOCAL auto_explain.log_min_duration = 0",
            "SET LOCAL auto_explain.log_nested_statements = on",
            "SET LOCAL client_min_messages = log",
        ):
            cursor.execute(setting)
        raw.notices.clear()
        cursor.execute("SELECT count(*) FROM progress_signals_pending_v1(500)")
        cursor.fetchall()
        cursor.execute("ROLLBACK")
        plans = [
            message.decode() if isinstance(message, bytes) else str(message)
            for message in (notice.get(b"M", notice) for notice in raw.notices)
        ]
        conn.invalidate()  # the LOADed module stays with this session: not back to the pool
    plan = "\n".join(
        p for p in plans if "Query Text" in p and "progress_signals_pending_v1" not in p.split("\n")[0]
    )
    plan = plan or "\n".join(plans)
    return "Seq Scan" not in plan and bool(re.search(r"Index (Only )?Scan", plan)), plan


def run_one(history: int) -> dict[str, Any]:
    with scratch_database("progress_bench_signals") as database:
        settings = load_settings({"DATABASE_URL": database.url})
        migrate(settings)
        engine = common_db.make_engine(settings, pool_size=2)
        try:
            seed(engine, history)
            client = CountingEventBridge()
            signals_publish._events_client = client
            with timed_statements(engine) as timings, quiet():
                started = time.perf_counter()
                report = signals_publish.publish_pending(NOW, bus="bench", engine=engine)
                wall = time.perf_counter() - started
            index_only, plan = explain_pending(engine)
        finally:
            signals_publish.forget_client()
            engine.dispose()
    return {
        "history": history,
        "published": report.published,
        "statements": len(timings),
        "db_seconds": sum(t for _, t in timings),
        "wall_seconds": wall,
        "calls": len(client.calls),
        "largest_call": max(client.calls, default=0),
        "index_scans_only": index_only,
        "plan": plan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, nargs="+", default=list(HISTORIES))
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    get_settings.cache_clear()
    rows = [run_one(history) for history in args.histories]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{DUE} signals due in the same minute, one publish step; EventBridge answers at once (no network)")
    print(
        f"{'outbox history':>15} {'published':>10} {'statements':>11} {'db s':>7} {'wall s':>7} {'calls':>6}"
        f" {'max/call':>8} index-only"
    )
    for r in rows:
        print(
            f"{r['history']:>15,} {r['published']:>10} {r['statements']:>11} {r['db_seconds']:>7.3f}"
            f" {r['wall_seconds']:>7.3f} {r['calls']:>6} {r['largest_call']:>8} {r['index_scans_only']}"
        )
    if len(rows) >= 2:
        print(
            f"db time {rows[-1]['history']:,} / {rows[0]['history']:,} history:"
            f" {rows[-1]['db_seconds'] / rows[0]['db_seconds']:.2f}x"
        )
    print("plan of the pending read:\n" + rows[-1]["plan"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
