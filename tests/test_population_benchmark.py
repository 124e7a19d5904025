"""The population rows of the benchmark (tiny settings; timings are not checked: the machine is shared).

The fast tests check the rows' code paths: the table's numbers are computed from the measured
ones, the GPU rows run their code path (vmap) on the CPU on a tiny setting, and are refused
cleanly where they cannot run. The slow ones run `benchmarks/run.py` end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers import ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.cases import training_cases
from benchmarks.population import members_run, population_cases, run_population
from benchmarks.run import GPU_ROWS, default_cases, main, population_row, population_table


def _side(time_s: float, cpu_s: float, peak: float, **extra: Any) -> dict[str, Any]:
    return {"time_s": time_s, "cpu_s": cpu_s, "peak_rss_mb": peak, **extra}


def _results(name: str, case: dict[str, Any], sides: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "populations": {
            "specs": {name: {"case": case}},
            "data": {name: {"source": "mnist"}},
            "runs": {name: sides},
        }
    }


def test_the_population_rows_ratios_are_computed_from_the_measured_medians() -> None:
    case = population_cases(False)["population_mirror_256"]
    assert len(case["members"]) == 256 and case["target"] == 2.0 and case["per_member_target"] == 0.1
    population = {"epochs": 2000, "members": 256, "mode": "chain", "statuses": ["completed"] * 256}
    sides = {  # medians: hand 1.0 s, dlbench 10.0 s, population 16.0 s (CPU 8, 12)
        "hand": [_side(0.9, 0.9, 300), _side(1.0, 1.0, 300), _side(1.2, 1.1, 300)],
        "dlbench": [_side(10.0, 8.0, 900), _side(9.0, 7.0, 900), _side(11.0, 9.0, 950)],
        "population": [
            _side(16.0, 12.0, 1024, **population),
            _side(15.0, 11.0, 1024, **population),
            _side(30.0, 13.0, 1024, **population),
        ],
    }
    row = population_row(case, sides)
    assert row["time_s"] == {"hand": 1.0, "dlbench": 10.0, "population": 16.0}
    assert row["ratio"] == pytest.approx(1.6)
    assert row["cpu_ratio"] == pytest.approx(12.0 / 8.0)
    assert row["per_member"] == pytest.approx(16.0 / 256 / 1.0)
    table = population_table(_results("population_mirror_256", case, sides))
    lines = table.splitlines()
    assert len(lines) == 3 and all(line.count("|") == lines[0].count("|") for line in lines)
    assert lines[2] == (
        "| mirror symmetry 6-2-1, 2000 epochs: 256 members (4 lr x 64 seeds) vs one run | 1.000 s | 10.000 s | "
        "16.000 s | 1.60x | <= 2.00x | yes | 0.062x (< 0.10x: yes) | 1.50x | 900 | 1024 | 4.0 |"
    )


def test_a_gpu_row_without_a_target_says_so_and_shows_the_gpu_peak() -> None:
    case = population_cases(False)["population_lenet_1024"]
    assert len(case["members"]) == 1024 and case["target"] is None and case.get("gpu")
    population = {"epochs": 3, "members": 1024, "mode": "vmap", "peak_gpu_mb": 5000.0}
    sides = {
        "hand": [_side(2.0, 2.0, 1000, peak_gpu_mb=50.0)],
        "dlbench": [_side(8.0, 8.0, 1500, peak_gpu_mb=60.0)],
        "population": [_side(40.0, 30.0, 4096, **population)],
    }
    line = population_table(_results("population_lenet_1024", case, sides)).splitlines()[2]
    assert line == (
        "| LeNet, MNIST subset, batch 64, 3 epochs, vmap: 1024 members (8 lr x 128 seeds) vs one run | 2.000 s | "
        "8.000 s | 40.000 s | 5.00x | (none yet) |  | 0.020x (< 0.10x: yes) | 3.75x | 1500 | 4096 (GPU 5000) | 4.0 |"
    )


def test_the_issue_27_rows_and_the_gpu_rows_only_with_cuda() -> None:
    cases = population_cases(False)
    assert {name: len(cases[name]["members"]) for name in ("population_mirror_64", "population_iris")} == {
        "population_mirror_64": 64,
        "population_iris": 64,
    }
    assert (cases["population_mirror_64"]["target"], cases["population_iris"]["target"]) == (1.5, 2.0)
    assert set(GPU_ROWS) == {"population_lenet_256", "population_lenet_1024"}
    assert len(cases["population_lenet_256"]["members"]) == 256
    assert not set(GPU_ROWS) & set(default_cases("cpu"))
    assert set(GPU_ROWS) < set(default_cases("cuda"))
    assert set(default_cases("cpu")) >= {"population_mirror_64", "population_mirror_256", "population_iris"}


def test_a_gpu_row_on_the_cpu_without_quick_is_refused_in_one_sentence(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--cases", "population_lenet_256"])
    assert stopped.value.code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .endswith(
            "error: population_lenet_256: GPU rows, run with --device cuda "
            "(on the CPU only with --quick, where --population-mode vmap takes the GPU's path)."
        )
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_a_gpu_row_with_cuda_absent_is_refused_in_one_sentence(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--device", "cuda", "--cases", "population_lenet_256", "population_lenet_1024"])
    assert stopped.value.code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .endswith("--device cuda needs a CUDA GPU and torch sees none on this machine; run without --device (the CPU).")
    )


def test_the_gpu_rows_path_runs_lenet_members_through_vmap_on_the_cpu(tmp_path: Path) -> None:
    """What `population_lenet_256` runs on a GPU, on a tiny setting: LeNet members through vmap
    (forced: on the CPU dlbench would run them one after another), every member to the end."""
    base = training_cases(True, None)["lenet_mnist"]
    spec = {
        **base,
        "epochs": 1,
        "dataset": {**base["dataset"], "root": None, "train_size": 64, "test_size": 16, "batch_size": 32},
        "seed": 42,
        "threads": 1,
        "workdir": str(tmp_path),
        "device": "cpu",
        "precision": "32",
        "compile": False,
        "members": population_cases(True)["population_lenet_256"]["members"],
        "mode": "vmap",
    }
    result = run_population(spec)
    assert result["mode"] == "vmap"
    assert result["members"] == 2 and result["statuses"] == ["completed", "completed"]
    assert result["epochs"] == 1 and result["time_s"] > 0 and result["cpu_s"] > 0
    for member in range(2):
        summary = json.loads((tmp_path / "population" / str(member) / "summary.json").read_text())
        assert summary["status"] == "completed"


def test_the_forced_mode_is_undone_afterwards() -> None:
    from dlbench.population.network import StackedNetwork

    original = StackedNetwork.choose_mode
    chosen: list[str] = []
    with members_run("vmap", chosen):
        assert StackedNetwork.choose_mode is not original
    assert StackedNetwork.choose_mode is original


def _run_benchmark(tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    out = tmp_path / "population.md"
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", *args, "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out.read_text(), json.loads(out.with_suffix(".json").read_text())


@pytest.mark.slow
def test_the_population_rows_run_and_write_their_table(tmp_path: Path) -> None:
    table, raw = _run_benchmark(
        tmp_path,
        "--cases",
        "population_mirror",
        "population_mirror_64",
        "population_mirror_256",
        "population_iris",
    )
    assert "mirror symmetry 6-2-1, 20 epochs: 16 members (4 lr x 4 seeds) vs one run" in table
    assert "mirror symmetry 6-2-1, 20 epochs: 32 members (4 lr x 8 seeds) vs one run" in table
    assert "Iris MLP 4-16-3, 5 epochs: 16 members (8 lr x 2 seeds) vs one run" in table
    runs = raw["populations"]["runs"]
    assert set(runs) == {"population_mirror", "population_mirror_64", "population_mirror_256", "population_iris"}
    for sides in runs.values():
        assert set(sides) == {"hand", "dlbench", "population"}
        population = sides["population"][0]
        assert population["statuses"] == ["completed"] * population["members"]
        assert population["mode"] == "chain"
        assert population["time_s"] > 0 and population["peak_rss_mb"] > 0


@pytest.mark.slow
def test_the_gpu_rows_run_end_to_end_on_the_cpu_through_vmap(tmp_path: Path) -> None:
    table, raw = _run_benchmark(
        tmp_path, "--cases", "population_lenet_256", "population_lenet_1024", "--population-mode", "vmap"
    )
    assert "1 epochs, vmap: 2 members (2 lr x 1 seeds) vs one run" in table
    assert "1 epochs, vmap: 4 members (2 lr x 2 seeds) vs one run" in table
    for sides in raw["populations"]["runs"].values():
        population = sides["population"][0]
        assert population["mode"] == "vmap"
        assert population["statuses"] == ["completed"] * population["members"]


def test_the_population_profile_splits_the_fit_into_its_parts(capsys: pytest.CaptureFixture) -> None:
    from benchmarks.population_profile import PARTS, TOP_LEVEL
    from benchmarks.population_profile import main as profile

    assert profile(["--case", "population_mirror", "--epochs", "3", "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("population_mirror: 16 members, 3 epochs, members run as 'chain'; profiled fit ")
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[1] not in ("seconds", "own s"):
            rows[cells[0]] = (float(cells[1]), float(cells[2].rstrip("%")))
    assert {label.strip() for label, _ in PARTS} <= set(rows)
    assert rows["fit"][1] == 100.0 and rows["fit"][0] > 0
    # the top-level parts and the remainder add up to the fit (the remainder is what they leave)
    top = [rows[label] for label in TOP_LEVEL] + [rows[PARTS[-1][0].strip()]]
    assert sum(seconds for seconds, _ in top) == pytest.approx(rows["fit"][0], abs=0.01 * len(top))
    assert rows["per-member records at each epoch's end (on_train_epoch_end)"][0] > 0
    assert "Per member and epoch (48 in all): the records " in out


def test_the_population_timers_time_the_parts_inside_the_fit_only(capsys: pytest.CaptureFixture) -> None:
    from benchmarks.population_profile import TIMED
    from benchmarks.population_profile import main as profile

    assert profile(["--case", "population_mirror", "--epochs", "2", "--timers"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines()[4:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = (float(cells[1]), int(cells[3]))
    assert set(rows) == {label.strip() for label, *_ in TIMED}
    assert rows["fit"][1] == 1  # the fit's Trainer._run, not the test's after it
    assert rows["training batches (Lightning's training loop, per batch)"][1] == 2  # full batch: one an epoch
    assert rows["running summary.json and the loggers saved (RunRecord.epoch_end)"][1] == 2 * 16  # each member, epoch
    assert all(seconds <= rows["fit"][0] for seconds, _ in rows.values())
