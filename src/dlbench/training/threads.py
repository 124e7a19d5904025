"""How many threads torch computes a step with on the CPU: `threads=auto|N` (configs/train.yaml).

torch starts one intra-op thread per core. The classic networks are tiny (the 1986 mirror net does
about 2 thousand FLOPs a step, an Iris MLP 10 thousand): a step that small cannot be shared
between threads, which then mostly wait for each other, and on a machine busy with anything else
wait for a core as well. `python benchmarks/threads.py` measured a step of these networks 3 to 16
times slower with two threads than with one on the project's 2-core machine (docs/performance.md),
and a whole mirror population 2.8 times slower (7.5 s against 21.2 s, twice the CPU time).

`auto` takes one thread when a training step is smaller than `SMALL_STEP_FLOPS` (forward FLOPs per
example x batch size x 3, for forward and backward) and leaves torch's default otherwise; an
explicit `OMP_NUM_THREADS` in the environment is the user's choice and is kept. A whole number
sets that many threads. The choice is made on one run's (one member's) step, so a population and
its members' runs alone compute with the same threads.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from pytorch_lightning.accelerators import CPUAccelerator
from torch import nn

from dlbench.models.measure import forward_flops

# a few ms of one core (every MLP of the experiments): a second thread gains little on a quiet
# machine and loses 3-10x on a shared one (benchmarks/threads.py, docs/dev/decisions.md)
SMALL_STEP_FLOPS = 1e8
# torch's own choice for this process, before any run changed it: what `auto` gives a larger step
# (a sweep's jobs share the process: an earlier tiny job's one thread must not stay for a LeNet)
TORCH_DEFAULT = torch.get_num_threads()


def threads_for(
    setting: object, model: nn.Module, input_shape: tuple[int, ...], batch_size: int, on_cpu: bool = True
) -> int | None:
    """The intra-op thread count `setting` asks for this model's step (trained on the CPU or not),
    None for torch's default."""
    if isinstance(setting, int) and not isinstance(setting, bool):
        return setting
    if setting != "auto" or not on_cpu or os.environ.get("OMP_NUM_THREADS"):
        return None
    step = 3 * forward_flops(model, input_shape) * max(1, batch_size)
    return 1 if step < SMALL_STEP_FLOPS else None


def use_threads(
    setting: object, model: nn.Module, input_shape: tuple[int, ...], batch_size: int, on_cpu: bool = True
) -> None:
    """Set torch's intra-op threads as `threads_for` decides (torch's default for this process when
    it leaves the choice to torch)."""
    count = threads_for(setting, model, input_shape, batch_size, on_cpu) or TORCH_DEFAULT
    if count != torch.get_num_threads():
        torch.set_num_threads(count)


def threads_for_run(setting: object, model: nn.Module, datamodule: Any, trainer: Any) -> None:
    """`use_threads` for a run built to train (its network, data module and Trainer); a population
    calls it with one member's parts, so both decide on the same step."""
    on_cpu = isinstance(trainer.accelerator, CPUAccelerator)
    use_threads(setting, model, datamodule.spec.input_shape, datamodule.effective_batch_size(1), on_cpu)
