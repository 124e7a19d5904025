"""Every change dlbench makes to a framework's private behaviour (Hydra, Lightning), in one room.

Each module says what its patch buys, as measured by `benchmarks/patches.py`, and has a contract
test in tests/test_runtime.py that fails loudly when the pinned framework changes underneath it.
Any patch can be switched off to see whether a problem is ours: `DLBENCH_RUNTIME_OFF=publish,...`
(names: `PATCHES`) or `DLBENCH_RUNTIME_OFF=all`; the run then takes the framework's own path.

Outside this room, a few subclasses lean on Lightning's private methods and attributes where no
public extension point exists; they are not switchable (the record's guarantees rest on them) and
each private they use has a contract test in tests/test_runtime.py ("privates leaned on"):
`callbacks/checkpoint.py` (`BufferedCheckpoint`: ModelCheckpoint's `_save_checkpoint`,
`_remove_checkpoint`, `_monitor_candidates`, `_save_last_checkpoint`; the checkpoint connector's
`dump_checkpoint`), `callbacks/graceful_stop.py` (the signal connector's `received_sigterm`),
`callbacks/progress.py` (`EpochBar`: Lightning's Rich `_RefreshThread` and `_init_progress`, Rich's
`live._refresh_thread`), `callbacks/resume.py` (the fit loop's `_restarting`, the epoch loop's `update_lr_schedulers`),
`population/checkpoints.py` (the same ModelCheckpoint privates, and the loops' state dict),
`population/launch.py` (hydra.core.utils' `_save_config` and `_flush_loggers`, as Hydra's own
launchers call them), `hydra_plugins/.../seeded_sweeper.py` and `config/sweep_plan.py`
(hydra._internal's `BasicSweeper`: subclassed, and its `split_arguments` for a sweep's job list).
"""

from __future__ import annotations

import os

PATCHES = (
    "config_store",  # hydra.py: one shared ConfigStore instead of a deep copy per composition
    "group_options",  # hydra.py: --help asks each config group's options once
    "sweep_configs",  # hydra.py: a multirun composes each job's config once, not twice
    "hook_name",  # lightning.py: Lightning's per-hook attribute set without nn.Module's lookups
    "publish",  # lightning.py: epoch rows put straight into trainer.callback_metrics
    "progress_state",  # lightning.py: the loops' counters in a checkpoint as plain dicts, not asdict's deep copies
    "lr_finder_progress",  # lr_finder_progress.py: the lr finder's bar follows the trainer's setting
    "help_groups",  # hydra.py: --help leaves out sweeps/wandb (W&B sweep specs, not configs)
)


def enabled(name: str) -> bool:
    """Whether patch `name` is on (all are, unless DLBENCH_RUNTIME_OFF names it or says `all`)."""
    off = {item.strip() for item in os.environ.get("DLBENCH_RUNTIME_OFF", "").split(",")}
    return name not in off and "all" not in off
