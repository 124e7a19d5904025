"""`hydra/launcher=population` as a user runs it, the grouping rule, what runs alone and why, and `seeds`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dlbench.config.compose import compose_config
from dlbench.population.grouping import blocker, differing_keys, group_key
from helpers import ROOT, run_cli, start_cli

POPULATION = "hydra/launcher=population"


def _key(tmp_path: Path, *overrides: str) -> str:
    return group_key(_resolved(tmp_path, *overrides))


def _resolved(tmp_path: Path, *overrides: str):
    """The job's config as the launcher groups it: its plan's config (resolved, without `hydra`)."""
    from omegaconf import OmegaConf

    from dlbench.config.context import from_hydra
    from dlbench.config.plan import resolve

    cfg = compose_config(list(overrides), tmp_path / "run")
    return OmegaConf.create(dict(resolve(cfg, from_hydra()).config))


def test_jobs_that_differ_in_per_member_values_share_a_population(tmp_path: Path) -> None:
    base = _key(tmp_path)
    for overrides in (
        ["seed=7"],
        ["optimizer.lr=0.5"],
        ["initializer=he_normal"],
        ["initializer=orthogonal", "initializer.gain=2"],
        ["optimizer.weight_decay=0.01"],
    ):
        assert _key(tmp_path, *overrides) == base, overrides
    # the optimizer's and the scheduler's class are per member: each member steps its own torch ones
    for optimizer in ("momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"):
        assert _key(tmp_path, f"optimizer={optimizer}") == base, optimizer
    assert _key(tmp_path, "optimizer=momentum", "optimizer.momentum=0.5") == base
    assert _key(tmp_path, "trainer.max_epochs=7") == base  # a member of fewer epochs stops at its own max
    for scheduler in ("step", "plateau", "cosine", "warmup"):
        assert _key(tmp_path, f"scheduler={scheduler}") == base, scheduler
    assert _key(tmp_path, "scheduler=step", "scheduler.gamma=0.5", "scheduler.step_size=3") == base
    # an L1/L2 penalty, present or not: a member without one adds exactly 0 and writes no penalty columns
    assert _key(tmp_path, "regularizer=[l2]") == _key(tmp_path, "regularizer=[l2]", "penalty.l2=0.1") == base
    assert _key(tmp_path, "regularizer=[l1,l2]") == base
    dropout = _key(tmp_path, "regularizer=[dropout]")
    assert _key(tmp_path, "regularizer=[dropout]", "model.dropout=0.2") == dropout != base  # a Dropout layer or not
    assert _key(tmp_path, "regularizer=[input_noise]", "task.input_noise=0.3") == base
    for activation in ("tanh", "sigmoid", "leaky_relu", "elu", "softplus", "gelu"):  # elementwise: per member
        assert _key(tmp_path, f"model.activation={activation}") == base, activation
        assert _key(tmp_path, "model=lenet", "dataset=digits", f"model.activation={activation}") == _key(
            tmp_path, "model=lenet", "dataset=digits"
        ), activation


def test_jobs_that_differ_in_shapes_data_or_unknown_keys_are_apart(tmp_path: Path) -> None:
    base = _key(tmp_path)
    apart = {
        "model.hidden=[8,8]": ["model.hidden=[8,8]"],  # another depth: other parameters
        "dataset.batch_size=32": ["dataset.batch_size=32"],
        "dataset=wine": ["dataset=wine"],
        "model.activation=maxout": ["model.activation=maxout"],  # widens the layer before it
        "model.activation=prelu": ["model.activation=prelu"],  # has a parameter
        "regularizer=[dropout]": ["regularizer=[dropout]"],  # a Dropout layer moves the later layers' names
        "+anything.new=1": ["+anything.new=1"],
    }
    keys = {name: _key(tmp_path, *overrides) for name, overrides in apart.items()}
    for name, key in keys.items():
        assert key != base, name
    assert differing_keys([base, keys["model.hidden=[8,8]"]]) == ["model.hidden"]
    assert differing_keys([base, keys["+anything.new=1"]]) == ["anything.new"]
    assert _key(tmp_path, "+anything.new=1") != _key(tmp_path, "+anything.new=2")


def test_mlps_of_other_hidden_widths_at_one_depth_share_a_population(tmp_path: Path) -> None:
    """`model.hidden` is per member for a plain MLP of one depth (members padded to the widest);
    another depth, batch norm or another architecture keeps the widths in the identity."""
    one_layer = {_key(tmp_path, f"model.hidden=[{width}]") for width in (4, 16, 64)}
    assert len(one_layer) == 1
    two_layers = _key(tmp_path, "model.hidden=[16,8]")
    assert _key(tmp_path, "model.hidden=[4,64]") == two_layers != next(iter(one_layer))
    assert differing_keys([next(iter(one_layer)), two_layers]) == ["model.hidden"]
    batch_norm = [_key(tmp_path, "regularizer=[batchnorm]", f"model.hidden=[{width}]") for width in (4, 16)]
    assert batch_norm[0] != batch_norm[1] and differing_keys(batch_norm) == ["model.hidden"]
    autoencoder = [_key(tmp_path, "model=autoencoder", f"model.hidden=[{width}]") for width in (8, 16)]
    assert autoencoder[0] != autoencoder[1] and differing_keys(autoencoder) == ["model.hidden"]
    # a denoising autoencoder's noise, zero or not: the same modules, each member draws its own
    assert _key(tmp_path, "model=autoencoder", "model.noise_std=0.3") == _key(tmp_path, "model=autoencoder")


@pytest.mark.parametrize(
    "overrides",
    [
        ["callbacks.layer_stats.enabled=true"],
        ["criterion=within"],
        ["model=autoencoder", "+callbacks.pca_baseline._target_=dlbench.callbacks.pca_baseline.PCABaseline"],
        ["regularizer=[dropout]", "+callbacks.ensemble._target_=dlbench.callbacks.dropout_ensemble.DropoutEnsemble"],
        ["dataset=digits", "regularizer=[augment]"],
    ],
)
def test_what_each_member_measures_or_draws_on_its_own_joins_a_population(tmp_path: Path, overrides) -> None:
    """Layer statistics, the stop-at-criterion callback, the PCA baseline, the dropout ensemble and
    data augmentation: each member's own (tests/test_population_run.py), so no job runs alone for them."""
    assert blocker(_resolved(tmp_path, "trainer=cpu", *overrides)) is None


