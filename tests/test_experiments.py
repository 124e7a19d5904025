"""configs/experiment/: every experiment composes, resolves and states a claim and a budget; the
claim language reads a real run's files; `python -m dlbench.experiments list|check` (fast tier).

The claims themselves, on the experiments' full default runs, are checked by
tests/test_experiment_claims.py (`pytest -m claims`, not in CI: see docs/experiments.md)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from dlbench.config.context import RunContext
from dlbench.config.plan import resolve
from dlbench.experiments import catalog
from dlbench.experiments.check import check, text
from dlbench.experiments.claims import AGGREGATES, JOB_FUNCTIONS, ClaimError, aggregate, evaluate_quantity, parse
from dlbench.experiments.command import main
from dlbench.records.summary import Summary, load_summary

NAMES = catalog.names()


def test_there_are_the_experiments_the_issue_lists() -> None:
    assert len(NAMES) >= 13
    assert {"perceptron", "mirror_1986", "iris", "activations", "initializers", "optimizers"} <= set(NAMES)
    assert {"learning_rate", "batch_size", "early_stopping", "regularizers", "autoencoder_pca", "recurrent"} <= set(
        NAMES
    )
    # issue 28: the three failed set-ups redesigned under new names, and the notes' missing parts
    assert {"early_stopping_small", "optimizers_speed", "regularizers_small"} <= set(NAMES)
    assert {"batchnorm", "dropout_ensemble", "augmentation", "capacity", "xor_1986", "encoder_838"} <= set(NAMES)
    assert {"mdn_inverse", "segmentation_dice", "relu_tanh_cnn"} <= set(NAMES)
    # what a review of issue 28 found missing: depth, the hidden code, batch norm's speed, CIFAR-10
    assert {"capacity_depth", "encoder_838_codes", "batchnorm_speed", "relu_tanh_cifar10"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_experiment_composes_resolves_and_states_claim_and_budget(name: str, make_cfg, monkeypatch) -> None:
    if "gpu" in str(catalog.load(name).budget.get("device", "")).lower():  # checked as on its GPU machine
        monkeypatch.setattr("dlbench.config.early.has_no_gpu", lambda: False)
    cfg = make_cfg(f"experiment={name}")
    plan = sweep = catalog.sweep_plan(name)
    context = RunContext(output_dir=Path(cfg.paths.output_dir), multirun=True, choices=dict(sweep.choices))
    plan = resolve(cfg, context)  # every check the config alone allows
    assert plan.seed == int(cfg.seed)
    experiment = catalog.load(name)  # parses the claim and its quantities
    assert experiment.description and experiment.command == f"python train.py -m experiment={name}"
    assert set(experiment.budget) >= {"jobs", "minutes", "device"}
    assert experiment.budget["jobs"] == sweep.jobs, "budget.jobs must be what the sweep launches"
    assert len(sweep.seeds) >= 5, "a claim is checked over at least five seeds"
    assert float(experiment.budget["minutes"]) > 0


def test_list_prints_every_experiment(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert f"\n{name}\n" in f"\n{out}" and f"python train.py -m experiment={name}" in out


def test_check_of_an_unknown_experiment_names_them_all(capsys, tmp_path: Path) -> None:
    assert main(["check", "no_such", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "there is no experiment 'no_such'; choose one of: activations," in err


@pytest.mark.parametrize(
    "holds_if",
    [
        "__import__('os').system('true')",  # an attribute
        "mean('test/acc')[0] > 1",  # a subscript
        "(lambda: 1)() > 0",
        "eval('1') > 0",  # not a claim function
        "mean('test/acc', setting='x') > 0",  # keyword
        "mean('test/acc') >",  # not an expression
    ],
)
def test_claims_that_are_not_the_language_are_refused(holds_if: str) -> None:
    with pytest.raises(ClaimError) as error:
        parse(holds_if, AGGREGATES, "claim.holds_if")
    assert str(error.value).count(".") >= 1 and "\n" not in str(error.value)


def test_aggregates_count_a_never_as_later_than_any() -> None:
    never = math.inf
    assert aggregate("median", [3.0, never, never]) == never
    assert aggregate("median", [3.0, 5.0, never]) == 5.0
    assert aggregate("count", [3.0, never, 7.0]) == 2.0
    assert aggregate("seeds", [3.0, never]) == 2.0
    assert aggregate("mean", [1.0, never]) == never
    assert math.isnan(aggregate("mean", [1.0, math.nan]))  # a missing number is never skipped
    assert aggregate("std", [1.0, 3.0]) == pytest.approx(math.sqrt(2))


# -- the claim language on a real run's files ------------------------------------------------------
@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    """experiment=iris for 4 epochs and one seed, trained for real in this process (two seconds)."""
    from hydra.core.hydra_config import HydraConfig

    from dlbench.cli import run_job
    from dlbench.config.compose import compose_config

    sweep_dir = tmp_path_factory.mktemp("sweep")
    cfg = compose_config(["experiment=iris", "seeds=1", "trainer.max_epochs=4"], sweep_dir / "0")
    try:
        run_job(cfg)
    finally:
        HydraConfig.instance().cfg = None
    return sweep_dir


def _column(run_dir: Path, key: str) -> list[float]:
    """A metric per epoch as the CSV logger wrote it (another file than summary.json)."""
    with (run_dir / "metrics.csv").open() as handle:
        return [float(row[key]) for row in csv.DictReader(handle) if row.get(key)]


def _quantity(text_: str, summary: Summary) -> float:
    return evaluate_quantity(parse(text_, JOB_FUNCTIONS, "quantity"), summary)


def test_quantities_read_a_real_summary(short_run: Path) -> None:
    run_dir = short_run / "0"
    summary = load_summary(run_dir)
    val_loss, val_acc = _column(run_dir, "val/loss"), _column(run_dir, "val/acc")
    assert len(val_loss) == 4
    assert _quantity("summary('epochs_run')", summary) == 4
    assert _quantity("lowest('val/loss')", summary) == pytest.approx(min(val_loss))
    assert _quantity("history('val/loss', -1)", summary) == pytest.approx(val_loss[-1])
    assert _quantity("history('val/loss', -1) / lowest('val/loss')", summary) == pytest.approx(
        val_loss[-1] / min(val_loss)
    )
    best = max(val_acc)
    assert _quantity(f"first_epoch('val/acc', '>=', {best})", summary) == val_acc.index(best) + 1
    assert _quantity("first_epoch('val/acc', '>', 1.0)", summary) == math.inf  # never
    assert _quantity("metric('test/acc')", summary) == pytest.approx(summary.metrics.test["acc"])
    assert _quantity("best()", summary) == pytest.approx(min(val_loss))  # monitor val/loss, mode min
    assert _quantity("summary('epochs_to_criterion')", summary) == math.inf  # no criterion: never met


def test_check_on_a_real_run_gives_the_numbers_and_the_deviations(short_run: Path, capsys) -> None:
    import json

    verdict = check("iris", short_run)
    accuracy = json.loads((short_run / "0" / "summary.json").read_text())["metrics"]["test"]["acc"]
    assert verdict.held is (accuracy >= 0.95)
    assert verdict.lines[-1].endswith("yes" if verdict.held else "no")
    assert f"{accuracy:.4g}" in verdict.lines[0] or str(int(accuracy)) in verdict.lines[0]
    assert any("seeds=1 (the experiment runs 5)" in line for line in verdict.deviations)
    assert any("trainer.max_epochs=4 on top of the experiment" in line for line in verdict.deviations)
    assert "The runs deviate from the experiment's settings" in text(verdict)
    assert main(["check", "iris", str(short_run)]) == (0 if verdict.held else 1)
    out = capsys.readouterr().out
    assert ("Verdict: HELD" if verdict.held else "Verdict: DID NOT HOLD") in out


# -- a real multirun of an experiment, with overrides on top ---------------------------------------
@pytest.mark.slow  # about 20 s: ten jobs of one epoch as one population, through `python train.py -m`
def test_a_real_sweep_of_an_experiment_ends_with_its_verdict(tmp_path: Path) -> None:
    import json

    import helpers

    sweep_dir = tmp_path / "sweep"
    command = ("-m", "experiment=learning_rate", "trainer.max_epochs=1", "seeds=2", f"hydra.sweep.dir={sweep_dir}")
    result = helpers.run_cli(*command)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((sweep_dir / "experiment_check.json").read_text())
    report = (sweep_dir / "report.md").read_text()
    assert "## Experiment learning_rate: the claim" in report and "The runs deviate from the experiment" in report
    assert any("trainer.max_epochs=1 on top of the experiment" in line for line in record["deviations"])
    assert any("seeds=2 (the experiment runs 5)" in line for line in record["deviations"])
    # the claim's numbers, recomputed from the CSV logger's files: best = the lowest val/loss of a job
    lowest: dict[str, list[float]] = {}
    for run_dir in sorted(path.parent for path in sweep_dir.glob("*/metrics.csv")):
        rate = json.loads((run_dir / "summary.json").read_text())["config"]["optimizer"]["lr"]
        lowest.setdefault(f"{rate:g}", []).append(min(_column(run_dir, "val/loss")))
    assert sorted(lowest) == ["0.001", "0.01", "0.1", "1", "10"] and all(len(v) == 2 for v in lowest.values())
    # each comparison: the paired t interval of the per-seed differences, recomputed with scipy's own test
    from scipy import stats

    by_test = {item["test"]: item for item in record["comparisons"]}
    for other in ("0.001", "10"):
        item = by_test[f"lower(best, 0.1, {other})"]
        reference = stats.ttest_rel(lowest["0.1"], lowest[other]).confidence_interval(0.95)
        assert item["seeds"] == 2 and item["difference"] == pytest.approx((sum(lowest["0.1"]) - sum(lowest[other])) / 2)
        assert item["interval_95"] == pytest.approx([reference.low, reference.high])
        assert item["holds"] == (reference.high < 0)
        line = next(line for line in record["numbers"] if line.startswith(f"lower(best, 0.1, {other}):"))
        assert "(95% paired t, 2 seeds)" in line and line.endswith("yes" if item["holds"] else "no")
    assert record["held"] == (check("learning_rate", sweep_dir).held)


# -- the gallery page -------------------------------------------------------------------------------
def test_the_gallery_says_never_only_for_a_criterion_and_a_dash_for_what_was_not_logged() -> None:
    from dlbench.experiments.gallery import spread_text

    assert spread_text([math.nan, math.nan]) == "-"  # e.g. test/data_loss of a net without penalty
    assert spread_text([math.inf, math.inf]) == "never"
    assert spread_text([3.0, math.inf]) == "1/2 reached (median 3; 1 never)"
    assert spread_text([1.0, 3.0]) == "2 ± 1.414"


def test_the_gallery_escapes_what_users_wrote() -> None:
    from dlbench.experiments.gallery import cell, text_of

    assert text_of("a <b> & c") == "a &lt;b&gt; &amp; c"
    assert cell("model=<script>|x") == "model=&lt;script&gt;&#124;x"


def test_every_gallery_row_names_the_code_it_ran() -> None:
    """docs/experiments.md's verdict table: every experiment has a row, and a row with a verdict
    names the commit its run was made at (a commit of this repository), so a row that no longer
    matches the code can be told from one that does (python -m dlbench.experiments gallery --run)."""
    import subprocess

    from dlbench.experiments.gallery import END, PAGE, START

    page = PAGE.read_text()
    part = page[page.index(START) : page.index(END)]
    rows = [line for line in part.splitlines() if line.startswith("| [")]
    assert sorted(row.split("](")[0][3:] for row in rows) == NAMES
    for row in rows:
        cells = [item.strip() for item in row.strip("|").split(" | ")]
        if cells[1] == "not yet run here":
            continue
        commit = cells[-1].removesuffix("+changes")
        assert commit != "not recorded", row
        known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=PAGE.parent, check=False)
        assert known.returncode == 0, f"{row}: {commit} is not a commit here"
