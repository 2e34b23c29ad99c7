"""progress-admin commands not covered elsewhere, and the engine helpers, on the real database."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from progress_admin.cli import main
from progress_admin.local.gateway import unverified_claims
from progress_common import db as common_db
from progress_common.settings import StreakSettings, set_streak_settings
from tests.events import call, http_event


def test_token_prints_a_bearer_token_with_the_user_claim(capsys) -> None:
    assert main(["token", "--user", "user_9"]) == 0
    token = capsys.readouterr().out.strip()
    assert unverified_claims(f"Bearer {token}")["sub"] == "user_9"


def test_demo_data_is_idempotent_and_readable(db, load_function, capsys) -> None:
    assert main(["demo-data", "--user", "user_5", "--days", "10", "--timezone", "Asia/Tokyo"]) == 0
    first = capsys.readouterr().out
    written = int(first.split(":")[1].split()[0])
    assert written > 0 and "token: " in first
    assert main(["demo-data", "--user", "user_5", "--days", "10", "--timezone", "Asia/Tokyo"]) == 0
    assert "0 attempts written" in capsys.readouterr().out
    status, _, body = call(
        load_function("get_progress").lambda_handler, http_event("GET", "/progress", claims={"sub": "user_5"})
    )
    assert status == 200 and body["total_attempts"] == written and body["timezone"] == "Asia/Tokyo"


@pytest.fixture
def default_streak_limits(streak_limits) -> Iterator[None]:
    """The deployment's default streak limits (freezes on), also for the migration run of a command (which
    stores the process's StreakSettings in streak_config); the tests' environment turns freezes off."""
    set_streak_settings(StreakSettings())
    try:
        yield
    finally:
        set_streak_settings(None)


def test_demo_data_shows_every_day_kind_and_the_goals(
    db, load_function, default_streak_limits, capsys
) -> None:
    """With the deployment's default limits, the demo learner's last 30 days hold every kind, written
    through the service's own SQL (settings versions, a cover, a repair, the walk); a second run writes
    nothing and changes no figure."""
    args = ["demo-data", "--user", "user_6", "--days", "120", "--timezone", "America/New_York"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "rest on wed" in out and "the last 30 days: " in out and "none " not in out
    handler = load_function("get_statistics").lambda_handler
    status, _, first = call(handler, http_event("GET", "/progress/statistics", claims={"sub": "user_6"}))
    assert status == 200
    kinds = {day["kind"] for day in first["daily"]}
    assert kinds >= {"practice", "covered", "rest", "frozen", "repaired"}, kinds
    assert any(day["goal_met"] for day in first["daily"]) and not all(
        day["goal_met"] for day in first["daily"]
    )
    assert first["rest_weekdays"] == ["wed"] and first["today"]["goal"]["unit"] == "attempts"
    assert first["today"]["goal"]["target"] == 6 and first["week"]["target_days"] <= 4
    assert first["current_streak"] > 0 and first["weekly_streak"] >= 1
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM user_settings WHERE user_id = 6),"
                " (SELECT count(*) FROM streak_repairs WHERE user_id = 6),"
                " (SELECT count(*) FROM user_covered_days WHERE user_id = 6)"
            )
        ).one()
    assert tuple(rows) == (2, 1, 1)
    # what was stored is what a walk over the whole history gives
    with db.begin() as conn:
        conn.execute(text("SELECT progress_refresh_day_summary(6)"))
    assert call(handler, http_event("GET", "/progress/statistics", claims={"sub": "user_6"}))[2] == first

    assert main(args) == 0
    assert "user 6: 0 attempts written" in capsys.readouterr().out
    status, _, again = call(handler, http_event("GET", "/progress/statistics", claims={"sub": "user_6"}))
    assert status == 200 and again == first
    with db.connect() as conn:
        assert tuple(
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM user_settings WHERE user_id = 6),"
                    " (SELECT count(*) FROM streak_repairs WHERE user_id = 6),"
                    " (SELECT count(*) FROM user_covered_days WHERE user_id = 6)"
                )
            ).one()
        ) == (2, 1, 1)


def test_archive_stops_at_once_when_out_of_time(db, capsys) -> None:
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " VALUES (3, 1, true, now() - interval '800 days')"
            )
        )
    assert main(["archive", "--max-seconds", "0.001"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["stopped_for_time"] is True and result["moved"] == 0 and result["more_remaining"] is True
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attempts_archive")).scalar_one() == 0


def test_dispose_drops_the_shared_engine_and_the_next_use_makes_a_new_one(db) -> None:
    shared = common_db.get_engine()
    common_db.dispose_engine()
    try:
        fresh = common_db.get_engine()  # created again from the settings, on first use
        assert fresh is not shared
        with fresh.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        common_db.set_engine(shared)


def test_serve_builds_gateway_events_from_http_requests() -> None:
    event = http_event(
        "POST",
        "/progress/reset",
        query="a=1&a=2&b=x%20y",
        headers={"Content-Type": "application/json", "Cookie": "s=1; t=2", "User-Agent": "curl"},
        body=b'{"k": "\xc3\xa9"}',
        base64_body=True,
        claims={"sub": "user_7"},
        source_ip="127.0.0.1",
        request_id="req-1",
    )
    assert event["version"] == "2.0" and event["routeKey"] == "POST /progress/reset"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["cookies"] == ["s=1", "t=2"] and "cookie" not in event["headers"]
    assert event["headers"]["content-type"] == "application/json"
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b'{"k": "\xc3\xa9"}'
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == {"sub": "user_7"}
    assert event["requestContext"]["requestId"] == "req-1"
    assert event["requestContext"]["http"]["userAgent"] == "curl"


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--retention-days", "0", "0 is out of range: use 1 to 36500"),
        ("--retention-days", "-1", "-1 is out of range: use 1 to 36500"),
        ("--retention-days", "36501", "out of range"),
        ("--retention-days", "1.5", "is not a whole number"),
        ("--retention-days", "ten", "is not a whole number"),
        ("--batch-size", "0", "0 is out of range: use 1 to 100000"),
        ("--batch-size", "-5", "out of range"),
        ("--batch-size", "100001", "out of range"),
        ("--max-seconds", "0", "give a positive number"),
        ("--max-seconds", "-3", "give a positive number"),
        ("--max-seconds", "nan", "give a positive number"),
        ("--max-seconds", "inf", "give a positive number"),
        ("--max-seconds", "soon", "is not a number of seconds"),
    ],
)
def test_archive_refuses_values_that_make_no_sense_before_touching_the_database(
    db, capsys, option, value, says
) -> None:
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " VALUES (3, 1, true, now() - interval '10 minutes')"
            )
        )
    with pytest.raises(SystemExit) as exited:
        main(["archive", f"{option}={value}"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and says in err
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attempts_archive")).scalar_one() == 0


def test_archive_bounds_are_the_settings_bounds_and_the_help_says_what_each_value_means(capsys) -> None:
    from progress_admin.command_registry import setting_bounds
    from progress_common.settings import Settings

    low, high = setting_bounds("archive_retention_days")
    for bad in (low - 1, high + 1):
        with pytest.raises(ValueError):
            Settings(database_url="postgresql://x@h/d", archive_retention_days=bad)
    Settings(database_url="postgresql://x@h/d", archive_retention_days=low)
    with pytest.raises(SystemExit):
        main(["archive", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "move attempts made more than DAYS days ago (1..36500" in help_text
    assert "attempts moved per transaction (1..100000" in help_text
    assert "leaving the rest for the next run" in help_text


def test_archive_takes_the_smallest_retention_literally(db, capsys) -> None:
    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at) VALUES"
                " (3, 1, true, now() - interval '2 days'), (3, 1, true, now() - interval '10 minutes')"
            )
        )
    assert main(["archive", "--retention-days", "1", "--batch-size", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["moved"] == 1 and result["batches"] == 2


def test_archive_takes_the_archival_functions_database_limits_from_the_template() -> None:
    from progress_admin.commands_data import ARCHIVE_FUNCTION, archive_function_limits
    from progress_admin.local.template import load_template

    own = load_template()["Resources"][ARCHIVE_FUNCTION]["Properties"]["Environment"]["Variables"]
    assert archive_function_limits() == {
        "DB_STATEMENT_TIMEOUT_MS": own["DB_STATEMENT_TIMEOUT_MS"],
        "DB_CONNECT_TIMEOUT_SECONDS": own["DB_CONNECT_TIMEOUT_SECONDS"],
    }


@pytest.mark.slow
def test_archive_completes_a_batch_that_waits_longer_than_a_requests_limits(db, capsys) -> None:
    """A batch that waits 5 s for a lock: beyond the HTTP functions' 4 s statement and 4.5 s read timeouts,
    well within the archival function's, which the command has too."""
    import threading

    with db.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, created_at)"
                " SELECT 3, 1, true, now() - interval '400 days' FROM generate_series(1, 3)"
            )
        )
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with db.connect() as conn:  # the engine is in autocommit mode: a transaction block by hand
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("LOCK TABLE attempts_archive IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(5)
            conn.exec_driver_sql("ROLLBACK")

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(5)
        assert main(["archive"]) == 0
    finally:
        release.set()
        holder.join()
    assert json.loads(capsys.readouterr().out)["moved"] == 3


@pytest.mark.slow
def test_archive_against_a_silent_database_stops_after_the_connect_timeout(monkeypatch, capsys) -> None:
    """A hung server is an error after the connect timeout (the environment's, else the function's), not a
    command that never returns."""
    import time

    from tests.faults import silent_server

    monkeypatch.setenv("DB_CONNECT_TIMEOUT_SECONDS", "2")
    with silent_server() as port:
        monkeypatch.setenv("DATABASE_URL", f"postgresql://root@127.0.0.1:{port}/test")
        started = time.monotonic()
        assert main(["archive"]) == 1
        elapsed = time.monotonic() - started
    assert 2 <= elapsed < 5
    assert "progress-admin archive:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["demo-data", "--days", "-5"], "argument --days: -5 is out of range: use 0 to 3650"),
        (["demo-data", "--days", "100000"], "argument --days: 100000 is out of range: use 0 to 3650"),
        (["demo-data", "--days", "ten"], "argument --days: 'ten' is not a whole number"),
        (["demo-data", "--port", "0"], "argument --port: 0 is out of range: use 1 to 65535"),
        (["token", "--port", "65536"], "argument --port: 65536 is out of range: use 1 to 65535"),
        (["token", "--port", "-1"], "argument --port: -1 is out of range"),
        (["serve", "--port", "65536"], "argument --port: 65536 is out of range: use 0 to 65535"),
        (["serve", "--port", "http"], "argument --port: 'http' is not a whole number"),
    ],
)
def test_every_numeric_option_is_range_checked_with_one_line_and_exit_2(db, capsys, argv, says) -> None:
    """Before anything is started or written: a value out of range never reaches the database."""
    with db.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM attempts")).scalar_one()
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert says in err
    assert [line for line in err.splitlines() if "error:" in line] == [err.splitlines()[-1]]
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attempts")).scalar_one() == before


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [("--timezone", "Mars/Olympus_Mons", "unknown timezone"), ("--user", "user_", "user")],
)
def test_demo_data_refuses_a_bad_timezone_or_user_in_one_line(db, capsys, option, value, says) -> None:
    assert main(["demo-data", "--days", "3", option, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("progress-admin demo-data: ") and says in err[0]
