"""The benchmark's baseline (the old design) computes the same figures as the service: the speed
comparison in bench/ is between two correct implementations."""

from __future__ import annotations

from sqlalchemy import text

from bench.baseline import old_progress, old_statistics
from tests.events import call, http_event


def test_old_design_and_service_agree(db, load_function, new_user_id) -> None:
    user = new_user_id()
    with db.connect() as conn:
        conn.execute(text("SELECT progress_set_timezone_v1(:u, 'America/New_York')"), {"u": user})
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at, session_id)"
                " SELECT :u, mod(i * 31, 17), mod(i, 3) <> 0, 'a' || i, now() - make_interval(hours => i * 7),"
                " CASE WHEN mod(i, 4) = 0 THEN CAST(:s AS bigint) + i / 12 END FROM generate_series(1, 300) i"
            ),
            {"u": user, "s": user * 100},
        )
    _, _, progress = call(
        load_function("get_progress").lambda_handler,
        http_event("GET", "/progress", claims={"sub": str(user)}),
    )
    _, _, stats = call(
        load_function("get_statistics").lambda_handler,
        http_event("GET", "/progress/statistics", claims={"sub": str(user)}),
    )
    old_p = old_progress(db, user)
    old_s = old_statistics(db, user)
    for key in (
        "total_attempts",
        "correct_attempts",
        "accuracy",
        "current_streak",
        "longest_streak",
        "last_practice_date",
        "practiced_today",
        "streak_expires_at",
    ):
        assert old_p[key] == progress[key], key
        assert old_s[key] == stats[key], key
    assert [a["id"] for a in old_p["recent_attempts"]] == [a["id"] for a in progress["recent_attempts"]]
    assert old_s["practice_days"] == stats["practice_days"]
    assert old_s["sessions"] == stats["sessions"]
    # the old design knows no day kinds or goals
    assert old_s["daily"] == [
        {k: d[k] for k in ("date", "attempts", "correct", "covered")} for d in stats["daily"]
    ]
    assert [(e["exercise_id"], e["attempts"], e["correct"]) for e in old_s["by_exercise"]] == [
        (e["exercise_id"], e["attempts"], e["correct"]) for e in stats["by_exercise"]
    ]
