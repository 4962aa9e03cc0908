"""docs/compatibility.md: a run replaces its own server versions' rows, keeps the others, and sorts."""

from __future__ import annotations

from pathlib import Path

from movie_director_testing.compatibility import REAL, STAND_IN, Row, parse, render, update


def row(server: str, version: str, target: str, scenario: str, result: str = "passed", notes: str = "", date: str = "2026-12-01") -> Row:
    return Row(server, version, target, scenario, result, notes, date)


def test_a_run_replaces_its_server_versions_and_keeps_the_others(tmp_path: Path) -> None:
    table = tmp_path / "compatibility.md"
    real = [row("ComfyUI", "0.3.64", REAL, "job end to end"), row("ComfyUI", "0.3.64", REAL, "old scenario")]
    stand_in = [row("ComfyUI", "0.3.64", STAND_IN, "job end to end", "failed")]
    update(table, real + stand_in)
    rerun = [row("ComfyUI", "0.3.64", STAND_IN, "job end to end", date="2026-12-04")]
    assert update(table, rerun) == real + rerun
    assert parse(table.read_text(encoding="utf-8")) == real + rerun


def test_rows_are_sorted_real_first_and_cells_stay_one_line(tmp_path: Path) -> None:
    rows = [
        row("Wan2GP web UI", "12.60", STAND_IN, "b"),
        row("ComfyUI", "0.3.64", STAND_IN, "a"),
        row("Wan2GP web UI", "12.60", REAL, "b", "failed", "the server said | no\nweights"),
        row("Wan2GP web UI", "12.60", REAL, "a"),
    ]
    text = render(rows)
    parsed = parse(text)
    assert [(r.target, r.server, r.scenario) for r in parsed] == [
        (REAL, "Wan2GP web UI", "a"), (REAL, "Wan2GP web UI", "b"), (STAND_IN, "ComfyUI", "a"), (STAND_IN, "Wan2GP web UI", "b"),
    ]  # fmt: skip
    assert parsed[1].notes == "the server said / no weights"
    assert render(parsed) == text == render(reversed(rows)), "the same rows give the same file"


def test_a_partial_run_replaces_only_the_scenarios_it_ran(tmp_path: Path) -> None:
    table = tmp_path / "compatibility.md"
    rows = [row("ComfyUI", "0.3.64", REAL, "a"), row("ComfyUI", "0.3.64", REAL, "b")]
    update(table, rows)
    again = row("ComfyUI", "0.3.64", REAL, "b", "failed")
    assert update(table, [again], partial=True) == [rows[0], again]
    assert update(table, [again]) == [again]
