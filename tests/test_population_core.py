"""The vectorised core of populations: recurrent layers under vmap, the stacked network, and
the stacked optimizers, each against the torch module or optimizer it stands for."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from dlbench.population.network import StackedNetwork
from dlbench.population.optimizers import StackedOptimizer, unsupported_reason
from dlbench.population.recurrent import StepwiseRecurrent

RECURRENT = [
    (nn.LSTM, {}),
    (nn.GRU, {}),
    (nn.RNN, {}),
    (nn.RNN, {"nonlinearity": "relu"}),
]


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("cls,options", RECURRENT, ids=["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_stepwise_recurrent_equals_the_torch_module(cls, options, layers: int, bidirectional: bool) -> None:
    torch.manual_seed(0)
    module = cls(3, 5, layers, batch_first=True, bidirectional=bidirectional, **options)
    stepwise = StepwiseRecurrent(module)
    assert [name for name, _ in stepwise.named_parameters()] == [name for name, _ in module.named_parameters()]
    inputs = torch.randn(4, 9, 3)
    expected, expected_state = module(inputs)
    got, got_state = stepwise(inputs)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    if cls is nn.LSTM:
        for a, b in zip(got_state, expected_state, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    else:
        torch.testing.assert_close(got_state, expected_state, rtol=1e-5, atol=1e-6)
    # and its gradients
    (expected.square().sum()).backward()
    (got.square().sum()).backward()
    for (name, a), (_, b) in zip(stepwise.named_parameters(), module.named_parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN], ids=["lstm", "gru", "rnn"])
def test_stepwise_recurrent_runs_under_vmap_where_the_torch_module_cannot(cls) -> None:
    torch.manual_seed(1)
    members = [cls(2, 4, batch_first=True) for _ in range(3)]
    params, _ = stack_module_state(members)
    inputs = torch.randn(3, 5, 6, 2)
    with pytest.raises(RuntimeError, match="Batching rule not implemented"):
        skeleton = copy.deepcopy(members[0]).to("meta")
        vmap(lambda p, x: functional_call(skeleton, p, (x,))[0])(params, inputs)
    skeleton = StepwiseRecurrent(members[0]).to("meta")
    outputs = vmap(lambda p, x: functional_call(skeleton, p, (x,))[0])(params, inputs)
    for index, member in enumerate(members):
        torch.testing.assert_close(outputs[index], member(inputs[index])[0], rtol=1e-5, atol=1e-6)


def _mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def test_stacked_network_is_each_member_forward() -> None:
    """Equal to float32 rounding: vmap runs Linear as bmm then an add of the bias, where the module
    runs addmm; on small batches the two round differently in the last bit (batch 16 and up: equal)."""
    models = [_mlp(seed) for seed in range(5)]
    network = StackedNetwork(models)
    inputs = torch.randn(5, 8, 4)
    outputs = network(inputs)
    for index, model in enumerate(models):
        torch.testing.assert_close(outputs[index], model(inputs[index]), rtol=1e-6, atol=1e-6)
    assert [p.shape[0] for p in network.parameters()] == [5] * 4
    copy_of_two = network.load_member_into(2, _mlp(99))
    assert torch.equal(copy_of_two(inputs[2]), models[2](inputs[2]))


def test_members_with_different_activations_each_run_their_own() -> None:
    """`model.activation` is per member: the batched chain applies each member's nonlinearity to
    its own rows (equal to the member's module to float32 rounding, as a shared one is), outputs and
    gradients; a member's numbers do not depend on which activations the others have."""
    from dlbench.models.mlp import MLP

    models = []
    for seed, activation in enumerate(["relu", "tanh", "sigmoid", "relu", "gelu"]):
        torch.manual_seed(seed)
        models.append(MLP((4,), 3, hidden=(16, 8), activation=activation))
    network = StackedNetwork(models)
    inputs = torch.randn(5, 16, 4)
    outputs = network(inputs)
    assert network.mode == "chain"
    outputs.square().sum().backward()
    for index, model in enumerate(models):
        alone = model(inputs[index])
        torch.testing.assert_close(outputs[index], alone, rtol=1e-6, atol=1e-6)
        alone.square().sum().backward()
        for (name, p), stacked in zip(model.named_parameters(), network.stacked, strict=True):
            torch.testing.assert_close(stacked.grad[index], p.grad, rtol=1e-5, atol=1e-6, msg=name)
    tanh_only = StackedNetwork([copy.deepcopy(models[1])])
    assert torch.equal(tanh_only(inputs[1:2])[0], network(inputs)[1])


def test_members_of_other_architectures_are_apart_from_the_chain() -> None:
    """Members that differ in more than an elementwise activation are no chain (and, with other
    parameter shapes, no population: the grouping keeps them apart)."""
    from dlbench.models.mlp import MLP
    from dlbench.population.batched import chains_of

    torch.manual_seed(0)
    relu, prelu = MLP((4,), 3, hidden=(8,)), MLP((4,), 3, hidden=(8,), activation="prelu")

    assert chains_of([relu, prelu]) is None
    assert chains_of([relu, copy.deepcopy(relu)]) is not None


def _members(cls, settings: list[dict]) -> tuple[list[nn.Parameter], list[list[nn.Parameter]], list]:
    torch.manual_seed(3)
    shapes = [(6, 5), (5,), (3, 2, 2)]
    stacked = [nn.Parameter(torch.randn(len(settings), *shape)) for shape in shapes]
    own = [[nn.Parameter(p.detach()[m].clone()) for p in stacked] for m in range(len(settings))]
    optimizers = [cls(params, **setting) for params, setting in zip(own, settings, strict=True)]
    return stacked, own, optimizers


OPTIMIZERS = {
    "sgd": (torch.optim.SGD, [{"lr": 0.1}, {"lr": 0.013}, {"lr": 0.5, "weight_decay": 0.01}]),
    "momentum": (
        torch.optim.SGD,
        [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.5, "dampening": 0.1}, {"lr": 0.2, "momentum": 0.0}],
    ),
    "nesterov": (
        torch.optim.SGD,
        [
            {"lr": 0.1, "momentum": 0.9, "nesterov": True},
            {"lr": 0.1, "momentum": 0.9},
            {"lr": 0.03, "momentum": 0.7, "nesterov": True, "weight_decay": 1e-3},
        ],
    ),
    "adam": (
        torch.optim.Adam,
        [{"lr": 1e-3}, {"lr": 3e-3, "betas": (0.8, 0.99), "eps": 1e-6}, {"lr": 1e-2, "weight_decay": 1e-2}],
    ),
    "adamw": (torch.optim.AdamW, [{"lr": 1e-3}, {"lr": 2e-3, "weight_decay": 0.1}, {"lr": 1e-2, "weight_decay": 0.0}]),
    "amsgrad": (torch.optim.Adam, [{"lr": 1e-3, "amsgrad": True}, {"lr": 1e-2, "amsgrad": True}]),
    "adagrad": (
        torch.optim.Adagrad,
        [
            {"lr": 0.01},
            {"lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
            {"lr": 0.1, "weight_decay": 0.01},
        ],
    ),
    "rmsprop": (
        torch.optim.RMSprop,
        [{"lr": 1e-3}, {"lr": 1e-2, "alpha": 0.9, "momentum": 0.9}, {"lr": 3e-3, "weight_decay": 0.01, "eps": 1e-6}],
    ),
    "rmsprop_centered": (
        torch.optim.RMSprop,
        [{"lr": 1e-3, "centered": True}, {"lr": 1e-2, "centered": True, "momentum": 0.5}],
    ),
}


def _step_side_by_side(optimizer, reference, stacked, own, steps: int, frozen: int, frozen_at: int) -> None:
    """The same random gradients to the stacked optimizer and to each member's own torch optimizer,
    `steps` times; member `frozen` stops at step `frozen_at` (inactive in the stacked one)."""
    generator = torch.Generator().manual_seed(0)
    for step in range(steps):
        if step == frozen_at:
            active = torch.ones(len(own), dtype=torch.bool)
            active[frozen] = False
            optimizer.set_active(active)
        for index, p in enumerate(stacked):
            p.grad = torch.randn(p.shape, generator=generator)
            for m in range(len(own)):
                own[m][index].grad = p.grad[m].clone()
        optimizer.step()
        for m, torch_optimizer in enumerate(reference):
            if step < frozen_at or m != frozen:
                torch_optimizer.step()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_stacked_optimizer_moves_each_member_as_its_torch_optimizer(name: str) -> None:
    """Same gradients, 60 steps: every member's parameters and state equal its own torch
    optimizer's, bit for bit; a member frozen half way keeps its numbers."""
    cls, settings = OPTIMIZERS[name]
    stacked, own, optimizers = _members(cls, settings)
    assert unsupported_reason(optimizers) is None
    optimizer = StackedOptimizer(stacked, optimizers)
    reference = [cls(params, **setting) for params, setting in zip(own, settings, strict=True)]
    _step_side_by_side(optimizer, reference, stacked, own, steps=60, frozen=0, frozen_at=30)
    for m in range(len(settings)):
        for index, p in enumerate(stacked):
            assert torch.equal(p.detach()[m], own[m][index].detach()), (m, index)
        expected = reference[m].state_dict()
        got = optimizer.member_state_dict(m)
        assert got["param_groups"] == expected["param_groups"]
        assert got["state"].keys() == expected["state"].keys()
        for index, state in expected["state"].items():
            assert state.keys() == got["state"][index].keys(), (m, index)
            for key, value in state.items():
                assert torch.equal(got["state"][index][key], value), (m, index, key)
                assert got["state"][index][key].dtype == value.dtype


def test_members_of_several_optimizer_classes_each_move_as_their_own_torch_optimizer() -> None:
    """`optimizer._target_` is per member: one stacked update per class (AdamW apart from Adam: its
    decay is another code path), 40 steps, each member bit for bit its own torch optimizer, state
    included, and a member frozen half way keeps its numbers."""
    from dlbench.population.optimizers import StackedOptimizers, by_update

    members = [
        (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
        (torch.optim.Adam, {"lr": 1e-2}),
        (torch.optim.RMSprop, {"lr": 1e-3, "momentum": 0.5}),
        (torch.optim.SGD, {"lr": 0.05}),
        (torch.optim.Adagrad, {"lr": 0.05, "lr_decay": 0.01}),
        (torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.1}),
        (torch.optim.Adam, {"lr": 3e-3, "betas": (0.8, 0.99)}),
    ]
    torch.manual_seed(3)
    shapes = [(6, 5), (5,), (3, 2, 2)]
    stacked = [nn.Parameter(torch.randn(len(members), *shape)) for shape in shapes]
    own = [[nn.Parameter(p.detach()[m].clone()) for p in stacked] for m in range(len(members))]
    optimizers = [cls(params, **setting) for params, (cls, setting) in zip(own, members, strict=True)]
    reference = [cls(params, **setting) for params, (cls, setting) in zip(own, members, strict=True)]
    assert by_update(optimizers) == [[0, 3], [1, 6], [2], [4], [5]]
    optimizer = StackedOptimizers(stacked, optimizers)
    _step_side_by_side(optimizer, reference, stacked, own, steps=40, frozen=1, frozen_at=20)
    for m in range(len(members)):
        for index, p in enumerate(stacked):
            assert torch.equal(p.detach()[m], own[m][index].detach()), (m, index)
        expected, got = reference[m].state_dict(), optimizer.member_state_dict(m)
        assert got["param_groups"] == expected["param_groups"], m
        for index, state in expected["state"].items():
            for key, value in state.items():
                assert torch.equal(got["state"][index][key], value), (m, index, key)
        snapshot = {key: value.clone() for key, value in optimizer.stacked_state().items()}
        from_snapshot = optimizer.member_state_dict_in(m, snapshot)
        for index, state in expected["state"].items():
            for key, value in state.items():
                assert torch.equal(from_snapshot["state"][index][key], value), (m, index, key)


def test_stacked_optimizer_refuses_what_it_cannot_vectorise() -> None:
    params = [nn.Parameter(torch.zeros(2))]
    assert "LBFGS" in unsupported_reason([torch.optim.LBFGS(params)])
    assert "different optimizer" in unsupported_reason([torch.optim.SGD(params, lr=0.1), torch.optim.Adam(params)])
    assert "amsgrad" in unsupported_reason([torch.optim.Adam(params), torch.optim.Adam(params, amsgrad=True)])


def _conv(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5))


