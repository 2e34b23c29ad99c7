"""ArchiveAttemptsFunction and `progress-admin archive` on the real database."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text

from progress_admin.local.events import schedule_event
from progress_common.archive import archive_old_attempts
from progress_common.db import make_engine
from progress_common.settings import get_settings
from tests.events import FakeLambdaContext, call, http_event
from tests.helpers import assert_aggregates_match_rows


def seed_two_years(db, user: int, *, per_day: int = 3, tz: str = "Europe/Berlin") -> int:
    """Attempts every other day over the last two years (some sessions), plus a run ending today."""
    with db.connect() as conn:
        conn.execute(text("SELECT progress_set_timezone_v1(:u, :tz)"), {"u": user, "tz": tz})
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at, session_id)"
                " SELECT :u, mod(d * 7 + k, 23), mod(d + k, 4) <> 0, 'answer ' || d || '/' || k,"
                "        now() - make_interval(days => d, mins => k * 17),"
                "        CASE WHEN mod(d, 5) = 0 THEN :s0 + d END"
                " FROM generate_series(0, 730) d, generate_series(1, :per_day) k"
                " WHERE mod(d, 2) = 0 OR d < 4"
            ),
            {"u": user, "per_day": per_day, "s0": (user % 100_000) * 1000},
        )
        return conn.execute(
            text("SELECT count(*) FROM attempts WHERE user_id = :u"), {"u": user}
        ).scalar_one()


def counts(db, user: int | None = None) -> tuple[int, int, int]:
    where = "WHERE user_id = :u" if user is not None else ""
    with db.connect() as conn:
        live = conn.execute(text(f"SELECT count(*) FROM attempts {where}"), {"u": user}).scalar_one()
        archived = conn.execute(
            text(f"SELECT count(*) FROM attempts_archive {where}"), {"u": user}
        ).scalar_one()
        union = conn.execute(
            text(
                f"SELECT count(DISTINCT id) FROM (SELECT id FROM attempts {where}"
                f" UNION ALL SELECT id FROM attempts_archive {where}) ids"
            ),
            {"u": user},
        ).scalar_one()
    return live, archived, union


def read_both(load_function, user: int) -> tuple[dict, dict]:
    _, _, progress = call(
        load_function("get_progress").lambda_handler,
        http_event("GET", "/progress", claims={"sub": str(user)}, query={"limit": "100"}),
    )
    _, _, stats = call(
        load_function("get_statistics").lambda_handler,
        http_event("GET", "/progress/statistics", claims={"sub": str(user)}, query={"days": "366"}),
    )
    return progress, stats


def test_archival_changes_no_figure_except_the_recent_list(db, load_function, new_user_id) -> None:
    user = new_user_id()
    total = seed_two_years(db, user)
    progress_before, stats_before = read_both(load_function, user)
    event = schedule_event()
    result = load_function("archive_attempts").lambda_handler(event, FakeLambdaContext())
    assert result["moved"] > 0 and result["more_remaining"] is False
    live, archived, distinct = counts(db, user)
    assert live + archived == distinct == total and archived == result["moved"]
    progress_after, stats_after = read_both(load_function, user)
    assert stats_after == stats_before
    recent_before = progress_before.pop("recent_attempts")
    recent_after = progress_after.pop("recent_attempts")
    progress_before.pop("next_cursor"), progress_after.pop("next_cursor")
    assert progress_after == progress_before
    cutoff = dt.datetime.fromisoformat(result["cutoff"])
    assert recent_after == [a for a in recent_before if dt.datetime.fromisoformat(a["created_at"]) >= cutoff]
    assert stats_after["current_streak"] >= 4  # the run of recent days survives archival
    assert_aggregates_match_rows(db, user)


def test_a_run_reports_what_it_moved_in_its_log_and_metric(
    db, load_function, new_user_id, captured_logs, capsys
) -> None:
    import json

    from progress_common.observability import logger

    seed_two_years(db, new_user_id())
    capsys.readouterr()
    event = schedule_event()
    quiet = logger.log_level  # the tests run at WARNING; in AWS, POWERTOOLS_LOG_LEVEL is INFO
    logger.setLevel("INFO")
    try:
        result = load_function("archive_attempts").lambda_handler(event, FakeLambdaContext())
    finally:
        logger.setLevel(quiet)
    assert result["moved"] > 0
    finished = [json.loads(line) for line in captured_logs().splitlines() if "archival run finished" in line]
    assert [(r["level"], r["moved"], r["batches"]) for r in finished] == [
        ("INFO", result["moved"], result["batches"])
    ]
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metric = [m["AttemptsArchived"] for m in emitted if "AttemptsArchived" in m]
    assert metric == [[result["moved"]]]  # one EMF document: the count the template's dashboards read


def test_two_concurrent_runs_lose_and_duplicate_nothing(db, new_user_id) -> None:
    users = [new_user_id() for _ in range(3)]
    totals = {u: seed_two_years(db, u) for u in users}
    engines = [make_engine(get_settings()) for _ in range(2)]
    results = []
    barrier = threading.Barrier(2)

    def run(engine) -> None:
        barrier.wait()
        results.append(archive_old_attempts(retention_days=365, batch_size=50, engine=engine))

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert len(results) == 2
    live, archived, distinct = counts(db)
    assert live + archived == distinct == sum(totals.values())
    assert sum(r.moved for r in results) == archived
    for user in users:
        assert_aggregates_match_rows(db, user)
    with db.connect() as conn:
        old = conn.execute(
            text("SELECT count(*) FROM attempts WHERE created_at < now() - interval '365 days'")
        )
        assert old.scalar_one() == 0


def test_a_run_stops_before_its_deadline_and_a_rerun_finishes(db, new_user_id) -> None:
    user = new_user_id()
    total = seed_two_years(db, user)
    budget = iter([60_000, 60_000, 60_000, 500])  # three batches, then the deadline is near
    first = archive_old_attempts(retention_days=365, batch_size=40, remaining_ms=lambda: next(budget))
    assert first.batches == 3 and first.moved == 120
    assert first.stopped_for_time and first.more_remaining
    second = archive_old_attempts(retention_days=365, batch_size=40)
    assert not second.more_remaining and not second.stopped_for_time
    live, archived, distinct = counts(db, user)
    assert live + archived == distinct == total
    assert archived == first.moved + second.moved


def test_killed_mid_run_then_rerun(db, test_database, new_user_id) -> None:
    user = new_user_id()
    total = seed_two_years(db, user, per_day=40)
    env = {**os.environ, "DATABASE_URL": test_database.url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "progress_admin.cli", "archive", "--batch-size", "25"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # wait until it has moved something, then kill it without warning
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and counts(db, user)[1] == 0 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    live, archived, distinct = counts(db, user)
    assert live + archived == distinct == total
    assert archived > 0
    rerun = subprocess.run(
        [sys.executable, "-m", "progress_admin.cli", "archive", "--batch-size", "1000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"more_remaining": false' in rerun.stdout
    live, archived2, distinct = counts(db, user)
    assert live + archived2 == distinct == total and archived2 >= archived
    assert_aggregates_match_rows(db, user)


def test_reset_after_archival_removes_archived_rows_too(db, load_function, new_user_id) -> None:
    user, other = new_user_id(), new_user_id()
    seed_two_years(db, user)
    other_total = seed_two_years(db, other)
    archive_old_attempts(retention_days=365, batch_size=1000)
    assert counts(db, user)[1] > 0
    status, _, body = call(
        load_function("reset_progress").lambda_handler,
        http_event("POST", "/progress/reset", claims={"sub": f"user_{user}"}),
    )
    assert status == 200 and body["deleted"]["archived_attempts"] > 0
    assert counts(db, user) == (0, 0, 0)
    live, archived, _ = counts(db, other)
    assert live + archived == other_total and archived > 0


def test_archive_command_reports_what_it_moved(db, new_user_id, capsys) -> None:
    from progress_admin.cli import main

    user = new_user_id()
    seed_two_years(db, user)
    assert main(["archive", "--retention-days", "30", "--batch-size", "100"]) == 0
    out = capsys.readouterr().out
    assert '"moved": ' in out and '"more_remaining": false' in out
    with db.connect() as conn:
        assert (
            conn.execute(
                text(
                    "SELECT count(*) FROM attempts WHERE created_at < now() - interval '30 days'"
                    " AND user_id = :u"
                ),
                {"u": user},
            ).scalar_one()
            == 0
        )


@pytest.mark.parametrize("bad", ["0", "-1", "36501", "abc"])
def test_bad_retention_setting_fails_at_cold_start(bad, monkeypatch) -> None:
    """Importing the function (its cold start) with a bad setting fails loudly, naming the variable."""
    from progress_admin.local.runtime import load_function_module
    from progress_common.errors import ConfigurationError
    from progress_common.settings import get_settings
    from tests.conftest import ROOT

    monkeypatch.setenv("DATABASE_URL", "postgresql://root@127.0.0.1:1/never_connected")
    monkeypatch.setenv("ARCHIVE_RETENTION_DAYS", bad)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="ARCHIVE_RETENTION_DAYS"):
            load_function_module(ROOT / "functions" / "archive_attempts" / "app.py")
        # and with a good one the same import works
        monkeypatch.setenv("ARCHIVE_RETENTION_DAYS", "30")
        get_settings.cache_clear()
        module = load_function_module(ROOT / "functions" / "archive_attempts" / "app.py")
        assert module.settings.archive_retention_days == 30
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("remaining", "batches"), [(1_999, 0), (2_000, 1), (2_999, 1), (3_000, 11), (3_001, 11)]
)
def test_a_batch_starts_only_with_the_time_margin_left(db, monkeypatch, remaining, batches) -> None:
    """A batch starts only with at least max(2 s, 3 x the slowest batch so far) left. Every batch takes
    1 s here (a clock the test controls) and the time left stays put: 1.999 s allows none, 2 s and 2.999 s
    the first only (then 3 s are needed), 3 s all ten (and the empty one that shows nothing is left)."""
    from progress_common import archive

    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " SELECT 3, 1, true, now() - interval '800 days' - n * interval '1 minute'"
                " FROM generate_series(1, 10) AS n"
            )
        )
    ticks = iter(range(100_000))
    monkeypatch.setattr(archive.time, "perf_counter", lambda: float(next(ticks)))
    result = archive.archive_old_attempts(
        retention_days=365, batch_size=1, remaining_ms=lambda: remaining, engine=db
    )
    assert (result.batches, result.moved) == (batches, min(batches, 10)), result
    assert result.stopped_for_time is (batches < 11)


def old_attempts(db, user: int, n: int) -> None:
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " SELECT :u, 1, true, now() - interval '400 days' + n * interval '1 minute'"
                " FROM generate_series(1, :n) AS n"
            ),
            {"u": user, "n": n},
        )


def test_more_remaining_says_whether_old_attempts_are_left(db, count_sql, new_user_id) -> None:
    """A run that ran out of old attempts says none remain without asking again (one statement per batch);
    a run stopped for time asks, and says so only when some are left."""
    old_attempts(db, new_user_id(), 10)
    count_sql.reset()
    exhausted = archive_old_attempts(retention_days=365, batch_size=4, engine=db)
    assert (exhausted.batches, exhausted.moved, exhausted.more_remaining) == (3, 10, False)
    assert count_sql.count == 3
    nothing_left = archive_old_attempts(retention_days=365, batch_size=4, remaining_ms=lambda: 0, engine=db)
    assert (nothing_left.batches, nothing_left.stopped_for_time, nothing_left.more_remaining) == (
        0,
        True,
        False,
    )
    old_attempts(db, new_user_id(), 1)
    one_left = archive_old_attempts(retention_days=365, batch_size=4, remaining_ms=lambda: 0, engine=db)
    assert (one_left.batches, one_left.stopped_for_time, one_left.more_remaining) == (0, True, True)


def test_a_run_reports_its_duration_in_seconds_to_the_millisecond(db, monkeypatch, new_user_id) -> None:
    """`seconds` is the run's wall time: here every archival statement takes 1.23456 s of a clock the test
    controls (which stands still otherwise), so three batches take 3.70368 s, reported as 3.704."""
    from sqlalchemy import event

    from progress_common import archive

    old_attempts(db, new_user_id(), 10)
    clock = [1_000.0]

    def statement_takes_time(conn, cursor, statement, *args) -> None:
        if "progress_archive_batch_v1" in statement:
            clock[0] += 1.23456

    monkeypatch.setattr(archive.time, "perf_counter", lambda: clock[0])
    event.listen(db, "before_cursor_execute", statement_takes_time)
    try:
        result = archive_old_attempts(retention_days=365, batch_size=4, engine=db)
    finally:
        event.remove(db, "before_cursor_execute", statement_takes_time)
    assert (result.batches, result.seconds) == (3, 3.704)


def test_an_interrupted_run_reports_what_it_moved_and_a_rerun_finishes(
    db, test_database, load_function, monkeypatch, new_user_id, capsys, captured_logs
) -> None:
    """The database goes away during the third batch: the function says how far it got (log, metrics, the
    error it raises so the asynchronous retries carry on); the two finished batches stay moved."""
    from progress_common import db as common_db
    from progress_common.archive import ArchiveInterruptedError
    from progress_common.errors import DatabaseUnavailableError
    from progress_common.observability import metrics
    from progress_common.settings import load_settings
    from tests.faults import CuttingProxy
    from tests.test_write_path import emitted_metrics, log_lines

    user = new_user_id()
    old_attempts(db, user, 50)
    function = load_function("archive_attempts")
    monkeypatch.setattr(function, "settings", function.settings.model_copy(update={"archive_batch_size": 10}))
    proxy = CuttingProxy(test_database.url)
    proxy.cut_marker, proxy.spare = b"SELECT progress_archive", 2
    through_proxy = make_engine(load_settings({"DATABASE_URL": proxy.url_for(test_database.url)}))
    monkeypatch.setattr(common_db, "_engine", through_proxy)
    metrics.clear_metrics()  # nothing added outside a handler by earlier tests
    capsys.readouterr()
    try:
        with pytest.raises(ArchiveInterruptedError) as raised:
            function.lambda_handler({}, FakeLambdaContext())
    finally:
        through_proxy.dispose()
        proxy.close()
    assert proxy.cuts == 1
    assert isinstance(raised.value, DatabaseUnavailableError)
    assert (raised.value.moved, raised.value.batches) == (20, 2)
    assert str(raised.value) == "the database became unavailable after 2 batches (20 attempts moved)"
    assert emitted_metrics(capsys.readouterr().out) == {"AttemptsArchived": 20, "DatabaseUnavailable": 1}
    (interrupted,) = log_lines(captured_logs(), "archival run interrupted: database unavailable")
    assert (interrupted["level"], interrupted["moved"], interrupted["batches"]) == ("WARNING", 20, 2)
    assert counts(db, user) == (30, 20, 50)
    assert archive_old_attempts(retention_days=365, batch_size=10, engine=db).moved == 30
    assert counts(db, user) == (0, 50, 50)
