"""The comparison report over seeds: settings, their mean +- std, min and max, bands, and overlaps.

The sweeps here are written as files in the layout a multirun leaves (a `summary.json` per job):
the report reads only those files, whatever ran the jobs (a real seeded multirun is in
test_population_launcher.py).
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from dlbench.reporting.comparison import write_report
from dlbench.reporting.seeds import Spread


def _job(sweep_dir: Path, number: int, lr: str, seed: int, best: float, test_acc: float, status: str = "completed"):
    history = [
        {"epoch": float(epoch), "val/loss": best + 0.1 * (2 - epoch), "val/acc": 0.5 + 0.1 * epoch}
        for epoch in range(3)
    ]
    summary = {
        "status": status,
        "stop_reason": "reached max_epochs=3",
        "metrics": {"train": {}, "val": {"loss": best}, "test": {"acc": test_acc}},
        "best": {"epoch": 2, "metric": "val/loss", "value": best},
        "epochs_run": 3,
        "history": history,
        "overrides": [f"optimizer.lr={lr}", "seeds=3", f"seed={seed}"],
        "config": {"monitor": "val/loss", "monitor_mode": "min"},
    }
    (sweep_dir / str(number)).mkdir(parents=True)
    (sweep_dir / str(number) / "summary.json").write_text(json.dumps(summary))


SWEEP = {  # lr -> (best val/loss, test/acc) for seeds 42, 43, 44
    "0.1": [(0.20, 0.90), (0.22, 0.93), (0.21, 0.90)],
    "0.01": [(0.21, 0.86), (0.25, 0.90), (0.23, 0.88)],
    "0.001": [(0.60, 0.60), (0.62, 0.63), (0.61, 0.60)],
}


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    number = 0
    for lr, runs in SWEEP.items():
        for seed, (best, test_acc) in zip((42, 43, 44), runs, strict=True):
            _job(tmp_path, number, lr, seed, best, test_acc)
            number += 1
    return tmp_path


def test_a_seeded_sweep_gets_mean_std_min_max_per_setting(seeded: Path) -> None:
    written = {path.name for path in write_report(seeded)}
    assert {
        "report.csv",
        "report.md",
        "report_by_setting.csv",
        "val_curves.png",
        "final_vs_optimizer_lr.png",
    } <= written
    assert "final_vs_seed.png" not in written  # the seed is what is averaged over, not a setting
    with (seeded / "report_by_setting.csv").open() as handle:
        rows = {row["optimizer.lr"]: row for row in csv.DictReader(handle)}
    assert list(rows) == ["0.1", "0.01", "0.001"]
    for lr, runs in SWEEP.items():
        bests = [best for best, _ in runs]
        row = rows[lr]
        assert row["seeds"] == "42 43 44" and row["completed"] == "3"
        assert float(row["best_value_mean"]) == pytest.approx(statistics.fmean(bests))
        assert float(row["best_value_std"]) == pytest.approx(statistics.stdev(bests))
        assert float(row["best_value_min"]) == min(bests) and float(row["best_value_max"]) == max(bests)
        assert float(row["test/acc_mean"]) == pytest.approx(statistics.fmean(acc for _, acc in runs))
    assert rows["0.1"]["overlaps"] == "optimizer.lr=0.01"
    assert rows["0.001"]["overlaps"] == ""
    markdown = (seeded / "report.md").read_text()
    assert "## Over seeds" in markdown
    assert "| optimizer.lr=0.1 | 3 | 0.21 ± 0.01 [0.2, 0.22] |" in markdown
    assert "optimizer.lr=0.1 (0.21 ± 0.01) and optimizer.lr=0.01 (0.23 ± 0.02)" in markdown
    assert (
        "intervals (mean ± std over 3 and 3 seeds) overlap: with these seeds the two cannot be told apart." in markdown
    )
    assert "optimizer.lr=0.01 (0.23 ± 0.02) and optimizer.lr=0.001 (0.61 ± 0.01)" in markdown
    assert "do not overlap: the difference is larger than the seed-to-seed spread." in markdown
    with (seeded / "report.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 9  # the per-job table is unchanged


def test_a_sweep_without_seeds_has_no_setting_table(tmp_path: Path) -> None:
    for number, lr in enumerate(("0.1", "0.01")):
        _job(tmp_path, number, lr, 42, 0.2 + number, 0.9)
    written = {path.name for path in write_report(tmp_path)}
    assert "report_by_setting.csv" not in written
    assert "## Over seeds" not in (tmp_path / "report.md").read_text()


def test_failed_seeds_are_left_out_of_the_statistics_and_counted(tmp_path: Path) -> None:
    _job(tmp_path, 0, "0.1", 42, 0.2, 0.9)
    _job(tmp_path, 1, "0.1", 43, 0.4, 0.8)
    _job(tmp_path, 2, "0.1", 44, 0.3, 0.85, status="diverged")
    (tmp_path / "3").mkdir()  # a job that left no summary at all
    (tmp_path / "3" / ".hydra").mkdir()
    (tmp_path / "3" / ".hydra" / "overrides.yaml").write_text("- optimizer.lr=0.1\n- seeds=3\n- seed=45\n")
    write_report(tmp_path)
    with (tmp_path / "report_by_setting.csv").open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["completed"] == "2" and row["seeds"] == "42 43 44 45"
    assert float(row["best_value_mean"]) == pytest.approx(0.3)  # the three with a best value


def test_spread_intervals() -> None:
    a, b = Spread.of([1.0, 2.0, 3.0]), Spread.of([3.5, 4.0, 4.5])
    assert (a.mean, a.std, a.min, a.max, a.n) == (2.0, 1.0, 1.0, 3.0, 3)
    assert a.overlaps(Spread.of([2.9, 3.1])) and not a.overlaps(b)
    assert Spread.of([float("nan")]).n == 0 and not Spread.of([]).overlaps(a)
    assert Spread.of([5.0]).std == 0.0


def test_over_seeds_says_how_many_epochs_each_setting_took_to_the_criterion(tmp_path: Path) -> None:
    reached = {("0.1", 42): 30, ("0.1", 43): 50, ("0.1", 44): None, ("0.5", 42): 10, ("0.5", 43): 12, ("0.5", 44): 14}
    for number, ((lr, seed), epochs) in enumerate(reached.items()):
        _job(tmp_path, number, lr, seed, 0.2, 0.9)
        path = tmp_path / str(number) / "summary.json"
        summary = json.loads(path.read_text())
        summary.update(criterion={"name": "within", "tolerance": 0.1}, epochs_to_criterion=epochs)
        path.write_text(json.dumps(summary))
    write_report(tmp_path)
    report = (tmp_path / "report.md").read_text()
    over_seeds = report.split("## Over seeds", 1)[1]
    assert "epochs to criterion" in over_seeds
    (slow,) = [line for line in over_seeds.splitlines() if line.startswith("| optimizer.lr=0.1 |")]
    (fast,) = [line for line in over_seeds.splitlines() if line.startswith("| optimizer.lr=0.5 |")]
    assert slow.rstrip(" |").endswith("(2 of 3)") and "40" in slow  # the mean of 30 and 50; one never reached
    assert fast.rstrip(" |").endswith("(3 of 3)") and "12" in fast
    assert "2 settings;" in over_seeds
    with (tmp_path / "report_by_setting.csv").open() as handle:
        rows = {row["optimizer.lr"]: row for row in csv.DictReader(handle)}
    assert float(rows["0.5"]["epochs_to_criterion_mean"]) == pytest.approx(12)


def test_counts_read_as_words() -> None:
    from dlbench.terminal.wording import plural

    assert (plural(1, "job"), plural(2, "job"), plural(0, "setting")) == ("1 job", "2 jobs", "0 settings")
