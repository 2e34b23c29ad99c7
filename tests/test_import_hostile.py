"""import-json against hostile and huge inputs: every problem reported with file and record, the rest
imported, memory bounded, never a traceback; the real database."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import text

from progress_admin import import_attempts as importer
from progress_admin import json_files
from progress_admin.cli import main
from progress_admin.importer import import_directory

NOW_ISH = "2026-01-05T10:00:00+00:00"


def record(n: int = 1, **extra: object) -> dict:
    return {"exercise_id": n, "is_correct": n % 2 == 0, "user_answer": "x", "created_at": NOW_ISH, **extra}


def count(db, user: int) -> int:
    with db.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM attempts WHERE user_id = :u"), {"u": user}
        ).scalar_one()


def run(directory: Path, capsys) -> tuple[int, str]:
    status = main(["import-json", str(directory)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return status, captured.out


def test_deep_nesting_and_broken_json_are_reported_with_their_record_and_the_run_goes_on(
    tmp_path, db, new_user_id, capsys
) -> None:
    a, b, c, ok = new_user_id(), new_user_id(), new_user_id(), new_user_id()
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / f"attempts_{a}.json").write_text(
        f"[{json.dumps(record(1))}, {deep}, {json.dumps(record(2))}]"
    )
    (tmp_path / f"attempts_{b}.json").write_text(
        '{"attempts": [' + json.dumps(record(1)) + ', {"a": ' + deep + "}]}"
    )
    (tmp_path / f"attempts_{c}.json").write_text(f"[{json.dumps(record(1))}, {json.dumps(record(2))}, {{nope")
    (tmp_path / f"attempts_{ok}.json").write_text(json.dumps([record(1), record(2)]))
    status, out = run(tmp_path, capsys)
    assert status == 1
    assert f"attempts_{a}.json[1]: nested too deeply; the rest of the file was not read" in out
    assert f"attempts_{b}.json[1]: nested too deeply" in out
    assert f"attempts_{c}.json[2]: not JSON" in out
    assert f"attempts_{ok}.json: imported 2, duplicates 0, rejected 0" in out
    assert (count(db, a), count(db, b), count(db, c), count(db, ok)) == (1, 1, 2, 2)


def test_links_out_of_the_directory_dangling_links_and_directories_are_reported_never_read(
    tmp_path, db, new_user_id, capsys
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.json"
    secret.write_text(json.dumps([record(1)]))
    folder = tmp_path / "import"
    folder.mkdir()
    out_user, dangling, directory_user, inside_user, real = (new_user_id() for _ in range(5))
    (folder / f"attempts_{out_user}.json").symlink_to(secret)
    (folder / f"attempts_{inside_user}.json").symlink_to(Path("/etc/passwd"))
    (folder / f"attempts_{dangling}.json").symlink_to(folder / "gone.json")
    (folder / f"attempts_{directory_user}.json").mkdir()
    (folder / f"attempts_{real}.json").write_text(json.dumps([record(3)]))
    os.mkfifo(folder / "streaks.json")  # would block a reader for ever
    status, out = run(folder, capsys)
    assert status == 1
    assert (
        f"attempts_{out_user}.json: skipped (a symbolic link to outside the directory: not followed)" in out
    )
    assert (
        f"attempts_{inside_user}.json: skipped (a symbolic link to outside the directory: not followed)"
        in out
    )
    assert f"attempts_{dangling}.json: skipped (a dangling symbolic link)" in out
    assert f"attempts_{directory_user}.json: skipped (a directory, not a file)" in out
    assert "streaks.json: skipped (not a regular file)" in out
    assert "root:" not in out
    assert count(db, out_user) == 0 and count(db, real) == 1


def test_a_record_naming_another_user_is_reported_and_skipped_not_reassigned(
    tmp_path, db, new_user_id, capsys
) -> None:
    user, other = new_user_id(), new_user_id()
    records = [
        record(1, user_id=f"user_{user}"),
        record(2, user_id=other),
        record(3, user_id="nobody"),
        record(4),
    ]
    (tmp_path / f"attempts_user_{user}.json").write_text(json.dumps(records))
    status, out = run(tmp_path, capsys)
    assert status == 1
    assert f"attempts_user_{user}.json[1]: its user_id is not the file's user ({user}): not imported" in out
    assert f"attempts_user_{user}.json[2]: its user_id is not the file's user" in out
    assert count(db, user) == 2 and count(db, other) == 0


def test_created_at_has_the_write_paths_bounds(tmp_path, db, new_user_id, capsys) -> None:
    user = new_user_id()
    records = [
        record(1, created_at="0001-01-01T00:00:00+05:00"),
        record(2, created_at="1999-12-31T23:59:59"),  # naive: read as UTC, still before 2000
        record(3, created_at=1e9),
        record(4, created_at="2000-01-01T00:00:00"),
        record(5, exercise_id=True),
        record(6, created_at="2999-01-01T00:00:00Z"),
    ]
    records[4]["exercise_id"] = True
    (tmp_path / f"attempts_{user}.json").write_text(json.dumps(records))
    status, out = run(tmp_path, capsys)
    assert status == 1
    for index in (0, 1, 2, 4, 5):
        assert f"attempts_{user}.json[{index}]:" in out
    assert f"attempts_{user}.json[3]:" not in out
    assert count(db, user) == 1


def test_an_out_of_range_streak_record_is_reported_and_the_rest_applied(
    tmp_path, db, new_user_id, capsys
) -> None:
    first, middle, last = new_user_id(), new_user_id(), new_user_id()
    (tmp_path / "streaks.json").write_text(
        json.dumps(
            {
                f"user_{first}": {"longest_streak": 4},
                f"user_{middle}": {"longest_streak": 2**31},
                "user_x": {"longest_streak": 1},
                f"user_{last}": {"longest_streak": 9, "timezone": "Asia/Tokyo"},
            }
        )
    )
    status, out = run(tmp_path, capsys)
    assert status == 1
    assert f"streaks.json[user_{middle}]: longest_streak must be an integer from 0 to 2147483647" in out
    assert "streaks.json[user_x]:" in out
    assert "streaks.json: 2 streak records applied, rejected 2" in out
    with db.connect() as conn:
        rows = dict(
            conn.execute(
                text(
                    "SELECT user_id, legacy_longest_streak FROM user_profiles WHERE user_id IN (:a, :b, :c)"
                ),
                {"a": first, "b": middle, "c": last},
            ).all()
        )
    assert rows == {first: 4, last: 9}


def test_chunks_commit_apart_and_a_rerun_with_other_chunks_imports_nothing(
    tmp_path, db, new_user_id, monkeypatch, capsys
) -> None:
    user = new_user_id()
    # identical records (no id) in different chunks: each keeps its own key, whatever the chunking
    records = [record(1), record(1), record(2), record(1), record(2), record(1), record(3)]
    (tmp_path / f"attempts_{user}.json").write_text(json.dumps(records))
    monkeypatch.setattr(importer, "RECORDS_PER_STATEMENT", 2)
    statements = []
    original = importer.write_attempts
    monkeypatch.setattr(
        importer, "write_attempts", lambda a, **kw: statements.append(len(a)) or original(a, **kw)
    )
    assert run(tmp_path, capsys) == (
        0,
        f"attempts_{user}.json: imported 7, duplicates 0, rejected 0\n"
        "1 files, imported 7, duplicates 0, rejected 0\n",
    )
    assert statements == [2, 2, 2, 1]
    monkeypatch.setattr(importer, "RECORDS_PER_STATEMENT", 1000)
    assert f"attempts_{user}.json: imported 0, duplicates 7, rejected 0" in run(tmp_path, capsys)[1]
    assert count(db, user) == 7


def test_a_record_longer_than_the_limit_is_reported(tmp_path, db, new_user_id, monkeypatch, capsys) -> None:
    user = new_user_id()
    monkeypatch.setattr(json_files, "MAX_RECORD_CHARS", 10_000)
    monkeypatch.setattr(json_files, "READ_CHUNK_CHARS", 1_000)
    (tmp_path / f"attempts_{user}.json").write_text(
        json.dumps([record(1), record(2, user_answer="y" * 50_000), record(3)])
    )
    status, out = run(tmp_path, capsys)
    assert status == 1
    assert (
        f"attempts_{user}.json[1]: a record longer than 10000 characters; the rest of the file was not read"
        in out
    )
    assert count(db, user) == 1


def _big_file(path: Path, records: int) -> int:
    with path.open("w") as out:
        out.write("[")
        for n in range(records):
            created = f"2026-01-0{1 + n % 9}T{n % 24:02d}:{n % 60:02d}:{(n // 60) % 60:02d}+00:00"
            out.write(
                ("," if n else "") + json.dumps(record(n % 50, created_at=created, user_answer=f"answer {n}"))
            )
        out.write("]")
    return path.stat().st_size


def _peak_import(directory: Path, db) -> tuple[int, tuple[int, int, int]]:
    tracemalloc.start()
    try:
        report = import_directory(directory, db, echo=lambda line: None)
        return tracemalloc.get_traced_memory()[1], report.totals()
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_stays_bounded_whatever_the_file_size(tmp_path, db, new_user_id) -> None:
    """Ten times the records, the same peak: records are streamed and written a chunk at a time.
    (Read whole, as before, the peak grew with the file: ~10x its size.)"""
    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir()
    big.mkdir()
    _big_file(small / f"attempts_{new_user_id()}.json", 2_500)
    _big_file(big / f"attempts_{new_user_id()}.json", 25_000)
    small_peak, small_totals = _peak_import(small, db)
    big_peak, big_totals = _peak_import(big, db)
    assert small_totals == (2_500, 0, 0) and big_totals == (25_000, 0, 0)
    assert big_peak < 1.5 * small_peak, (small_peak, big_peak)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64])
def test_records_cut_anywhere_by_the_read_chunks_are_read_whole(
    tmp_path, db, new_user_id, monkeypatch, capsys, chunk
) -> None:
    user = new_user_id()
    records = [
        {
            "exercise_id": 12345,
            "is_correct": True,
            "correct": False,
            "user_answer": 'caf\u00e9 \\"q\\"',
            "created_at": NOW_ISH,
            "session_id": None,
        },
        {
            "exercise_id": -0,
            "is_correct": False,
            "user_answer": "x",
            "created_at": NOW_ISH,
            "extra": [1.5e3, None, True],
        },
    ]
    (tmp_path / f"attempts_{user}.json").write_text(
        json.dumps({"meta": {"v": -1.25e-2}, "attempts": records}, ensure_ascii=True)
    )
    monkeypatch.setattr(json_files, "READ_CHUNK_CHARS", chunk)
    status, out = run(tmp_path, capsys)
    assert (status, out.splitlines()[0]) == (0, f"attempts_{user}.json: imported 2, duplicates 0, rejected 0")