@pytest.mark.parametrize(
    "overrides,named",
    [
        (["regularizer=[weight_noise]"], "callbacks.weight_noise (dlbench.callbacks.weights.WeightNoise)"),
        (["tune=lr"], "tune.lr_find=true"),
        (["trainer=ddp_cpu"], "trainer.devices=2"),
        (["compile=true"], "compile=True"),
        (["regularizer=[dropout]", "trainer=default"], "model.dropout=0.5"),
        (["model=autoencoder", "model.sparsity=0.01"], "model.sparsity=0.01"),
        (["regularizer=[adversarial]"], "task.adversarial_epsilon=0.1"),
        (["regularizer=[batchnorm]", "trainer=default"], "model.batch_norm=true"),
        (["regularizer=[input_noise]", "trainer=default"], "task.input_noise=0.1"),
        (["regularizer=[activity_l1]"], "penalty.activity_l1=0.001"),
        (["+trainer.accumulate_grad_batches=2"], "trainer.accumulate_grad_batches=2"),
        (["debug=overfit"], "trainer.overfit_batches=1"),
        (["trainer.precision=bf16-mixed"], "trainer.precision=bf16-mixed"),
        (["optimizer._target_=torch.optim.LBFGS", "~optimizer.weight_decay"], "optimizer._target_=torch.optim.LBFGS"),
        (["+callbacks.probe._target_=benchmarks.probe.FirstStep"], "callbacks.probe (benchmarks.probe.FirstStep)"),
        # Lightning's own name for a best checkpoint ("epoch=3-step=12.ckpt") changes with each save
        (["callbacks.model_checkpoint.filename=null"], "callbacks.model_checkpoint.filename=None"),
    ],
)
def test_what_a_population_cannot_express_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides, named
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # `benchmarks.probe` importable, as from the folder of train.py
    reason = blocker(_resolved(tmp_path, *overrides))
    assert reason is not None and named in reason and "\n" not in reason, reason


