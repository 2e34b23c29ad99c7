"""A reset that races a user's very first write leaves no attempt behind uncounted.

Found by a stress run of `progress_reset_user_v1` (now v2) against a plain INSERT of a new user's first attempts
(two connections, started together by a barrier): 3 of 400 runs left 2 attempts with a profile total of 0
and no per-day row. The reset locked the profile with `FOR UPDATE`, which locks nothing while the profile
does not exist yet, so a writer that created it and committed between the reset's statements had its
attempts kept and its aggregates deleted.

The test below makes that window wide enough to hit every time: another transaction holds a row lock on
an archived attempt of the user (written straight into attempts_archive, as a legacy archiver could),
so the reset waits there, after it has deleted the live attempts and before it deletes the aggregates.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from sqlalchemy import text

from progress_common.db import make_engine
from progress_common.settings import get_settings
from tests.events import call, http_event


def _figures(db, user: int) -> tuple[int, int, int]:
    with db.connect() as conn:
        return (
            conn.execute(text("SELECT count(*) FROM attempts WHERE user_id = :u"), {"u": user}).scalar_one(),
            conn.execute(
                text("SELECT coalesce(max(total_attempts), 0) FROM user_profiles WHERE user_id = :u"),
                {"u": user},
            ).scalar_one(),
            conn.execute(
                text("SELECT coalesce(sum(attempts), 0) FROM user_daily_stats WHERE user_id = :u"),
                {"u": user},
            ).scalar_one(),
        )


def test_a_first_write_committed_during_a_reset_stays_counted(db, load_function, new_user_id) -> None:
    user = new_user_id()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts_archive (id, user_id, exercise_id, is_correct, user_answer, created_at,"
                " attempt_uid, local_day) VALUES (-CAST(:u AS bigint), :u, 1, true, '', :t, :uid, :d)"
            ),
            {"u": user, "t": old, "uid": uuid.uuid4(), "d": old.date()},
        )
    holder, resetter, writer = (make_engine(get_settings(), pool_size=1) for _ in range(3))
    errors: list[BaseException] = []

    def run(engine, sql: str) -> None:
        try:
            with engine.connect() as conn:
                conn.execute(text(sql), {"u": user})
        except BaseException as exc:  # reported after join
            errors.append(exc)

    try:
        with holder.connect() as lock_conn:
            # the engine runs in autocommit: an explicit transaction keeps the row lock
            lock_conn.execute(text("BEGIN"))
            lock_conn.execute(
                text("SELECT 1 FROM attempts_archive WHERE user_id = :u FOR UPDATE"), {"u": user}
            )
            reset = threading.Thread(target=run, args=(resetter, "SELECT progress_reset_user_v2(:u)"))
            reset.start()
            reset.join(0.5)  # the reset now waits on the archived row
            write = threading.Thread(
                target=run,
                args=(
                    writer,
                    "INSERT INTO attempts (user_id, exercise_id, is_correct) VALUES (:u, 1, true), (:u, 2, false)",
                ),
            )
            write.start()
            write.join(0.5)  # the first write: committed at once, or waiting for the reset
            lock_conn.execute(text("ROLLBACK"))
        reset.join(10)
        write.join(10)
    finally:
        for engine in (holder, resetter, writer):
            engine.dispose()
    assert not errors and not reset.is_alive() and not write.is_alive()

    live, profile_total, per_day = _figures(db, user)
    assert (profile_total, per_day) == (live, live)
    get_progress = load_function("get_progress").lambda_handler
    status, _, body = call(get_progress, http_event("GET", "/progress", claims={"sub": str(user)}))
    assert status == 200 and body["total_attempts"] == live == len(body["recent_attempts"])