def _conv_own_activation(seed: int) -> nn.Module:
    """Members of `model=lenet model.activation=relu,tanh,sigmoid`: one architecture, each its own nonlinearity."""
    torch.manual_seed(seed)
    activation = (nn.ReLU, nn.Tanh, nn.Sigmoid)[seed % 3]()
    return nn.Sequential(nn.Conv2d(1, 4, 3), activation, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5))


def _lstm(seed: int) -> nn.Module:
    from dlbench.models.recurrent import Recurrent

    torch.manual_seed(seed)
    return Recurrent((5, 3), 2, cell="lstm", hidden_size=4)


@pytest.mark.parametrize("make", [_conv, _conv_own_activation, _lstm], ids=["conv", "conv_activations", "lstm"])
def test_on_the_cpu_other_networks_run_member_by_member_bit_for_bit(make) -> None:
    """Convolutional and recurrent networks run each member's own modules ("loop"): outputs and
    gradients equal the member's module run alone, to the last bit."""
    models = [make(seed) for seed in range(3)]
    network = StackedNetwork(models)
    shape = (3, 6, 1, 8, 8) if isinstance(models[0], nn.Sequential) else (3, 6, 5, 3)
    inputs = torch.randn(*shape)
    outputs = network(inputs)
    assert network.mode == "loop"
    outputs.square().sum().backward()
    network.gather_grads()
    for index, model in enumerate(models):
        alone = model(inputs[index])
        assert torch.equal(outputs[index], alone)
        alone.square().sum().backward()
        for (name, p), stacked in zip(model.named_parameters(), network.stacked, strict=True):
            assert torch.equal(stacked.grad[index], p.grad), name
