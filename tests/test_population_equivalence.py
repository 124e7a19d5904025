"""The heart of populations: a member's per-epoch history equals the same overrides run alone.

CPU, float32, every number of every epoch's row (train/val loss and accuracy) within 1e-5
relative, for SGD, momentum and Adam, on an MLP (Iris, 200 epochs), LeNet on digits (28x28,
4 epochs: 200 would take about an hour on two cores) and an LSTM (parity, 200 epochs). Members of
other optimizer and scheduler classes share a population (each steps its own torch optimizer and
scheduler); tanh and sigmoid members share one too (`model.activation` is per member; LeNet's members with their own
activations are checked bit for bit in test_population_core).

LeNet and the LSTM run member by member on the CPU ("loop", `StackedNetwork.choose_mode`): the
same kernels as their runs alone, so their histories are equal to the last bit, and the tests
say so (also where a float32 rounding difference would grow: LeNet at lr 0.05 is chaotic, the run
alone with 2 torch threads instead of 1 differs from itself by 4.7e-3 at epoch 3). The MLP runs
as batched matrix products, which agree with addmm to the last bit or two: within 1e-5 over 200
epochs at these settings; docs/populations.md gives the measured differences.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from population_helpers import alone, population, worst_difference

NO_PICTURES = "callbacks.pictures.enabled=false"
MLP = ["trainer.max_epochs=200", NO_PICTURES]
LENET = ["model=lenet", "dataset=digits", "dataset.size=28", "trainer.max_epochs=4", NO_PICTURES]
LSTM = [
    "model=lstm",
    "model.hidden_size=16",
    "dataset=parity",
    "dataset.length=3",
    "dataset.num_samples=500",
    "trainer.max_epochs=200",
    NO_PICTURES,
]

CASES = {
    "mlp_sgd_momentum": [
        [*MLP, "seed=1", "optimizer=sgd", "optimizer.lr=0.1"],
        [*MLP, "seed=2", "optimizer=momentum", "optimizer.lr=0.1"],
    ],
    "mlp_adam": [
        [*MLP, "seed=1", "optimizer=adam", "optimizer.lr=0.001"],
        [*MLP, "seed=2", "optimizer=adam", "optimizer.lr=0.01"],
    ],
    "mlp_activations": [  # model.activation is per member: each its own nonlinearity in the batched chain
        [*MLP[1:], "trainer.max_epochs=50", "seed=1", "model.activation=tanh"],
        [*MLP[1:], "trainer.max_epochs=50", "seed=2", "model.activation=sigmoid", "optimizer.lr=0.3"],
    ],
    "mlp_optimizer_and_scheduler_classes": [  # each member its own torch optimizer and scheduler class
        [*MLP[1:], "trainer.max_epochs=40", "seed=1", "optimizer=sgd"],
        [*MLP[1:], "trainer.max_epochs=40", "seed=2", "optimizer=adam", "optimizer.lr=0.01", "scheduler=cosine"],
        [*MLP[1:], "trainer.max_epochs=40", "seed=3", "optimizer=rmsprop", "optimizer.lr=0.003", "scheduler=step"],
        # a plateau scheduler reads its own member's monitored value of the epoch (it read a stale one)
        [*MLP[1:], "trainer.max_epochs=40", "seed=4", "scheduler=plateau", "scheduler.patience=3"],
    ],
    "mlp_max_epochs": [  # trainer.max_epochs is per member: each stops at its own, as one stopped early
        [NO_PICTURES, "seed=1", "trainer.max_epochs=10"],
        [NO_PICTURES, "seed=2", "trainer.max_epochs=25", "scheduler=cosine"],  # T_max: its own max_epochs
        [NO_PICTURES, "seed=3", "trainer.max_epochs=30"],
    ],
    "lenet_sgd_momentum": [
        [*LENET, "seed=1", "optimizer=sgd", "optimizer.lr=0.05"],
        [*LENET, "seed=2", "optimizer=momentum", "optimizer.lr=0.01"],
    ],
    "lenet_adam": [
        [*LENET, "seed=1", "optimizer=adam", "optimizer.lr=0.001"],
        [*LENET, "seed=2", "optimizer=adam", "optimizer.lr=0.001"],
    ],
    "lstm_sgd_momentum": [
        [*LSTM, "seed=1", "optimizer=sgd", "optimizer.lr=0.5"],
        [*LSTM, "seed=2", "optimizer=momentum", "optimizer.lr=0.05"],
    ],
    "lstm_adam": [
        [*LSTM, "seed=1", "optimizer=adam", "optimizer.lr=0.001"],
        [*LSTM, "seed=2", "optimizer=adam", "optimizer.lr=0.01"],
    ],
}
EXACT = ("lenet", "lstm")  # run member by member on the CPU: the same kernels as alone


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_epoch_of_a_member_equals_its_run_alone(name: str, tmp_path: Path) -> None:
    settings = CASES[name]
    together = population(tmp_path, settings)
    apart = alone(tmp_path, settings)
    for index, (member, single) in enumerate(zip(together, apart, strict=True)):
        assert member["status"] == single["status"] == "completed"
        assert member["epochs_run"] == single["epochs_run"]
        assert member["stop_reason"] == single["stop_reason"]
        worst, where = worst_difference(single["history"], member["history"])
        assert worst < 1e-5, (name, index, worst, where)
        if name.startswith(EXACT):
            assert worst == 0.0, (name, index, worst, where)
        for key, value in single["metrics"]["test"].items():
            assert member["metrics"]["test"][key] == pytest.approx(value, rel=1e-5), (name, index, key)