def test_what_a_population_can_express_has_no_blocker(tmp_path: Path) -> None:
    for overrides in (
        [],
        ["optimizer=adam", "scheduler=cosine", "regularizer=[l2,early_stopping]"],
        ["model=lstm", "dataset=parity", "optimizer=rmsprop"],
        ["model=lenet", "dataset=digits", "dataset.size=28", "optimizer=adagrad", "initializer=xavier_uniform"],
        ["model=autoencoder"],
        ["regularizer=[label_smoothing,early_stopping]", "callbacks.early_stopping.patience=3"],
        ["regularizer=[dropout,input_noise]"],
        ["regularizer=[batchnorm,dropout]"],
        ["regularizer=[dropout,max_norm]", "trainer.gradient_clip_val=1.0"],
        ["model=denoising_autoencoder"],
        ["debug=limit"],
        ["logger=[csv,wandb]"],
    ):
        assert blocker(_resolved(tmp_path, *overrides)) is None, overrides


def _rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "report.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_a_sweep_with_seeds_runs_as_populations_and_what_cannot_join_runs_alone(tmp_path: Path) -> None:
    """8 jobs (2 rates x 2 regularizers x seeds=2): the 4 without weight noise are one
    population, the 4 with weight noise run alone, each after one line naming the key."""
    sweep_dir = tmp_path / "sweep"
    result = run_cli(
        "-m",
        POPULATION,
        "optimizer.lr=0.1,0.3",
        "regularizer=[],[weight_noise]",
        "seeds=2",
        "trainer.max_epochs=2",
        "callbacks.pictures.enabled=false",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    lines = [line for line in out.splitlines() if line.startswith("population:")]
    alone = [
        line for line in lines if "runs alone: callbacks.weight_noise (dlbench.callbacks.weights.WeightNoise)" in line
    ]
    assert len(alone) == 4, lines
    assert "population: 4 jobs train together as one population: 0, 1, 4, 5" in lines
    rows = _rows(sweep_dir)
    assert [row["job"] for row in rows] == [str(n) for n in range(8)]
    assert {row["status"] for row in rows} == {"completed"}
    summaries = {n: json.loads((sweep_dir / str(n) / "summary.json").read_text()) for n in range(8)}
    together = [n for n, summary in summaries.items() if "population" in summary["devices"]]
    assert together == [0, 1, 4, 5]
    assert [summaries[n]["seed"] for n in range(8)] == [42, 43] * 4
    for n in range(8):
        assert (sweep_dir / str(n) / ".hydra" / "overrides.yaml").exists()
        overrides = OmegaConf.load(sweep_dir / str(n) / ".hydra" / "overrides.yaml")
        assert list(overrides) == summaries[n]["overrides"]
        assert set(summaries[n]) == set(summaries[2])  # a member's summary has a run alone's keys
    again = subprocess.run(
        [sys.executable, "-m", "dlbench.report", str(sweep_dir)], capture_output=True, text=True, cwd=ROOT
    )
    assert again.returncode == 0, again.stderr
    assert (sweep_dir / "report.md").exists()


def test_seeds_must_be_a_whole_number_of_at_least_one(tmp_path: Path) -> None:
    for value in ("0", "-2", "1.5"):
        result = run_cli("-m", f"seeds={value}", f"hydra.sweep.dir={tmp_path / value}")
        assert result.returncode == 2, result.stderr[-2000:]
        (line,) = [line for line in result.stderr.splitlines() if line.strip()]
        assert line.startswith(f"error: seeds={value}") and "seeds=5" in line, line
    single = run_cli("seeds=3", f"hydra.run.dir={tmp_path / 'single'}")
    assert single.returncode == 2
    assert single.stderr.strip() == (
        "error: seeds=3 repeats every setting over 3 seeds, which takes a multirun; add -m "
        "(python train.py -m seeds=3 ...)."
    )
    both = run_cli("-m", "seeds=2", "seed=1,2", f"hydra.sweep.dir={tmp_path / 'both'}")
    assert both.returncode == 2
    assert "both choose the seeds" in both.stderr
    search = run_cli("-m", "hparams_search=optuna", "seeds=3", f"hydra.sweep.dir={tmp_path / 'search'}")
    assert search.returncode == 2
    assert search.stderr.startswith("error: seeds=3 repeats every setting of a sweep over seeds, but hparams_search")


@pytest.mark.slow
def test_seeds_expand_every_setting_with_the_basic_launcher_too(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "basic"
    result = run_cli(
        "-m", "optimizer.lr=0.1,0.2", "seeds=3", "seed=7", "trainer.max_epochs=1", f"hydra.sweep.dir={sweep_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = _rows(sweep_dir)
    assert [(row["optimizer.lr"], row["seed"]) for row in rows] == [
        ("0.1", "7"),
        ("0.1", "8"),
        ("0.1", "9"),
        ("0.2", "7"),
        ("0.2", "8"),
        ("0.2", "9"),
    ]
    assert "population:" not in result.stdout


def test_a_named_sweep_under_the_population_launcher_takes_five_seeds(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from dlbench.config.seeds import seeded_arguments

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
            population = compose("train", overrides=["sweep=lr", POPULATION], return_hydra_config=True)
            basic = compose("train", overrides=["sweep=lr"], return_hydra_config=True)
            explicit = compose("train", overrides=["sweep=lr", POPULATION, "seeds=2"], return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    assert seeded_arguments(population, ["sweep=lr"], {}) == ["sweep=lr", "seeds=5", "seed=42,43,44,45,46"]
    assert seeded_arguments(basic, ["sweep=lr"], {}) == ["sweep=lr"]
    assert seeded_arguments(explicit, ["sweep=lr", "seeds=2"], {}) == ["sweep=lr", "seeds=2", "seed=42,43"]


@pytest.mark.slow
def test_each_member_is_its_own_wandb_run_in_the_sweeps_group(tmp_path: Path, no_account: None) -> None:
    from dlbench.loggers.wandb_logger import sweep_group
    from test_wandb_logger import inspect_summary, run_record

    sweep_dir = tmp_path / "multirun" / "2026-01-01" / "12-00-00-population"
    result = run_cli(
        "-m",
        POPULATION,
        "logger=[csv,wandb]",
        "optimizer.lr=0.1,0.01",
        "trainer.max_epochs=2",
        f"hydra.sweep.dir={sweep_dir}",
        env={"WANDB_MODE": "offline"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "population: 2 jobs train together" in result.stdout
    runs = sorted(sweep_dir.glob("*/wandb/offline-run-*"))
    assert len(runs) == 2
    records = [run_record(run) for run in runs]
    assert len({record["run_id"] for record in records}) == 2
    assert {record["run_group"] for record in records} == {sweep_group(sweep_dir)}
    read = [inspect_summary(run) for run in runs]
    assert sorted(run["config"]["optimizer.lr"] for run in read) == [0.01, 0.1]
    assert {run["state"] for run in read} == {"finished"}
    for run, job in zip(read, ("0", "1"), strict=True):
        summary = json.loads((sweep_dir / job / "summary.json").read_text())
        assert run["summary"]["epochs_run"] == summary["epochs_run"] == 2
        assert run["summary"]["best/val/loss"] == pytest.approx(summary["best"]["value"])


@pytest.mark.slow
def test_an_interrupted_population_records_every_member_and_its_last_checkpoint(tmp_path: Path) -> None:
    import signal
    import time

    sweep_dir = tmp_path / "interrupted"
    process = start_cli("-m", POPULATION, "seed=1,2", "trainer.max_epochs=100000", f"hydra.sweep.dir={sweep_dir}")
    deadline = time.time() + 180
    while not (sweep_dir / "1" / "checkpoints" / "best.ckpt").exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode != 0
    for job in ("0", "1"):
        summary = json.loads((sweep_dir / job / "summary.json").read_text())
        assert summary["status"] == "interrupted"
        last = torch_load(sweep_dir / job / "checkpoints" / "last.ckpt")
        assert last["epoch"] >= summary["epochs_run"] - 1


def torch_load(path: Path) -> dict:
    import torch

    return torch.load(path, weights_only=False)
