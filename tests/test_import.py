"""`progress-admin import-json` on directories made by the tests, against the real database."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from progress_admin.cli import main
from tests.events import call, http_event
from tests.helpers import assert_aggregates_match_rows


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def days_ago(n: int, hour: int = 18) -> str:
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=n)
    return dt.datetime.combine(day, dt.time(hour)).isoformat()  # naive, as the old files wrote them


def progress_of(load_function, user: int) -> dict:
    _, _, body = call(
        load_function("get_statistics").lambda_handler,
        http_event("GET", "/progress/statistics", claims={"sub": str(user)}),
    )
    return body


@pytest.fixture
def legacy_dir(tmp_path: Path, new_user_id) -> tuple[Path, int, int]:
    a, b = new_user_id(), new_user_id()
    write(
        tmp_path / f"attempts_user_{a}.json",
        [
            {"exercise_id": 1, "is_correct": True, "user_answer": "oui", "created_at": days_ago(3)},
            {"exercise_id": 1, "is_correct": False, "user_answer": "non", "created_at": days_ago(2)},
            {
                "exercise_id": 2,
                "is_correct": True,
                "user_answer": "oui",
                "created_at": days_ago(1),
                "session_id": 31,
            },
            {
                "exercise_id": 2,
                "is_correct": True,
                "user_answer": "oui",
                "created_at": days_ago(1),
                "session_id": 31,
            },
        ],
    )
    write(
        tmp_path / f"attempts_{b}.json",
        {
            "attempts": [
                {"exercise_id": 5, "correct": True, "answer": "ja", "timestamp": days_ago(0, 1) + "+00:00"},
                {
                    "exercise_id": 6,
                    "correct": False,
                    "answer": "nein",
                    "timestamp": days_ago(10) + "Z",
                    "id": 99,
                },
            ]
        },
    )
    write(
        tmp_path / "streaks.json",
        {
            f"user_{a}": {"current_streak": 3, "longest_streak": 12, "last_practice_date": days_ago(1)[:10]},
            str(b): {"current_streak": 1, "longest_streak": 1, "timezone": "Asia/Tokyo"},
        },
    )
    return tmp_path, a, b


def test_import_writes_through_the_shared_path_and_keeps_longer_legacy_streaks(
    legacy_dir, db, load_function, capsys
) -> None:
    directory, a, b = legacy_dir
    assert main(["import-json", str(directory)]) == 0
    out = capsys.readouterr().out
    assert f"attempts_user_{a}.json: imported 4, duplicates 0, rejected 0" in out
    assert f"attempts_{b}.json: imported 2, duplicates 0, rejected 0" in out
    assert "streaks.json: 2 streak records applied, rejected 0" in out
    stats_a = progress_of(load_function, a)
    assert stats_a["total_attempts"] == 4 and stats_a["correct_attempts"] == 3
    assert stats_a["current_streak"] == 3  # from the history: d-3, d-2, d-1
    assert stats_a["longest_streak"] == 12  # the old record, longer than the history shows, is kept
    assert stats_a["sessions"]["total"] == 1
    stats_b = progress_of(load_function, b)
    assert stats_b["total_attempts"] == 2 and stats_b["longest_streak"] == 1
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT timezone FROM user_profiles WHERE user_id = :u"), {"u": b}).scalar_one()
            == "Asia/Tokyo"
        )
    assert_aggregates_match_rows(db, a)
    assert_aggregates_match_rows(db, b)


def test_second_run_imports_nothing(legacy_dir, db, capsys) -> None:
    directory, a, b = legacy_dir
    assert main(["import-json", str(directory)]) == 0
    capsys.readouterr()
    assert main(["import-json", str(directory)]) == 0
    out = capsys.readouterr().out
    assert f"attempts_user_{a}.json: imported 0, duplicates 4, rejected 0" in out
    with db.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM attempts WHERE user_id IN (:a, :b)"), {"a": a, "b": b}
            ).scalar_one()
            == 6
        )


def test_dry_run_reports_and_writes_nothing(legacy_dir, db, capsys) -> None:
    directory, a, _ = legacy_dir
    assert main(["import-json", "--dry-run", str(directory)]) == 0
    out = capsys.readouterr().out
    assert f"attempts_user_{a}.json: imported 4" in out and "dry run: 3 files, would import 6" in out
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attempts")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM user_profiles")).scalar_one() == 0


def test_bad_records_are_reported_by_file_and_index_and_the_rest_imported(
    tmp_path, db, new_user_id, capsys
) -> None:
    user = new_user_id()
    write(
        tmp_path / f"attempts_{user}.json",
        [
            {"exercise_id": 1, "is_correct": True, "created_at": days_ago(1)},
            {"exercise_id": 1, "created_at": days_ago(1)},  # 1: no correctness
            {"exercise_id": "x", "is_correct": True, "created_at": days_ago(1)},  # 2: bad exercise id
            "just a string",  # 3: not an object
            {"exercise_id": 2, "is_correct": True},  # 4: no time
            {"exercise_id": 2, "is_correct": True, "created_at": "yesterday"},  # 5: bad time
            {"exercise_id": 3, "is_correct": False, "created_at": days_ago(2)},
        ],
    )
    (tmp_path / "attempts_9.json").write_text("{ this is not json", encoding="utf-8")
    write(tmp_path / "attempts_bob.json", [])
    write(
        tmp_path / "streaks.json",
        [{"user_id": "nobody", "longest_streak": 3}, {"user_id": str(user), "longest_streak": -1}],
    )
    assert main(["import-json", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"attempts_{user}.json: imported 2, duplicates 0, rejected 5" in out
    for index in (1, 2, 3, 4, 5):
        assert f"rejected attempts_{user}.json[{index}]" in out
    assert "attempts_9.json: skipped (not JSON" in out
    assert "attempts_bob.json: skipped (no user id in the file name" in out
    assert "streaks.json: 0 streak records applied, rejected 2" in out
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM attempts WHERE user_id = :u"), {"u": user}).scalar_one()
            == 2
        )
    assert_aggregates_match_rows(db, user)


def test_empty_and_missing_directories(tmp_path, db, capsys) -> None:
    assert main(["import-json", str(tmp_path)]) == 0
    assert "0 files, imported 0" in capsys.readouterr().out
    assert main(["import-json", str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_large_directories_show_a_progress_bar(tmp_path, db, new_user_id, capsys) -> None:
    for _ in range(12):
        write(
            tmp_path / f"attempts_{new_user_id()}.json",
            [{"exercise_id": 1, "is_correct": True, "created_at": days_ago(1)}],
        )
    assert main(["import-json", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "12/12 files" in captured.err and "[" + "#" * 30 + "]" in captured.err
    assert "12 files, imported 12" in captured.out


def _stored(db, user: int) -> list[tuple]:
    with db.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text("SELECT exercise_id, created_at FROM attempts WHERE user_id = :u ORDER BY created_at"),
                {"u": user},
            )
        ]


def test_the_same_id_holding_another_attempt_is_a_conflict_reported_with_both_places(
    tmp_path, db, new_user_id, capsys
) -> None:
    """`1` and `"1"` are the same id (the old files wrote both); two records under one id that hold
    different attempts are a conflict, never a silent duplicate: the first is imported, the other
    reported with where both are."""
    user = new_user_id()
    write(
        tmp_path / f"attempts_{user}.json",
        [
            {"id": 1, "exercise_id": 3, "is_correct": True, "created_at": days_ago(2)},
            {"id": "1", "exercise_id": 3, "is_correct": True, "created_at": days_ago(1)},  # another attempt
            {"id": "1", "exercise_id": 3, "is_correct": True, "created_at": days_ago(2)},  # the first again
            {"id": 2, "exercise_id": 4, "is_correct": False, "created_at": days_ago(1)},
        ],
    )
    assert main(["import-json", str(tmp_path)]) == 1  # something was not imported: said, and exit 1
    out = capsys.readouterr().out
    assert f"attempts_{user}.json: imported 2, duplicates 1, rejected 1" in out
    (conflict,) = [line for line in out.splitlines() if "conflict" in line]
    assert f"rejected attempts_{user}.json[1]: conflict: same id as attempts_{user}.json[0]" in conflict
    assert len(_stored(db, user)) == 2

    # a later run that finds the id taken by a stored attempt with other content says so too
    write(
        tmp_path / f"attempts_{user}.json",
        [{"id": 2, "exercise_id": 9, "is_correct": False, "created_at": days_ago(1)}],
    )
    assert main(["import-json", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"rejected attempts_{user}.json[0]: conflict: its id was imported before as another attempt" in out
    assert "exercise 4" in out and "exercise 9" in out
    assert len(_stored(db, user)) == 2


def test_the_same_attempt_under_the_same_id_in_two_files_of_one_user_is_a_duplicate(
    tmp_path, db, new_user_id, capsys
) -> None:
    user = new_user_id()
    record = {"id": 5, "exercise_id": 3, "is_correct": True, "created_at": days_ago(1)}
    write(tmp_path / f"attempts_{user}.json", [record])
    write(tmp_path / f"attempts_user_{user}.json", [{**record, "id": "5"}])
    assert main(["import-json", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "imported 1, duplicates 1, rejected 0" in out.splitlines()[-1]
    assert len(_stored(db, user)) == 1


def test_ids_beyond_what_json_readers_keep_exactly_are_refused_per_record(
    tmp_path, db, new_user_id, capsys
) -> None:
    user = new_user_id()
    largest = 2**53 - 1
    write(
        tmp_path / f"attempts_{user}.json",
        [
            {"exercise_id": largest, "is_correct": True, "created_at": days_ago(1), "session_id": largest},
            {"exercise_id": largest + 2, "is_correct": True, "created_at": days_ago(1)},
            {"exercise_id": 3, "is_correct": True, "created_at": days_ago(1), "session_id": largest + 1},
        ],
    )
    assert main(["import-json", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert (
        f"rejected attempts_{user}.json[1]: exercise_id: Input should be less than or equal to {largest}"
        in out
    )
    assert (
        f"rejected attempts_{user}.json[2]: session_id: Input should be less than or equal to {largest}"
        in out
    )
    with db.connect() as conn:
        stored = conn.execute(
            text("SELECT exercise_id, session_id FROM attempts WHERE user_id = :u"), {"u": user}
        )
        assert [tuple(r) for r in stored] == [(largest, largest)]
