"""What keeping a streak costs against today's release: `./dev bench --streaks` (or `python -m bench.streaks`).

Issue 22's targets: server CPU per GET and per attempt in an SQS batch of 10 within 1.2x of today's release,
growth from 1 000 to 100 000 attempts still flat (within 1.3x), GET /progress and /statistics still one
round trip.

In one run, two scratch databases: one migrated to 0013 (today's release: progress_read_progress_v2 with
progress_ingest_status_v1 in one statement, progress_read_statistics_v2, the write path without the streak
walk) and one to head (progress_read_progress_v4, progress_read_statistics_v4, the walk run by the write
path), streak_config in head holding the deployment's defaults (StreakSettings()). Both get the same
learners, seeded as plain inserts (the attempts trigger folds them in): 1 000 and 100 000 attempts over
a year, practising every day ("daily"), with a missed day every 9 days and a 7-day break 20 days ago
("gaps"), or every day under a weekly goal ("weekly"). In head the gaps learners also live under the new
rules, as a learner of the new release does: two settings versions (rest days, a daily goal, then a
weekly goal) and a granted freeze; the weekly learners set a weekly goal of 5 days a year ago (their
weekly streak is a year long). The write learners are gaps learners of 1 000 attempts each.

Server time without the network: one statement runs the operation N times on the server (the reads in
a LATERAL over generate_series, the batches of 10 in a LATERAL over a JSON array of batches as writes.py
sends them, in a transaction that is rolled back, so every repetition starts from the same state). Each
statement's cost is the server backend's CPU time (/proc/<pid>/schedstat, so the database must run on
this machine; else the statement's wall time) divided by N. Old and new are timed alternately, in rounds,
so both see the same machine load; the table has medians and the ratio new/old. Last, through the
counting proxy of bench/wire.py, one GET of each kind through the real handlers on head: 1 round trip.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from bench.consumer import server_cpu_seconds
from bench.run import ROOT, event, proxied_engine, quiet
from bench.wire import RoundTripProxy
from progress_admin.local.runtime import FakeContext, load_function_module
from progress_admin.scratch import scratch_database
from progress_common import db as common_db
from progress_common.models import AttemptMessage
from progress_common.settings import StreakSettings, get_settings, load_settings, set_streak_settings
from progress_schema.database import migrate

OLD_REVISION = "0013"  # today's release
SIZES = (1_000, 100_000)
PATTERNS = ("daily", "gaps", "weekly")
WRITE_LEARNERS_PER_BATCH = 10
SAME_DAY_LEARNERS = 20

# A year of practice days before today (day 1 = yesterday .. 365; day 0 = today for learners who practised
# today), n attempts spread over them, UTC. The gaps pattern misses every 9th day and a 7-day stretch 20
# days ago. One statement for all the users named, as the attempts trigger folds one statement at a time.
SEED_SQL = text(
    """
WITH days AS (
    SELECT d, (row_number() OVER (ORDER BY d) - 1)::int AS k
      FROM generate_series(CAST(:first_day AS integer), 365) AS d
     WHERE NOT (CAST(:gaps AS boolean) AND (mod(d, 9) = 4 OR d BETWEEN 20 AND 26))
), total AS (SELECT count(*)::int AS cnt FROM days)
INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at)
SELECT u, mod(i * 7919, 200), mod(i * 7, 10) < 7, 'answer ' || i,
       ((CAST(:today AS date) - days.d)::timestamp AT TIME ZONE 'UTC') + make_interval(secs => i / total.cnt)
  FROM unnest(CAST(:users AS bigint[])) AS u
 CROSS JOIN total
 CROSS JOIN generate_series(0, CAST(:n AS integer) - 1) AS i
  JOIN days ON days.k = mod(i, total.cnt)
