"""The gradient check: agrees with autograd on every model family, catches a wrong backward."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from dlbench.data.spec import DataSpec
from dlbench.diagnostics.gradients import check_gradients, format_table
from dlbench.errors import find_config_error
from dlbench.models import build_model

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"alexnet"}  # millions of weights: a minute of finite differences on a CPU
OVERRIDES = {"alexnet": ["model.variant=cifar"]}  # the 32x32 AlexNet a CPU trains; imagenet's is the same code
MODELS = [
    pytest.param(name, marks=pytest.mark.slow) if name in HEAVY else name
    for name in sorted(path.stem for path in (ROOT / "configs" / "model").glob("*.yaml"))
]
# Smallest first: each model is checked on the first kind of data it accepts.
SPECS = [
    DataSpec("table", (4,), 3, "multiclass"),
    DataSpec("table", (6,), 1, "regression"),
    DataSpec("images", (1, 8, 8), 10, "multiclass"),
    DataSpec("images", (1, 28, 28), 10, "multiclass"),
    DataSpec("images", (3, 32, 32), 10, "multiclass"),
    DataSpec("sequences", (6, 3), 2, "multiclass", sequence=True),
    DataSpec("sequences", (6, 2), 1, "regression", sequence=True),
    DataSpec("images", (3, 224, 224), 10, "multiclass"),
]


def example_batch(
    spec: DataSpec, reconstruct: bool, size: int = 2, per_pixel: bool = False
) -> tuple[torch.Tensor, torch.Tensor, nn.Module]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(size, *spec.input_shape, generator=generator, dtype=torch.float64)
    if reconstruct:
        return inputs, inputs, nn.MSELoss()
    if spec.kind == "multiclass":
        shape = (size, *spec.input_shape[1:]) if per_pixel else (size,)  # a class per pixel (encoder_decoder)
        return inputs, torch.randint(spec.num_outputs, shape, generator=generator), nn.CrossEntropyLoss()
    return inputs, torch.randn(size, spec.num_outputs, generator=generator, dtype=torch.float64), nn.MSELoss()


@pytest.mark.parametrize("name", MODELS)
def test_every_model_family_passes(name: str, make_cfg) -> None:
    cfg = make_cfg(f"model={name}", *OVERRIDES.get(name, []))
    for spec in SPECS:
        try:
            model = build_model(cfg.model, spec)
            break
        except Exception as error:
            if find_config_error(error) is None:
                raise
    else:
        pytest.fail(f"model {name} accepted none of the example data specs")
    torch.manual_seed(0)
    reconstruct = bool(getattr(model, "reconstructs", False))
    inputs, targets, loss = example_batch(spec, reconstruct, per_pixel=getattr(model, "per_pixel", False))
    results = check_gradients(model, lambda m: loss(m(inputs), targets), max_entries=4)
    assert results, "the model has no parameters to check"
    assert all(r.passed for r in results), format_table(results, 1e-4)


class WrongSigmoid(torch.autograd.Function):
    """The logistic function with a backward that forgot the factor (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y  # should be grad * y * (1 - y)


class RightSigmoid(WrongSigmoid):
    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


class TwoLayers(nn.Module):
    def __init__(self, activation: type[torch.autograd.Function]) -> None:
        super().__init__()
        self.hidden, self.out, self.activation = nn.Linear(3, 5), nn.Linear(5, 2), activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.activation.apply(self.hidden(x)))


@pytest.mark.parametrize(("activation", "should_pass"), [(RightSigmoid, True), (WrongSigmoid, False)])
def test_custom_backward_is_judged(activation, should_pass: bool) -> None:
    torch.manual_seed(0)
    inputs = torch.randn(4, 3, dtype=torch.float64)
    targets = torch.tensor([0, 1, 1, 0])
    results = check_gradients(TwoLayers(activation), lambda m: nn.functional.cross_entropy(m(inputs), targets))
    by_name = {r.name: r for r in results}
    # the output layer's gradients never pass through the activation's backward: right either way
    assert by_name["out.weight"].passed and by_name["out.bias"].passed
    assert by_name["hidden.weight"].passed is should_pass
    assert by_name["hidden.bias"].passed is should_pass
    if not should_pass:
        assert by_name["hidden.weight"].worst_error > 1e-2  # wrong, not merely imprecise


@pytest.mark.slow
def test_command_line_prints_a_verdict_per_tensor() -> None:
    env_path = str(ROOT / "src")
    command = [sys.executable, "-m", "dlbench.gradcheck", "model=mlp", "dataset=iris", "model.hidden=[5]"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for tensor in ("layers.1.weight", "layers.1.bias", "layers.3.weight", "layers.3.bias"):
        assert any(line.startswith(tensor) and line.endswith("PASS") for line in lines), done.stdout
    assert "gradient check: PASS" in done.stdout

    # a tolerance no finite difference can meet: every tensor fails and the exit status says so
    failing = subprocess.run(
        [*command, "--tolerance", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    assert failing.returncode == 1
    assert "gradient check: FAIL" in failing.stdout


class OneReLU(nn.Module):
    """relu(x + b) summed, with b set so one input sits 3e-6 above the kink: inside a step of 1e-5."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([-1.0 + 3e-6, 0.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bias).sum()


def test_a_step_across_a_kink_is_counted_not_failed() -> None:
    inputs = torch.ones(2, dtype=torch.float64)
    (result,) = check_gradients(OneReLU(), lambda m: m(inputs), eps=1e-5)
    # the centred difference straddles the kink: (1.3e-5 - 0) / 2e-5 = 0.65 against autograd's 1
    assert result.kinks == 1 and result.passed
    # with a step that stays on one side there is no kink and the entry is judged as usual
    (small,) = check_gradients(OneReLU(), lambda m: m(inputs), eps=1e-7)
    assert small.kinks == 0 and small.passed and small.worst_error < 1e-4
