"""A timezone change costs the same whatever the history: `./dev bench --timezone` (or
`python -m bench.timezone`).

Practice days are fixed when attempts are written, so a change of timezone rewrites nothing: one profile
row. Seeds a user with 10 attempts and one with 100 000 (over 1 000 days), then times, alternately in one
run, the two ways a timezone changes: an attempt message that names a new timezone (the SQS path,
save_user_attempt_to_db) and progress_set_timezone_v1 (the importer's and operators' path). Reports p50
of each and the ratio 100 000 / 10 (target: about 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import uuid
from collections.abc import Callable

from sqlalchemy import Engine, text

from progress_admin.scratch import scratch_database
from progress_common.db import make_engine
from progress_common.models import AttemptMessage
from progress_common.settings import load_settings
from progress_common.writes import save_user_attempt_to_db
from progress_schema.database import migrate

SEED_SQL = text(
    """
INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at)
SELECT :u, mod(i, 50), mod(i, 3) <> 0, 'answer ' || i,
       now() - interval '1 hour' - make_interval(secs => (i::double precision / :n) * 1000 * 86400)
  FROM generate_series(1, :n) AS i
"""
)
SET_TIMEZONE_SQL = text("SELECT progress_set_timezone_v1(:u, :tz)")
# What a change cost before practice days were fixed (migration 0001's progress_set_timezone): every
# per-day row rebuilt from the whole history. Run in a transaction that is rolled back, for comparison.
OLD_REBUILD_SQL = (
    text("DELETE FROM user_daily_stats WHERE user_id = :u"),
    text(
        "INSERT INTO user_daily_stats (user_id, day, attempts, correct)"
        " SELECT :u, (created_at AT TIME ZONE :tz)::date, count(*), count(*) FILTER (WHERE is_correct)"
        " FROM (SELECT created_at, is_correct FROM attempts WHERE user_id = :u"
        "       UNION ALL SELECT created_at, is_correct FROM attempts_archive WHERE user_id = :u) every_attempt"
        " GROUP BY 2"
    ),
)
ZONES = ("Europe/Berlin", "America/New_York")


NAMES = (
    "attempt naming a new timezone",
    "progress_set_timezone_v1",
    "before (0001-0005): rebuild of the per-day rows",
)


def p50_ms(fn: Callable[[int], None], runs: int) -> float:
    samples = []
    for n in range(runs):
        started = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="timed changes per user and path")
    parser.add_argument("--large", type=int, default=100_000, help="attempts of the large history")
    args = parser.parse_args(argv)
    sizes = (10, args.large)
    with scratch_database("progress_bench_tz") as database:
        settings = load_settings({"DATABASE_URL": database.url})
        migrate(settings)
        engine: Engine = make_engine(settings, pool_size=1, socket_timeout=None, statement_timeout_ms=0)
        try:
            users = {n: 3_000_000 + n for n in sizes}
            with engine.connect() as conn:
                for n, user in users.items():
                    conn.execute(SEED_SQL, {"u": user, "n": n})
                conn.execute(text("ANALYZE"))
            print(
                f"database: {database.kind}; seeded {', '.join(f'{n:,}' for n in sizes)} attempts", flush=True
            )

            changes = dict.fromkeys(users.values(), 0)

            def next_zone(user: int) -> str:  # every call names the other zone: each one is a change
                changes[user] += 1
                return ZONES[changes[user] % 2]

            def by_message(user: int) -> Callable[[int], None]:
                def change(n: int) -> None:
                    save_user_attempt_to_db(
                        AttemptMessage(
                            attempt_uid=uuid.uuid4(),
                            user_id=user,
                            exercise_id=1,
                            is_correct=True,
                            user_answer="",
                            created_at=dt.datetime.now(dt.UTC),
                            timezone=next_zone(user),
                        ),
                        engine=engine,
                    )

                return change

            def by_function(user: int) -> Callable[[int], None]:
                def change(n: int) -> None:
                    with engine.connect() as conn:
                        changed = conn.execute(SET_TIMEZONE_SQL, {"u": user, "tz": next_zone(user)}).scalar()
                        assert changed, "each call must change the timezone"

                return change

            old_engine = make_engine(
                settings, pool_size=1, socket_timeout=None, statement_timeout_ms=0, autocommit=False
            )

            def old_rebuild(user: int) -> Callable[[int], None]:
                def change(n: int) -> None:
                    with old_engine.connect() as conn:
                        for statement in OLD_REBUILD_SQL:
                            conn.execute(statement, {"u": user, "tz": ZONES[n % 2]})
                        conn.rollback()

                return change

            results: dict[tuple[str, int], list[float]] = {}
            for _ in range(5):  # alternate the sizes in rounds, so drift on a shared machine hits both
                for path, make in zip(NAMES[:2], (by_message, by_function), strict=True):
                    for n, user in users.items():
                        results.setdefault((path, n), []).append(p50_ms(make(user), args.runs // 5))
            # last: its rolled-back rows leave dead index entries that would slow the others down
            for _ in range(5):
                for n, user in users.items():
                    results.setdefault((NAMES[2], n), []).append(
                        p50_ms(old_rebuild(user), max(args.runs // 50, 2))
                    )
            old_engine.dispose()
        finally:
            engine.dispose()
    print()
    print(f"| timezone change via | p50 ms, {sizes[0]:,} attempts | p50 ms, {sizes[1]:,} attempts | ratio |")
    print("|---|---:|---:|---:|")
    for path in NAMES:
        small = statistics.median(results[(path, sizes[0])])
        large = statistics.median(results[(path, sizes[1])])
        print(f"| {path} | {small:.2f} | {large:.2f} | {large / small:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
