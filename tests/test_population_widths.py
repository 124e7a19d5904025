"""Per-member keys that change what a member's network or rows hold: hidden widths (padded to the
widest, `dlbench.population.padding`), an L1/L2 penalty present in some members only, a denoising
autoencoder's noise zero in some members only. Each member's history, test metrics, metrics.csv
columns, checkpoints (state dict names and shapes, optimizer state) and parameter count are those
of the same overrides run alone, and its checkpoint loads into its run alone's model.

Tolerances as in test_population_equivalence: 1e-5 relative where the members run as batched
products ("chain"), 0 where they run member by member ("loop": input or denoising noise).

Also compared: last.ckpt's `epoch` and loops. A member that reaches its max_epochs on an epoch that
is not its best takes its due last.ckpt as its run alone's `BufferedCheckpoint.on_train_end` takes
it, once the epoch is counted completed (`epoch` e + 1); it took it at that epoch's end before.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from dlbench.config.compose import compose_config
from population_helpers import alone, population, worst_difference

FAST = ["trainer.max_epochs=12", "callbacks.pictures.enabled=false"]

WIDTHS = {
    # one optimizer class: one stacked update; sigmoid: a padded unit's activation at 0 is 0.5, whose
    # outgoing weights' gradients are masked; weight decay and L1 over the padded zeros
    # and every member's gradients clipped to its own norm (a trainer key: the same for all members)
    "one_class": [
        [*row, "trainer.gradient_clip_val=0.5"]
        for row in (
            ["model.hidden=[4]", "seed=1", "optimizer=adam", "optimizer.lr=0.01"],
            ["model.hidden=[16]", "seed=2", "optimizer=adam", "optimizer.lr=0.01", "model.activation=sigmoid"],
            ["model.hidden=[64]", "seed=3", "optimizer=adam", "optimizer.weight_decay=0.01", "regularizer=[l1]"],
        )
    ],
    # maxout: each hidden Linear is pieces x the width; the padded pieces are whole groups of zeros
    "maxout": [
        ["model.hidden=[4]", "seed=1", "model.activation=maxout", "optimizer=momentum"],
        ["model.hidden=[16]", "seed=2", "model.activation=maxout", "optimizer=momentum", "optimizer.lr=0.05"],
    ],
    # several classes (one stacked update each), max-norm on the member's own units, two layers
    "classes": [
        [
            "model.hidden=[8,4]",
            "seed=1",
            "optimizer=momentum",
            "regularizer=[max_norm]",
            "callbacks.max_norm.max_norm=1",
        ],
        ["model.hidden=[32,16]", "seed=2", "optimizer=rmsprop", "optimizer.lr=0.003", "model.activation=tanh"],
        ["model.hidden=[16,32]", "seed=3", "optimizer=sgd", "optimizer.lr=0.2"],
    ],
}


def _csv_columns(path: Path) -> list[str]:
    with path.open() as handle:
        return list(next(csv.reader(handle)))


def _standalone_model(overrides: list[str], root: Path) -> torch.nn.Module:
    """The member's run alone's Task, built as `train.py` builds it (to load a checkpoint into)."""
    from types import SimpleNamespace

    from dlbench.config.context import from_hydra
    from dlbench.population.members import DataModules, build_member

    cfg = compose_config(list(overrides), root)
    return build_member(0, SimpleNamespace(config=cfg), list(overrides), from_hydra(), DataModules()).task


def _compare(tmp_path: Path, settings: list[list[str]], exact: bool) -> list[dict]:
    """Train `settings` together and alone; compare every member with its run alone; the members' summaries."""
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    for index, (member, single) in enumerate(zip(together, apart, strict=True)):
        assert member["status"] == single["status"] == "completed"
        worst, where = worst_difference(single["history"], member["history"])
        assert worst == 0.0 if exact else worst < 1e-5, (index, worst, where)
        for key, value in single["metrics"]["test"].items():
            assert member["metrics"]["test"][key] == pytest.approx(value, rel=1e-5), (index, key)
        assert member["parameters"] == single["parameters"], index
        ours_dir, theirs_dir = tmp_path / "pop" / str(index), tmp_path / "alone" / str(index)
        assert _csv_columns(ours_dir / "metrics.csv") == _csv_columns(theirs_dir / "metrics.csv")
        for name in ("best.ckpt", "last.ckpt"):
            ours = torch.load(ours_dir / "checkpoints" / name, weights_only=False)
            theirs = torch.load(theirs_dir / "checkpoints" / name, weights_only=False)
            assert (ours["epoch"], ours["global_step"]) == (theirs["epoch"], theirs["global_step"]), (index, name)
            assert ours["loops"]["fit_loop"] == theirs["loops"]["fit_loop"], (index, name)
            assert list(ours["state_dict"]) == list(theirs["state_dict"])
            for key, tensor in theirs["state_dict"].items():
                assert ours["state_dict"][key].shape == tensor.shape, (index, name, key)
                torch.testing.assert_close(ours["state_dict"][key], tensor, rtol=1e-4, atol=1e-6)
            mine, own = ours["optimizer_states"][0], theirs["optimizer_states"][0]
            assert mine["param_groups"] == own["param_groups"]
            assert mine["state"].keys() == own["state"].keys()
            for position, state in own["state"].items():
                assert mine["state"][position].keys() == state.keys()
                for field, value in state.items():
                    torch.testing.assert_close(mine["state"][position][field], value, rtol=1e-4, atol=1e-6)
            # the member's checkpoint loads into its run alone's model, strictly (names and shapes)
            task = _standalone_model(settings[index], tmp_path / "load" / str(index))
            task.load_state_dict(ours["state_dict"])
    return together


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=[] if name == "one_class" else [pytest.mark.slow]) for name in sorted(WIDTHS)]
)
def test_members_of_other_hidden_widths_train_as_their_runs_alone(name: str, tmp_path: Path) -> None:
    """`model.hidden=[4],[16],[64]` (and two layers deep): one population, each member padded to the
    widest; each member's records and checkpoints are its own width's run alone's."""
    _compare(tmp_path, [[*row, *FAST] for row in WIDTHS[name]], exact=False)


