"""Concurrent writers lose no update: 16 threads, each with its own connection, 200 attempts each."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import uuid

import pytest
from sqlalchemy import text

from progress_common.db import make_engine
from progress_common.models import AttemptMessage
from progress_common.settings import get_settings
from progress_common.writes import save_user_attempt_to_db
from tests.helpers import assert_aggregates_match_rows
from tests.streak_model import runs

THREADS = 16
PER_THREAD = 200


def run_writers(user_for_thread, *, seed: int) -> float:
    """Start THREADS writers at once; return the writes per second they reached together."""
    engines = [make_engine(get_settings(), pool_size=1) for _ in range(THREADS)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    now = dt.datetime.now(dt.UTC)

    def write(index: int) -> None:
        rng = random.Random(seed + index)
        user = user_for_thread(index)
        messages = [
            AttemptMessage(
                attempt_uid=uuid.uuid4(),
                user_id=user,
                exercise_id=rng.randrange(20),
                is_correct=rng.random() < 0.7,
                user_answer=f"t{index}-{n}",
                # spread over 60 days, out of order, so new days and streak recomputes race too
                created_at=now - dt.timedelta(days=rng.randrange(60), minutes=rng.randrange(1440)),
                session_id=(seed * 1000 + index * 10 + n // 25) if n % 3 else None,
            )
            for n in range(PER_THREAD)
        ]
        # thread-owned sessions (ids differ per thread) so no session spans two users
        barrier.wait()
        try:
            for message in messages:
                assert save_user_attempt_to_db(message, engine=engines[index]) == "written"
        except BaseException as exc:  # reported after join
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(THREADS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.perf_counter() - started
    for engine in engines:
        engine.dispose()
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in threads)
    rate = THREADS * PER_THREAD / elapsed
    print(f"\n{THREADS} writers x {PER_THREAD} attempts: {rate:.0f} writes/s ({elapsed:.2f} s)")
    return rate


def check_user(db, user: int, expected_total: int) -> None:
    assert_aggregates_match_rows(db, user)
    with db.connect() as conn:
        total, current, longest, last, _timezone = conn.execute(
            text(
                "SELECT total_attempts, current_streak, longest_streak, last_practice_date, timezone"
                " FROM user_profiles WHERE user_id = :u"
            ),
            {"u": user},
        ).one()
        days = (
            conn.execute(text("SELECT day FROM user_daily_stats WHERE user_id = :u"), {"u": user})
            .scalars()
            .all()
        )
    assert total == expected_total
    # the cached run at the last practice day and the longest run equal a recount from the days
    every_run = runs(set(days), set())
    assert (every_run[-1][1], max(length for _, length in every_run)) == (current, longest)
    assert every_run[-1][0] == last


@pytest.mark.slow
def test_sixteen_writers_one_user(db, new_user_id) -> None:
    user = new_user_id()
    run_writers(lambda index: user, seed=1)
    check_user(db, user, THREADS * PER_THREAD)


@pytest.mark.slow
def test_sixteen_writers_distinct_users(db, new_user_id) -> None:
    users = [new_user_id() for _ in range(THREADS)]
    run_writers(lambda index: users[index], seed=2)
    for user in users:
        check_user(db, user, PER_THREAD)