"""
)
# The new rules, for the gaps learners in head only (a learner of the new release): rest on Sundays with a
# daily goal since 300 days ago, rest at weekends with a weekly goal of 4 days since 120 days ago, and a
# freeze the app's backend granted 60 days ago. Then the write path's refresh (as PUT /progress/settings and
# POST /progress/freezes do).
RULES_SQL = (
    text(
        "INSERT INTO user_settings (user_id, effective_from, rest_weekdays, daily_goal_unit, daily_goal_target,"
        " weekly_goal_days, week_start)"
        " SELECT u, CAST(:today AS date) - 300, CAST('{7}' AS smallint[]), 'attempts', 3, NULL, 1"
        "   FROM unnest(CAST(:users AS bigint[])) AS u"
        " UNION ALL"
        " SELECT u, CAST(:today AS date) - 120, CAST('{6,7}' AS smallint[]), 'correct', 2, 4, 1"
        "   FROM unnest(CAST(:users AS bigint[])) AS u"
    ),
    text(
        "INSERT INTO freeze_grants (user_id, grant_key, requested, added, local_day, freezes_held, freezes_max)"
        " SELECT u, 'bench-grant', 1, 1, CAST(:today AS date) - 60, 1, c.freeze_max_held"
        "   FROM unnest(CAST(:users AS bigint[])) AS u, streak_config c"
    ),
    text("SELECT count(progress_refresh_day_summary(u)) FROM unnest(CAST(:users AS bigint[])) AS u"),
)
# The weekly learners (every day, as the daily ones) set a weekly goal of 5 days a year ago: every week since
# is met, the weekly streak is a year long.
WEEKLY_SQL = text(
    "INSERT INTO user_settings (user_id, effective_from, weekly_goal_days)"
    " SELECT u, CAST(:today AS date) - 364, 5 FROM unnest(CAST(:users AS bigint[])) AS u"
)

# N reads in one statement; each argument list names i, so the function runs once per row.
READS = {
    ("GET /progress", "old"): (
        "SELECT progress_read_progress_v2(CAST(:u AS bigint), CAST(:now AS timestamptz) + i * interval '0 s',"
        " 'infinity', NULL, 21), progress_ingest_status_v1(CAST(:u AS bigint), CAST(:now AS timestamptz))"
    ),
    ("GET /progress", "new"): (
        "SELECT progress_read_progress_v4(CAST(:u AS bigint), CAST(:now AS timestamptz) + i * interval '0 s',"
        " 'infinity', NULL, 21), NULL::json"
    ),
    ("GET /progress/statistics", "old"): (
        "SELECT progress_read_statistics_v2(CAST(:u AS bigint), CAST(:now AS timestamptz) + i * interval '0 s', 30),"
        " NULL::json"
    ),
    ("GET /progress/statistics", "new"): (
        "SELECT progress_read_statistics_v4(CAST(:u AS bigint), CAST(:now AS timestamptz) + i * interval '0 s', 30),"
        " NULL::json"
    ),
}
# Each read gives a document and (old GET /progress only) the ingest status; octet_length makes the server
# compute both without writing them out again (r::text, used before 2026-12-04 10:00, quoted the document
# as a record: a cost that grew with the answer's size and that no request pays).
READ_SQL = (
    "SELECT count(*), sum(octet_length(r.document) + coalesce(octet_length(r.status::text), 0))"
    " FROM generate_series(1, CAST(:n AS integer)) AS i, LATERAL ({read}) AS r(document, status)"
)
# Batches of 10 as writes.py sends them (a JSON array of AttemptMessage.to_row()), all in one statement.
WRITE_SQL = text(
    "SELECT count(*) FILTER (WHERE r.outcome = 'written'), count(*)"
    " FROM jsonb_array_elements(CAST(:batches AS jsonb)) WITH ORDINALITY AS b(batch, n),"
    " LATERAL progress_record_attempts_v2(b.batch) AS r"
)
VACUUM_SQL = text("VACUUM attempts, user_daily_stats, user_exercise_stats, user_profiles")


@dataclass
class Side:
    """One database (old or new) and the one connection every statement of it runs on."""

    name: str
    engine: Engine
    conn: Connection = field(init=False)
    pid: int = field(init=False)

    def open(self) -> None:
        self.conn = self.engine.connect()
        self.pid = int(self.conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        self.conn.commit()

    def timed(
        self, statement: Any, params: dict[str, Any], *, rollback: bool = False
    ) -> tuple[float, float, Any]:
        """Server CPU seconds and wall seconds of one statement, and its row."""
        cpu = server_cpu_seconds(self.pid)
        started = time.perf_counter()
        row = self.conn.execute(statement, params).one()
        wall = time.perf_counter() - started
        cpu = server_cpu_seconds(self.pid) - cpu
        if rollback:
            self.conn.rollback()
        else:
            self.conn.commit()
        return cpu, wall, row


@dataclass
class Case:
    name: str
    learner: str
    per: int  # operations per statement
    statements: dict[str, tuple[Any, Any]]  # side -> (statement, params or a callable giving them)
    rollback: bool = False
    cpu: dict[str, list[float]] = field(default_factory=lambda: {"old": [], "new": []})
    wall: dict[str, list[float]] = field(default_factory=lambda: {"old": [], "new": []})
    check: Any = None  # the row a statement must return

    def run(self, sides: dict[str, Side], order: tuple[str, ...]) -> None:
        for side in order:
            statement, params = self.statements[side]
            cpu, wall, row = sides[side].timed(
                statement, params() if callable(params) else params, rollback=self.rollback
            )
            if self.check is not None:
                self.check(side, row)
            self.cpu[side].append(cpu / self.per * 1e6)
            self.wall[side].append(wall / self.per * 1e6)

    def median(self, side: str, *, cpu: bool) -> float:
        samples = (self.cpu if cpu else self.wall)[side]
        return statistics.median(samples)


def seed(conn: Connection, today: dt.date, groups: list[tuple[list[int], int, bool, int]]) -> None:
    """groups: (users, attempts each, gaps pattern, first day back: 0 when they practised today)."""
    for users, n, gaps, first_day in groups:
        conn.execute(SEED_SQL, {"users": users, "n": n, "gaps": gaps, "first_day": first_day, "today": today})
        conn.commit()


def apply_rules(conn: Connection, today: dt.date, users: list[int], weekly_users: list[int]) -> None:
    for statement in RULES_SQL:
        conn.execute(statement, {"users": users, "today": today})
    conn.execute(WEEKLY_SQL, {"users": weekly_users, "today": today})
    conn.execute(RULES_SQL[-1], {"users": weekly_users})
    conn.commit()


def batches_json(learners: list[list[int]], at: dt.datetime) -> str:
    """One JSON array of SQS batches, each what writes.py sends for 10 messages (AttemptMessage.to_row())."""
    return json.dumps(
        [
            [
                AttemptMessage(
                    attempt_uid=uuid.uuid4(),
                    user_id=user,
                    exercise_id=7,
                    is_correct=True,
                    user_answer="la maison",
                    created_at=at,
                    timezone="UTC",
                ).to_row()
                for user in batch
            ]
            for batch in learners
        ]
    )


def round_trips(url: Any, user: int) -> dict[str, tuple[int, int]]:
    """Round trips and statements of one warm GET of each kind through the real handlers (head)."""
    context = FakeContext("bench-streaks", 10)
    results = {}
    with RoundTripProxy.for_url(url) as proxy:
        engine = proxied_engine(proxy, url)
        statements: list[str] = []
        from sqlalchemy import event as sa_event

        sa_event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        common_db.set_engine(engine)
        try:
            with quiet():
                for name, function, path in (
                    ("GET /progress", "get_progress", "/progress"),
                    ("GET /progress/statistics", "get_statistics", "/progress/statistics"),
                ):
                    handler = load_function_module(ROOT / f"functions/{function}/app.py").lambda_handler
                    ev = event("GET", path, user)
                    assert handler(ev, context)["statusCode"] == 200  # warm: connection, plans
                    statements.clear()
                    with proxy.measure() as trips:
                        response = handler(ev, context)
                    assert response["statusCode"] == 200, response
                    body = json.loads(response["body"])
                    assert "freezes_held" in body, "head's GET carries the new fields"
                    results[name] = (trips.round_trips, len(statements))
        finally:
            common_db.set_engine(None)
            engine.dispose()
    return results


@contextlib.contextmanager
def two_databases() -> Iterator[tuple[str, str, str]]:
    with scratch_database("progress_bench_old") as old, scratch_database("progress_bench_new") as new:
        yield old.url, new.url, old.kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15, help="timed statements per case and side")
    parser.add_argument("--reads", type=int, default=200, help="reads per statement")
    parser.add_argument("--batches", type=int, default=20, help="batches of 10 per write statement")
    parser.add_argument("--quick", action="store_true", help="small histories, few rounds (smoke test)")
    parser.add_argument(
        "--old-generic-plans",
        action="store_true",
        help="today's release with generic plans (SET plan_cache_mode) on its connection, as head's statistics"
        " read has them by its function's setting: what the rest of the difference costs",
    )
    args = parser.parse_args(argv)
    sizes = (100, 2_000) if args.quick else SIZES
    rounds = 3 if args.quick else args.rounds
    reads_per = 20 if args.quick else args.reads
    batches = 4 if args.quick else args.batches
    write_size = sizes[0]
    today = dt.datetime.now(dt.UTC).date()
    now = dt.datetime.now(dt.UTC)
    read_users = {
        key: 7_000_000 + 10_000 * i for i, key in enumerate((p, n) for p in PATTERNS for n in sizes)
    }
    new_day_users = [7_500_000 + k for k in range(batches * WRITE_LEARNERS_PER_BATCH)]
    same_day_users = [7_600_000 + k for k in range(SAME_DAY_LEARNERS)]
    groups = [([user], n, pattern == "gaps", 1) for (pattern, n), user in read_users.items()]
    groups += [(new_day_users, write_size, True, 1), (same_day_users, write_size, True, 0)]
    weekly_users = [u for (pattern, _), u in read_users.items() if pattern == "weekly"]
    rules_users = (
        [u for (pattern, _), u in read_users.items() if pattern == "gaps"] + new_day_users + same_day_users
    )

    with two_databases() as (old_url, new_url, kind):
        set_streak_settings(
            StreakSettings()
        )  # the deployment's defaults, whatever this shell's environment says
        engines = {}  # autocommit: set-up, seeding, VACUUM
        timed = {}  # the one connection of each side the timed statements run on (each in a transaction)
        for side, url, revision in (("old", old_url, OLD_REVISION), ("new", new_url, "head")):
            settings = load_settings({"DATABASE_URL": url})
            reached = migrate(settings, revision)
            print(f"{side}: migrated to {reached}", flush=True)
            engines[side] = common_db.make_engine(
                settings, pool_size=1, socket_timeout=None, statement_timeout_ms=0
            )
            timed[side] = common_db.make_engine(
                settings, pool_size=1, socket_timeout=None, statement_timeout_ms=0, autocommit=False
            )
        sides = {side: Side(side, engine) for side, engine in timed.items()}
        try:
            with engines["new"].connect() as conn:
                limits = StreakSettings().config_row()
                conn.execute(
                    text(f"UPDATE streak_config SET {', '.join(f'{k} = :{k}' for k in limits)}"), limits
                )
                conn.commit()
                config = conn.execute(text("SELECT * FROM streak_config")).mappings().one()
            print(f"new: streak_config {dict(config)}", flush=True)
            for side, engine in engines.items():
                started = time.perf_counter()
                with engine.connect() as conn:
                    seed(conn, today, groups)
                    if side == "new":
                        apply_rules(conn, today, rules_users, weekly_users)
                with engine.connect() as conn:
                    conn.execute(text("VACUUM ANALYZE"))
                print(f"{side}: seeded in {time.perf_counter() - started:.0f} s", flush=True)
            for timed_side in sides.values():
                timed_side.open()
            if args.old_generic_plans:
                sides["old"].conn.execute(text("SET plan_cache_mode = force_generic_plan"))
                sides["old"].conn.commit()

            cases: list[Case] = []
            for (pattern, n), user in read_users.items():
                for endpoint in ("GET /progress", "GET /progress/statistics"):
                    statements = {
                        side: (
                            text(READ_SQL.format(read=READS[(endpoint, side)])),
                            {"u": user, "now": now, "n": reads_per},
                        )
                        for side in ("old", "new")
                    }

                    def check(side: str, row: Any, expected: int = reads_per) -> None:
                        assert row[0] == expected, (side, row)

                    cases.append(
                        Case(endpoint, f"{n:,} attempts, {pattern}", reads_per, statements, check=check)
                    )

            def write_case(name: str, learners: list[list[int]]) -> Case:
                def params() -> dict[str, str]:  # new uids each time: what the queue brings
                    return {"batches": batches_json(learners, dt.datetime.now(dt.UTC))}

                attempts = sum(len(b) for b in learners)

                def check(side: str, row: Any) -> None:
                    assert tuple(row) == (attempts, attempts), (side, row)

                return Case(
                    name,
                    f"{write_size:,} attempts, gaps",
                    attempts,
                    {"old": (WRITE_SQL, params), "new": (WRITE_SQL, params)},
                    rollback=True,
                    check=check,
                )

            per = WRITE_LEARNERS_PER_BATCH
            cases.append(
                write_case(
                    "batch of 10, each a new practice day (per attempt)",
                    [new_day_users[b * per : (b + 1) * per] for b in range(batches)],
                )
            )
            cases.append(
                write_case(
                    "batch of 10, each the same day (per attempt)",
                    [
                        [same_day_users[(b * per + k) % SAME_DAY_LEARNERS] for k in range(per)]
                        for b in range(batches)
                    ],
                )
            )
            print(f"timing {len(cases)} cases, {rounds} rounds, old and new alternately ...", flush=True)
            for case in cases:  # warm: plans, caches
                case.run(sides, ("old", "new"))
                case.cpu = {"old": [], "new": []}
                case.wall = {"old": [], "new": []}
            for r in range(rounds):
                order = ("old", "new") if r % 2 == 0 else ("new", "old")
                for case in cases:
                    case.run(sides, order)
                for engine in engines.values():  # the rolled-back writes leave dead rows: the same for both
                    with engine.connect() as conn:
                        conn.execute(VACUUM_SQL)
                print(f"  round {r + 1}/{rounds}", flush=True)
            for timed_side in sides.values():
                timed_side.conn.close()

            os.environ["DATABASE_URL"] = new_url
            get_settings.cache_clear()
            trips = round_trips(
                common_db.database_url(load_settings({"DATABASE_URL": new_url})),
                read_users[("gaps", sizes[-1])],
            )
        finally:
            for engine in (*engines.values(), *timed.values()):
                engine.dispose()
            set_streak_settings(None)

    cpu_known = all(x == x for case in cases for x in case.cpu["old"])  # NaN: no /proc of the server
    print()
    print(render(cases, trips, sizes, kind, cpu_known, rounds, reads_per, batches, args.old_generic_plans))
    return 0


def render(
    cases: list[Case],
    trips: dict[str, tuple[int, int]],
    sizes: tuple[int, ...],
    kind: str,
    cpu_known: bool,
    rounds: int,
    reads_per: int,
    batches: int,
    old_generic_plans: bool = False,
) -> str:
    measure = "server CPU" if cpu_known else "statement wall time"
    out = [
        f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, {platform.machine()},"
        f" Python {platform.python_version()}; database: {kind}; load average at the end (1/5/15 min):"
        f" {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        f"medians of {rounds} statements per side ({reads_per} reads or {batches} batches of 10 each), {measure}"
        f" per GET or per attempt; old = revision {OLD_REVISION} (today's release"
        + (", with generic plans: --old-generic-plans" if old_generic_plans else "")
        + "), new = head",
        "",
        "| operation | learner | old µs | new µs | new/old | target | met | new/old, wall time |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for case in cases:
        old = case.median("old", cpu=cpu_known)
        new = case.median("new", cpu=cpu_known)
        wall = case.median("new", cpu=False) / case.median("old", cpu=False)
        out.append(
            f"| {case.name} | {case.learner} | {old:.0f} | {new:.0f} | {new / old:.2f} | ≤ 1.2 |"
            f" {'yes' if new / old <= 1.2 else 'no'} | {wall:.2f} |"
        )
    out += [
        "",
        f"| growth on head, {sizes[-1]:,} / {sizes[0]:,} attempts | learner | ratio | target | met |",
        "|---|---|---:|---:|---|",
    ]
    for endpoint in ("GET /progress", "GET /progress/statistics"):
        for pattern in PATTERNS:
            by_size = {
                case.learner.split(" ")[0]: case.median("new", cpu=cpu_known)
                for case in cases
                if case.name == endpoint and case.learner.endswith(pattern)
            }
            ratio = by_size[f"{sizes[-1]:,}"] / by_size[f"{sizes[0]:,}"]
            out.append(
                f"| {endpoint} | {pattern} | {ratio:.2f} | ≤ 1.3 | {'yes' if ratio <= 1.3 else 'no'} |"
            )
    out += [
        "",
        "| request on head, through the handlers (warm) | round trips | statements | target | met |",
        "|---|---:|---:|---:|---|",
    ]
    for name, (count, statements) in trips.items():
        out.append(f"| {name} | {count} | {statements} | 1 | {'yes' if count == 1 else 'no'} |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
