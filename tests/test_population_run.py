"""A population trained in one process against the same overrides run alone: histories, records,
checkpoints that evaluate and resume, members that stop on their own (early stopping, divergence)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from dlbench.config.compose import compose_config
from population_helpers import alone, population, worst_difference

FAST = ["trainer.max_epochs=4", "callbacks.pictures.enabled=false"]


def _same_state(ours: object, theirs: object, mine: str, alone_dir: str) -> bool:
    """A callback's state in a member's checkpoint against the run alone's: the same keys and values,
    paths read with the member's directory in place of the run alone's, scores within 1e-5."""
    if isinstance(theirs, dict):
        ours_keys = {str(k).replace(mine, alone_dir): k for k in ours}
        return set(ours_keys) == set(map(str, theirs)) and all(
            _same_state(ours[ours_keys[str(k)]], v, mine, alone_dir) for k, v in theirs.items()
        )
    if isinstance(theirs, torch.Tensor):
        return isinstance(ours, torch.Tensor) and float(ours) == pytest.approx(float(theirs), rel=1e-5)
    if isinstance(theirs, str):
        return isinstance(ours, str) and ours.replace(mine, alone_dir) == theirs
    return ours == theirs


def _settings(*rows: list[str]) -> list[list[str]]:
    return [[*row, *FAST] for row in rows]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_members_train_and_record_as_their_runs_alone(tmp_path: Path) -> None:
    """Four members (2 learning rates x 2 seeds): each one's history, test metrics, summary keys,
    metrics.csv and checkpoints are those of the same overrides run alone."""
    settings = _settings(*[[f"seed={seed}", f"optimizer.lr={lr}"] for lr in (0.1, 0.3) for seed in (1, 2)])
    members: list[Any] = []
    together = population(tmp_path, settings, built=members)
    apart = alone(tmp_path, settings)
    for index, (member, single) in enumerate(zip(together, apart, strict=True)):
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (index, worst, where)
        assert set(member) == set(single)
        assert member["status"] == single["status"] == "completed"
        assert member["stop_reason"] == single["stop_reason"]
        assert member["best"]["epoch"] == single["best"]["epoch"]
        for key, value in single["metrics"]["test"].items():
            assert member["metrics"]["test"][key] == pytest.approx(value, rel=1e-5)
        assert member["devices"]["population"] == {"size": 4, "member": index}
        assert member["seed"] == single["seed"] and member["lr"] == single["lr"]
        held = {key: value for key, value in member["last_checkpoint"].items() if key != "path"}
        assert held == {key: value for key, value in single["last_checkpoint"].items() if key != "path"}
        assert member["last_checkpoint"]["path"].endswith(f"pop/{index}/checkpoints/last.ckpt")
        rows_member = _csv(tmp_path / "pop" / str(index) / "metrics.csv")
        rows_single = _csv(tmp_path / "alone" / str(index) / "metrics.csv")
        assert list(rows_member[0]) == list(rows_single[0])
        assert len(rows_member) == len(rows_single) == 5  # four epochs and the test row
        for column in ("step", "epoch"):  # the test row, logged at the end as Lightning logs it
            assert rows_member[-1][column] == rows_single[-1][column]
        for name in ("best.ckpt", "last.ckpt"):
            ours = torch.load(tmp_path / "pop" / str(index) / "checkpoints" / name, weights_only=False)
            theirs = torch.load(tmp_path / "alone" / str(index) / "checkpoints" / name, weights_only=False)
            assert list(ours) == list(theirs)
            assert ours["loops"] == theirs["loops"]
            assert (ours["epoch"], ours["global_step"]) == (theirs["epoch"], theirs["global_step"])
            assert ours["optimizer_states"][0]["param_groups"] == theirs["optimizer_states"][0]["param_groups"]
            assert list(ours["state_dict"]) == list(theirs["state_dict"])
            for key, tensor in theirs["state_dict"].items():
                torch.testing.assert_close(ours["state_dict"][key], tensor, rtol=1e-5, atol=1e-6)
            ((key, state),) = theirs["callbacks"].items()
            assert _same_state(ours["callbacks"][key], state, f"pop/{index}", f"alone/{index}"), (key, name)
            assert ours["callbacks"][key]["best_model_path"].endswith(f"pop/{index}/checkpoints/best.ckpt")
            assert ours["dlbench_config"]["optimizer"]["lr"] == theirs["dlbench_config"]["optimizer"]["lr"]
        # the member's checkpoint callback after training (its best value was kept apart, `TopOnes`)
        # is its run alone's as of its final last.ckpt, best score included
        (callback,) = [c for c in members[index].callbacks if isinstance(c, ModelCheckpoint)]
        final = torch.load(tmp_path / "alone" / str(index) / "checkpoints" / "last.ckpt", weights_only=False)
        ((key, state),) = final["callbacks"].items()
        assert _same_state(callback.state_dict(), state, f"pop/{index}", f"alone/{index}"), index


def test_any_torch_optimizer_steps_each_member_as_its_run_alone(tmp_path: Path) -> None:
    """NAdam has no stacked update: each member's own torch NAdam steps its slice of the stacked
    weights, so its history is its run alone's and its checkpoints hold torch's own optimizer state."""
    nadam = ["optimizer=adam", "optimizer._target_=torch.optim.NAdam"]
    settings = _settings([*nadam, "seed=1", "optimizer.lr=0.01"], [*nadam, "seed=2", "optimizer.lr=0.03"])
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    for index, (member, single) in enumerate(zip(together, apart, strict=True)):
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (index, worst, where)
        ours = torch.load(tmp_path / "pop" / str(index) / "checkpoints" / "last.ckpt", weights_only=True)
        theirs = torch.load(tmp_path / "alone" / str(index) / "checkpoints" / "last.ckpt", weights_only=True)
        (own,), (alone_state,) = ours["optimizer_states"], theirs["optimizer_states"]
        assert own["param_groups"] == alone_state["param_groups"]
        assert set(own["state"]) == set(alone_state["state"]) and own["state"]
        for position, state in alone_state["state"].items():
            assert set(own["state"][position]) == set(state)  # step, exp_avg, exp_avg_sq, mu_product
            for key, value in state.items():
                torch.testing.assert_close(own["state"][position][key], value, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_member_checkpoints_evaluate_and_resume_as_a_normal_run(tmp_path: Path) -> None:
    from dlbench.run import train

    settings = _settings(["seed=3", "optimizer=momentum"], ["seed=4", "optimizer=momentum", "optimizer.lr=0.05"])
    together = population(tmp_path, settings)
    member = together[1]
    best = member["checkpoints"]["best"]
    evaluate = compose_config(["train=false", f"ckpt_path={best}"], tmp_path / "evaluate")
    train(evaluate)
    evaluated = json.loads((tmp_path / "evaluate" / "summary.json").read_text())
    for key, value in member["metrics"]["test"].items():
        assert evaluated["metrics"]["test"][key] == pytest.approx(value, rel=1e-6)
    # resuming: the member's last checkpoint continues as the run alone's last checkpoint does
    more = [*settings[1][:-2], "trainer.max_epochs=6", "callbacks.pictures.enabled=false"]
    single = alone(tmp_path, [settings[1]])[0]
    histories = []
    for name, last in (("member", member["checkpoints"]["last"]), ("single", single["checkpoints"]["last"])):
        train(compose_config([*more, f"ckpt_path={last}"], tmp_path / f"resumed_{name}"))
        histories.append(json.loads((tmp_path / f"resumed_{name}" / "summary.json").read_text())["history"])
    assert [row["epoch"] for row in histories[0]] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # the whole run's record
    worst, where = worst_difference(histories[1], histories[0])
    assert worst < 1e-5, (worst, where)


def test_members_stop_on_their_own_as_their_runs_alone(tmp_path: Path) -> None:
    """Early stopping with a large min_delta stops one member after two epochs; a diverging
    learning rate stops another at its first step; the third trains to max_epochs."""
    stopping = ["regularizer=[early_stopping]", "callbacks.early_stopping.min_delta=0.3"]
    settings = _settings(
        [*stopping, "callbacks.early_stopping.patience=1", "seed=5"],
        [*stopping, "callbacks.early_stopping.patience=1", "seed=5", "optimizer.lr=1e12"],
        [*stopping, "callbacks.early_stopping.patience=100", "seed=6"],
    )
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    assert [summary["status"] for summary in apart] == ["completed", "diverged", "completed"]
    assert apart[0]["epochs_run"] < 4 and apart[2]["epochs_run"] == 4
    for member, single in zip(together, apart, strict=True):
        assert member["status"] == single["status"]
        assert member["stop_reason"] == single["stop_reason"]
        assert member["epochs_run"] == single["epochs_run"]
        assert member["diverged"] == single["diverged"]
        assert member["metrics"]["test"].keys() == single["metrics"]["test"].keys()
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (worst, where)
    for name in ("best.ckpt", "last.ckpt"):
        stopped = torch.load(tmp_path / "pop" / "0" / "checkpoints" / name, weights_only=False)
        single = torch.load(tmp_path / "alone" / "0" / "checkpoints" / name, weights_only=False)
        assert stopped["loops"] == single["loops"]
        assert (stopped["epoch"], stopped["global_step"]) == (single["epoch"], single["global_step"])
        assert _same_state(stopped["callbacks"], single["callbacks"], "pop/0", "alone/0")
    assert not (tmp_path / "pop" / "1" / "checkpoints").exists()  # diverged at its first step: nothing saved


@pytest.mark.slow
def test_members_follow_their_own_schedules_and_penalties(tmp_path: Path) -> None:
    """Per-member scheduler parameters (step decay), optimizer settings (Nesterov or not, weight
    decay) and L2 weights: each member's rate, history and scheduler state as when run alone."""
    settings = _settings(
        ["optimizer=momentum", "scheduler=step", "scheduler.step_size=1", "scheduler.gamma=0.5", "regularizer=[l2]"],
        ["optimizer=nesterov", "scheduler=step", "scheduler.step_size=2", "regularizer=[l2]", "penalty.l2=0.01"],
        ["optimizer=nesterov", "optimizer.weight_decay=0.001", "scheduler=step", "regularizer=[l2]", "seed=7"],
    )
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    for member, single in zip(together, apart, strict=True):
        assert [row["lr"] for row in member["history"]] == [row["lr"] for row in single["history"]]
        assert "train/penalty" in member["history"][0]
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (worst, where)
    ours = torch.load(tmp_path / "pop" / "1" / "checkpoints" / "last.ckpt", weights_only=False)
    theirs = torch.load(tmp_path / "alone" / "1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ours["lr_schedulers"] == theirs["lr_schedulers"]
    assert ours["optimizer_states"][0]["state"].keys() == theirs["optimizer_states"][0]["state"].keys()
    for index, state in theirs["optimizer_states"][0]["state"].items():
        mine = ours["optimizer_states"][0]["state"][index]
        torch.testing.assert_close(mine["momentum_buffer"], state["momentum_buffer"])


@pytest.mark.slow
def test_recurrent_members_train_as_their_runs_alone(tmp_path: Path) -> None:
    recurrent = ["model=lstm", "model.hidden_size=8", "dataset=parity", "dataset.length=3", "dataset.num_samples=200"]
    adam = [*recurrent, "optimizer=adam"]
    settings = _settings([*adam, "seed=1"], [*adam, "seed=2", "optimizer.lr=0.01"])
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    for member, single in zip(together, apart, strict=True):
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (worst, where)


@pytest.mark.slow
def test_pictures_of_a_member_are_its_run_alones(tmp_path: Path) -> None:
    settings = [["trainer.max_epochs=2", "dataset=moons"], ["trainer.max_epochs=2", "dataset=moons", "seed=9"]]
    population(tmp_path, settings, pictures=True)
    alone(tmp_path, settings[:1])
    names = sorted(path.name for path in (tmp_path / "alone" / "0" / "pictures").glob("*.png"))
    assert names == sorted(path.name for path in (tmp_path / "pop" / "0" / "pictures").glob("*.png"))
    assert "decision_surface.png" in names


@pytest.mark.slow
def test_members_draw_their_dropout_masks_and_input_noise_as_their_runs_alone(tmp_path: Path) -> None:
    """Dropout (per-member probability) and input noise: each member's draws come from its own copy
    of torch's random stream, where its run alone draws them; with batch norm, each member's
    running statistics (frozen when it stops early); histories equal to the last bit."""
    settings = _settings(
        ["regularizer=[dropout]", "model.hidden=[32]", "seed=1"],
        ["regularizer=[dropout]", "model.hidden=[32]", "model.dropout=0.2", "seed=2"],
        ["regularizer=[dropout,input_noise]", "model.hidden=[32]", "task.input_noise=0.3", "seed=3"],
    )
    batch_norm = ["regularizer=[batchnorm,dropout,early_stopping]", "callbacks.early_stopping.min_delta=0.2"]
    with_batch_norm = _settings([*batch_norm, "callbacks.early_stopping.patience=1"], [*batch_norm, "seed=4"])
    together = population(tmp_path, settings) + population(tmp_path / "bn", with_batch_norm)
    apart = alone(tmp_path, settings) + alone(tmp_path / "bn", with_batch_norm)
    assert apart[3]["epochs_run"] < apart[4]["epochs_run"]  # one stops early, the other trains on
    for member, single in zip(together, apart, strict=True):
        worst, where = worst_difference(single["history"], member["history"])
        assert worst == 0.0, (worst, where)
        assert member["metrics"]["test"] == single["metrics"]["test"]


@pytest.mark.slow
@pytest.mark.parametrize("model", [[], ["model=lstm", "dataset=parity", "dataset.length=3", "dataset.num_samples=200"]])
def test_members_clip_their_own_gradients_and_weights(model: list[str], tmp_path: Path) -> None:
    """Gradient clipping (each member's own norm, as Lightning clips a run's) and max-norm (each
    member's bound): as their runs alone (the LSTM member by member, to the last bit)."""
    settings = _settings(
        [
            *model,
            "trainer.gradient_clip_val=0.5",
            "regularizer=[max_norm]",
            "callbacks.max_norm.max_norm=0.5",
            "seed=1",
        ],
        [*model, "trainer.gradient_clip_val=0.5", "regularizer=[max_norm]", "optimizer.lr=0.5", "seed=2"],
    )
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    for member, single in zip(together, apart, strict=True):
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (worst, where)
        if model:
            assert worst == 0.0, (worst, where)


def test_members_stop_at_their_own_criterion_as_their_runs_alone(tmp_path: Path) -> None:
    """`criterion=within` (the 1986 papers' "every output within 0.1"), the experiments xor_1986,
    mirror_1986 and encoder_838 use: each member stops the epoch its own criterion is met and
    records it in summary.json (`epochs_to_criterion`, the stop reason) as its run alone does; a
    member whose rate is too small never meets it and trains to max_epochs."""
    xor = [
        "dataset=xor",
        "model.hidden=[4]",
        "model.activation=sigmoid",
        "optimizer=momentum",
        "optimizer.momentum=0.9",
        "criterion=within",
        "trainer.max_epochs=400",
        "callbacks.pictures.enabled=false",
    ]
    settings = [
        [*xor, "seed=0", "optimizer.lr=0.5"],
        [*xor, "seed=1", "optimizer.lr=0.7"],
        [*xor, "seed=2", "optimizer.lr=1e-4"],
    ]
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    reached = [summary["epochs_to_criterion"] for summary in apart]
    assert reached[0] is not None and reached[1] is not None and reached[0] != reached[1], reached
    assert reached[2] is None and apart[2]["epochs_run"] == 400
    for member, single in zip(together, apart, strict=True):
        assert member["devices"]["population"]["size"] == 3  # trained together, not alone
        assert member["epochs_to_criterion"] == single["epochs_to_criterion"]
        assert member["criterion"] == single["criterion"]
        assert member["stop_reason"] == single["stop_reason"]
        assert member["epochs_run"] == single["epochs_run"]
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (worst, where)


@pytest.mark.parametrize(
    "extra,widths",
    [
        ([], ["[16,16]"] * 3),  # the batched chain: each step's outputs, sliced by member
        # members of other widths: padded, each measured on its own units
        pytest.param([], ["[16,16]", "[4,4]", "[8,32]"], marks=pytest.mark.slow),
        # members that draw run their own modules ("loop"): hooks on them
        pytest.param(["regularizer=[input_noise]"], ["[16,16]"] * 3, marks=pytest.mark.slow),
    ],
    ids=["chain", "padded", "loop"],
)
def test_members_measure_their_layers_as_their_runs_alone(extra: list[str], widths: list[str], tmp_path: Path) -> None:
    """`callbacks.layer_stats` (experiments activations and initializers): each member's row holds the
    activation, dead-unit, saturation, gradient and weight numbers of its own run alone, each member
    with its own nonlinearity (and width)."""
    stats = ["callbacks.layer_stats.enabled=true", "callbacks.layer_stats.every_n_batches=3"]
    activations = ["relu", "sigmoid", "tanh"]
    settings = _settings(
        *[
            [*stats, *extra, f"model.hidden={width}", f"seed={seed}", f"model.activation={activation}"]
            for seed, (activation, width) in enumerate(zip(activations, widths, strict=True))
        ]
    )
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    measured = {key.split("/")[0] for key in apart[0]["history"][0] if "/layers." in key}
    assert measured == {"act_mean", "act_std", "dead", "grad_norm", "weight_norm"}
    assert any(key.startswith("saturated/") for key in apart[1]["history"][0])
    for member, single in zip(together, apart, strict=True):
        assert member["devices"]["population"]["size"] == 3
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (worst, where)


@pytest.mark.parametrize(
    "kind",
    [
        # PCA's error beside each member's autoencoder: val/pca_mse in every row, test/pca_mse at its test
        [
            "model=autoencoder",
            "model.code_size=4",
            "dataset=digits",
            "+callbacks.pca_baseline._target_=dlbench.callbacks.pca_baseline.PCABaseline",
        ],
        # the dropout ensemble on each member's own tested network ("loop": dropout draws)
        [
            "dataset=digits",
            "model.hidden=[32]",
            "model.dropout=0.5",
            "+callbacks.dropout_ensemble._target_=dlbench.callbacks.dropout_ensemble.DropoutEnsemble",
            "+callbacks.dropout_ensemble.samples=5",
        ],
    ],
    ids=["pca_baseline", "dropout_ensemble"],
)
def test_members_measure_what_their_callbacks_add_as_their_runs_alone(kind: list[str], tmp_path: Path) -> None:
    """The experiments autoencoder_pca and dropout_ensemble: what their callbacks add to the rows and
    to the test metrics is each member's own, as in its run alone."""
    settings = _settings([*kind, "seed=1"], [*kind, "seed=2", "optimizer.lr=0.05"])
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    added = {"test/pca_mse"} if "model=autoencoder" in kind else {"test/ensemble_acc", "test/scaled_nll"}
    for member, single in zip(together, apart, strict=True):
        assert member["devices"]["population"]["size"] == 2
        assert added <= {f"test/{key}" for key in single["metrics"]["test"]}
        assert member["metrics"]["test"].keys() == single["metrics"]["test"].keys()
        for key, value in single["metrics"]["test"].items():
            assert member["metrics"]["test"][key] == pytest.approx(value, rel=1e-5), key
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (worst, where)


@pytest.mark.slow
def test_members_augment_their_batches_as_their_runs_alone(tmp_path: Path) -> None:
    """`regularizer=[augment]` (experiments augmentation, regularizers): each member's training
    batches shifted and rotated with its own draws, as its run alone's data module draws them, and
    its checkpoint keeps where its draws stand (so it resumes them alone)."""
    augment = ["dataset=digits", "regularizer=[augment]", "model.hidden=[32]"]
    # two members of one seed share one data module: their draws must still be each one's own
    settings = _settings([*augment, "seed=1"], [*augment, "seed=1", "optimizer.lr=0.05"], [*augment, "seed=2"])
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    for index, (member, single) in enumerate(zip(together, apart, strict=True)):
        assert member["devices"]["population"]["size"] == 3
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (index, worst, where)
        ours = torch.load(tmp_path / "pop" / str(index) / "checkpoints" / "last.ckpt", weights_only=False)
        theirs = torch.load(tmp_path / "alone" / str(index) / "checkpoints" / "last.ckpt", weights_only=False)
        keys = [key for key, value in theirs.items() if isinstance(value, dict) and "augment_generator" in value]
        assert keys and all(torch.equal(ours[k]["augment_generator"], theirs[k]["augment_generator"]) for k in keys)


@pytest.mark.slow
def test_members_validate_every_nth_epoch_as_their_runs_alone(tmp_path: Path) -> None:
    """`trainer.check_val_every_n_epoch=3` (experiment mdn_inverse): val/ numbers every third epoch
    only, and each member's early stopping and checkpoints decide at the end of a validation, as
    Lightning's callbacks decide in its run alone (one member stops early, one trains on)."""
    every = ["trainer.check_val_every_n_epoch=3", "trainer.max_epochs=15", "callbacks.pictures.enabled=false"]
    stopping = ["regularizer=[early_stopping]", "callbacks.early_stopping.min_delta=0.2"]
    settings = [
        [*every, *stopping, "callbacks.early_stopping.patience=1", "seed=1"],
        [*every, *stopping, "callbacks.early_stopping.patience=100", "seed=2"],
    ]
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    assert apart[0]["epochs_run"] < apart[1]["epochs_run"] == 15
    assert [row["epoch"] for row in apart[1]["history"] if "val/loss" in row] == [2.0, 5.0, 8.0, 11.0, 14.0]
    for index, (member, single) in enumerate(zip(together, apart, strict=True)):
        assert (member["epochs_run"], member["stop_reason"]) == (single["epochs_run"], single["stop_reason"])
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (index, worst, where)
        for name in ("best.ckpt", "last.ckpt"):
            ours = torch.load(tmp_path / "pop" / str(index) / "checkpoints" / name, weights_only=False)
            theirs = torch.load(tmp_path / "alone" / str(index) / "checkpoints" / name, weights_only=False)
            assert (ours["epoch"], ours["global_step"]) == (theirs["epoch"], theirs["global_step"]), (index, name)
            assert ours["loops"] == theirs["loops"], (index, name)
            assert len(ours["dlbench_task"]["history"]) == len(theirs["dlbench_task"]["history"]), (index, name)
            assert _same_state(ours["callbacks"], theirs["callbacks"], f"pop/{index}", f"alone/{index}"), (index, name)


@pytest.mark.slow
def test_a_members_last_checkpoint_at_its_end_is_its_run_alones(tmp_path: Path) -> None:
    """A member whose last epoch is not its best (a rate too large to keep improving) takes its due
    last.ckpt as its run alone's `BufferedCheckpoint.on_train_end` does: once Lightning counts the
    epoch completed (`epoch` e + 1), whether it ends at its own max_epochs or the population's."""
    settings = _settings(["seed=1", "optimizer.lr=3"], ["seed=2", "optimizer.lr=3"])
    settings[0][-2:] = ["trainer.max_epochs=6", "callbacks.pictures.enabled=false"]
    settings[1][-2:] = ["trainer.max_epochs=9", "callbacks.pictures.enabled=false"]
    population(tmp_path, settings)
    alone(tmp_path, settings)
    ends = []
    for index in range(2):
        ours = torch.load(tmp_path / "pop" / str(index) / "checkpoints" / "last.ckpt", weights_only=False)
        theirs = torch.load(tmp_path / "alone" / str(index) / "checkpoints" / "last.ckpt", weights_only=False)
        assert (ours["epoch"], ours["global_step"]) == (theirs["epoch"], theirs["global_step"]), index
        assert ours["loops"] == theirs["loops"], index
        best = torch.load(tmp_path / "alone" / str(index) / "checkpoints" / "best.ckpt", weights_only=False)
        ends.append((best["global_step"], theirs["global_step"]))
    assert any(best < last for best, last in ends)  # a last epoch that was not the best: the case in question


def test_members_score_their_pixels_as_their_runs_alone(tmp_path: Path) -> None:
    """Pixel classification (dataset=shapes, a U-Net): each member's rows and test metrics have the
    mean IoU and dice its run alone's have (torchmetrics' own, on its own outputs), for either loss."""
    shapes = ["dataset=shapes", "model=encoder_decoder", "dataset.num_samples=60", "dataset.size=16"]
    settings = [[*shapes, "loss=cross_entropy", *FAST[1:], "trainer.max_epochs=2"], [*shapes, "loss=dice"]]
    settings[1] += [*FAST[1:], "trainer.max_epochs=2"]
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    for member, single in zip(together, apart, strict=True):
        assert {"train/dice", "val/iou", "val/dice"} <= set(single["history"][-1])
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (worst, where)
        assert set(member["metrics"]["test"]) == set(single["metrics"]["test"]) >= {"iou", "dice"}
        for key, value in single["metrics"]["test"].items():
            assert member["metrics"]["test"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
