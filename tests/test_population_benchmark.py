"""The population rows of the benchmark run end to end (tiny settings; timings are not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT


@pytest.mark.slow
def test_the_population_rows_run_and_write_their_table(tmp_path: Path) -> None:
    out = tmp_path / "population.md"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--quick",
        "--cases",
        "population_mirror",
        "population_iris",
        "--out",
        str(out),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    table = out.read_text()
    assert "mirror symmetry 6-2-1, 20 epochs: 16 members (4 lr x 4 seeds) vs one run" in table
    assert "Iris MLP 4-16-3, 5 epochs: 16 members (8 lr x 2 seeds) vs one run" in table
    raw = json.loads(out.with_suffix(".json").read_text())
    runs = raw["populations"]["runs"]
    assert set(runs) == {"population_mirror", "population_iris"}
    for sides in runs.values():
        assert set(sides) == {"hand", "dlbench", "population"}
        population = sides["population"][0]
        assert population["statuses"] == ["completed"] * population["members"]
        assert population["time_s"] > 0 and population["peak_rss_mb"] > 0
