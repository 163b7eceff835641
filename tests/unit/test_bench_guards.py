"""Regression guards (bench/guards.py): a guarded figure fails when more than the tolerance worse
than recorded, passes when better, and a guarded figure without a record is an error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench import guards
from bench.core import Row
from bench.runner import GUARDED_COLDSTART, GUARDED_INGEST


def _row(key: str, ratio: float | None) -> Row:
    return Row(
        key=key,
        figure=key,
        value=1.0,
        unit="µs",
        baseline=1.0,
        baseline_label="(floor)",
        ratio=ratio,
        target="<= 4x",
        passed=False,
        note="measured",
    )


GUARDS = guards.Guards(tolerance=0.10, recorded={"ingest.batch.cpu_per_hit": guards.Recorded(6.0, "privacy checks")})


def test_a_figure_more_than_ten_percent_worse_fails() -> None:
    row = guards.guarded([_row("ingest.batch.cpu_per_hit", 6.7)], ["ingest.batch.cpu_per_hit"], GUARDS)[0]

    assert row.passed is False
    assert row.note.startswith("guard: recorded 6.00x, now 6.70x (limit 6.60x; privacy checks); measured")
    assert row.target.startswith("guard:")


@pytest.mark.parametrize("ratio", [5.0, 6.0, 6.59])
def test_a_better_or_slightly_worse_figure_passes(ratio: float) -> None:
    row = guards.guarded([_row("ingest.batch.cpu_per_hit", ratio)], ["ingest.batch.cpu_per_hit"], GUARDS)[0]

    assert row.passed is True


def test_rows_not_guarded_are_left_as_they_are() -> None:
    other = _row("ingest.single.cpu_per_request", 99.0)

    assert guards.guarded([other], [], GUARDS) == [other]


def test_a_guarded_figure_without_a_record_is_an_error() -> None:
    with pytest.raises(guards.GuardError, match="no recorded figure"):
        guards.guarded([_row("coldstart.ingest.bytecode", 1.0)], ["coldstart.ingest.bytecode"], GUARDS)


def test_a_guarded_figure_not_measured_is_an_error() -> None:
    with pytest.raises(guards.GuardError, match="not measured"):
        guards.guarded([], ["ingest.batch.cpu_per_hit"], GUARDS)


def test_a_guarded_figure_without_a_ratio_is_an_error() -> None:
    with pytest.raises(guards.GuardError, match="no ratio"):
        guards.guarded([_row("ingest.batch.cpu_per_hit", None)], ["ingest.batch.cpu_per_hit"], GUARDS)


def test_an_unreadable_record_file_is_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "recorded.json"
    broken.write_text(json.dumps({"tolerance": 0.1, "guards": {"x": {"ratio": "n/a"}}}))

    with pytest.raises(guards.GuardError, match="unreadable"):
        guards.load(broken)


def test_every_row_the_bench_guards_has_its_record_and_the_readme_shows_it() -> None:
    """bench/recorded.json is the one source of the recorded figures: every guarded key has a
    record there, and bench/README.md's table shows each with the same figure."""
    loaded = guards.load()
    readme = (Path(guards.__file__).parent / "README.md").read_text()

    assert loaded.tolerance == pytest.approx(0.10)
    for key in (*GUARDED_INGEST, *GUARDED_COLDSTART):
        assert f"| `{key}` | {loaded.record(key).ratio:.2f}x |" in readme