def test_a_population_of_other_widths_resumes_from_its_members_checkpoints(tmp_path: Path) -> None:
    """Members of other widths resumed as one population from their own last.ckpt (as the sweep run
    again does): their own weights and optimizer state go into their parts of the padded rows, and
    their whole histories are their runs alone's of as many epochs."""
    rows = [  # one with a penalty, one without: their epoch sums have other columns
        ["model.hidden=[4]", "seed=1", "optimizer=adam", "optimizer.lr=0.01", "regularizer=[l2]"],
        ["model.hidden=[32]", "seed=2", "optimizer=momentum"],
    ]
    quiet = "callbacks.pictures.enabled=false"
    first = population(tmp_path / "first", [[*row, "trainer.max_epochs=3", quiet] for row in rows])
    resumed = [
        [*row, "trainer.max_epochs=6", quiet, f"ckpt_path={summary['checkpoints']['last']}"]
        for row, summary in zip(rows, first, strict=True)
    ]
    together = population(tmp_path / "resumed", resumed)
    apart = alone(tmp_path, [[*row, "trainer.max_epochs=6", quiet] for row in rows])
    for index, (member, single) in enumerate(zip(together, apart, strict=True)):
        assert [row["epoch"] for row in member["history"]] == [0, 1, 2, 3, 4, 5]
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (index, worst, where)


def test_members_of_other_widths_run_member_by_member_as_their_runs_alone(tmp_path: Path) -> None:
    """Input noise makes every member run its own modules ("loop") on its own part of the padded
    parameters, stepped by its own torch optimizer: bit for bit its run alone."""
    settings = [
        ["model.hidden=[8]", "seed=1", "regularizer=[input_noise]", "task.input_noise=0.2", *FAST],
        ["model.hidden=[32]", "seed=2", "optimizer=adam", "optimizer.lr=0.01", *FAST],
    ]
    _compare(tmp_path, settings, exact=True)


def test_members_with_and_without_a_penalty_train_as_their_runs_alone(tmp_path: Path) -> None:
    """`penalty.l1`/`l2` present in some members only: one population; a member without a penalty
    writes its run alone's rows (no `data_loss`, no `penalty`), one with it its own."""
    settings = [
        ["seed=1", *FAST],
        ["seed=2", "regularizer=[l2]", "penalty.l2=0.01", *FAST],
        ["seed=3", "regularizer=[l1,l2]", "penalty.l1=0.001", *FAST],
    ]
    together = _compare(tmp_path, settings, exact=False)
    assert "train/penalty" not in together[0]["history"][0] and "val/data_loss" not in together[0]["history"][0]
    assert "train/penalty" in together[1]["history"][0] and "val/data_loss" in together[2]["history"][0]


def test_denoising_and_plain_autoencoders_train_as_their_runs_alone(tmp_path: Path) -> None:
    """`model.noise_std` 0 and > 0 (a denoising autoencoder, same modules): one population, member by
    member on the CPU, each drawing its own noise: bit for bit its run alone."""
    base = ["model=autoencoder", "model.hidden=[16]", "model.code_size=4", "dataset=digits", *FAST]
    settings = [[*base, "seed=1"], [*base, "seed=2", "model.noise_std=0.3"]]
    _compare(tmp_path, settings, exact=True)


def test_padding_costs_the_widest_members_memory(tmp_path: Path) -> None:
    """What docs/populations.md reports: bytes of the stacked parameters against the members' own,
    for the capacity experiment's widths on 8x8 digits; the padding stays exactly zero."""
    from dlbench.models.mlp import MLP
    from dlbench.population.network import StackedNetwork

    widths = [4, 16, 64, 256]
    models = [MLP((64,), 10, hidden=(width,)) for width in widths]
    network = StackedNetwork(models)
    own = sum(p.numel() * p.element_size() for model in models for p in model.parameters())
    stacked = sum(p.numel() * p.element_size() for p in network.stacked)
    assert own == 4 * sum(75 * width + 10 for width in widths)  # 64 x h + h + 10 x h + 10 floats each
    assert stacked == 4 * len(widths) * (75 * 256 + 10)
    assert network.padded and network.choose_mode(torch.device("cpu")) == "chain"
    inputs = torch.randn(len(widths), 5, 64)
    outputs = network(inputs)
    for member, model in enumerate(models):
        torch.testing.assert_close(outputs[member], model(inputs[member]))
    torch.sigmoid(outputs).sum().backward()
    network.mask_grads()
    for name, p in network.named_stacked().items():
        for member in range(len(widths)):
            outside = p.grad[member].clone()
            network.own(member, name, outside).zero_()
            assert not outside.any(), (name, member)  # the padding's gradients are exactly zero
    print(f"stacked {stacked} bytes, members' own {own} bytes: {stacked / own:.2f}x")
