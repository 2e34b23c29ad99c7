"""`./dev bench --export` runs end to end (small): each export in its own interpreter through the worker's
handler, and its table and ratio are printed. The figures themselves are the README's, not a test's."""

from __future__ import annotations

import re

import pytest


@pytest.mark.slow
def test_the_export_benchmark_runs_and_reports_the_ratio(test_database, capsys) -> None:
    from bench.export import main

    assert main(["--rows", "3000"]) == 0
    out = capsys.readouterr().out
    rows = {
        name: (int(lines.replace(",", "")), int(archived.replace(",", "")))
        for name, lines, archived in re.findall(
            r"^\| (small|big|small again) \| ([\d,]+) \| ([\d,]+) \|", out, re.MULTILINE
        )
    }
    assert set(rows) == {"small", "big", "small again"} and rows["small"] == rows["small again"]
    lines, archived = rows["big"]
    assert lines > 3000 and 1400 <= archived <= 1600  # every attempt (half archived), then the totals
    assert re.search(rf"peak RSS, {lines:,} rows against {rows['small'][0]:,}: [\d.]+x", out)
