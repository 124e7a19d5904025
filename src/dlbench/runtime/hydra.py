"""Hydra, minus work it repeats and never needs (Hydra 1.3; the reason hydra-core is pinned < 1.4).

What each patch buys, measured with `python benchmarks/patches.py` (3 repetitions, medians, on the
project's 2-core machine at load average about 6; the share of the command's time it saves):
`--help` 1.58 s with all off -> 0.66 s with all on (config_store 30%, group_options 19%); a
9-job multirun 17.5 s -> 15.1 s (sweep_configs 14%). A fourth patch (one shared registry of the
override grammar's functions) saved 2% of `--help` and was dropped. Three things Hydra repeats:

- It deep-copies its config repository every time it composes a config or lists a config group
  (`CachingConfigRepository.__init__`): about 94 times for `--help` and once more per job of a
  multirun. Most of that copy is Hydra's `ConfigStore`, the process-wide registry of structured
  configs (all of `hydra/...`), about 15-30 ms per copy here: --help took 1.6 s, 0.8 s of it
  copying. The store is a singleton, and `ConfigStore.load` already deep-copies every node it
  hands out, so a private copy protects nothing (upstream Hydra's facebookresearch/hydra#2928 has
  copied repositories read the live store too). Here a copy of the store is the store.
- `--help` lists every config group twice and each group's options three times (119 calls of
  `ConfigLoaderImpl.get_group_options`), and every call builds an overrides parser, a fresh
  repository and its search path again: about a quarter of `--help`. One loader answers the same
  question the same way within one command, so its answers are kept (per loader: a new Hydra
  context, as in every test that composes a config, starts afresh).
- A sweeper composes every job's config to check the batch before launching it
  (`Sweeper.validate_batch_is_legal`), then the launcher composes each one again: two
  compositions per job, the largest part of a job's overhead in an in-process multirun. The
  config composed for the check is handed, once, to the launcher asking for the same job (same
  master config, same overrides), with the master's resolver cache copied again as Hydra does.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

from dlbench.runtime import enabled


def share_config_store() -> None:
    """Make `copy.deepcopy(ConfigStore.instance())` return the instance itself (idempotent)."""
    from hydra.core.config_store import ConfigStore

    if "__deepcopy__" not in vars(ConfigStore):

        def _shared(self: ConfigStore, memo: dict[int, Any]) -> ConfigStore:
            return self

        ConfigStore.__deepcopy__ = _shared


def remember_group_options() -> None:
    """Let each `ConfigLoaderImpl` answer `get_group_options(...)` once per distinct question (idempotent)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.object_type import ObjectType

    original = ConfigLoaderImpl.get_group_options
    if getattr(original, "_dlbench_remembered", False):
        return

    @functools.wraps(original)
    def get_group_options(
        self: ConfigLoaderImpl,
        group_name: str,
        results_filter: ObjectType | None = ObjectType.CONFIG,
        config_name: str | None = None,
        overrides: list[str] | None = None,
    ) -> list[str]:
        key = (group_name, results_filter, config_name, tuple(overrides or ()))
        answers = self.__dict__.setdefault("_dlbench_group_options", {})
        if key not in answers:
            answers[key] = original(self, group_name, results_filter, config_name, overrides)
        return list(answers[key])

    get_group_options._dlbench_remembered = True
    ConfigLoaderImpl.get_group_options = get_group_options


# loader -> {(id of the master config, the job's overrides): [configs composed by the check]}
_CHECKED: weakref.WeakKeyDictionary[Any, dict[tuple[int, tuple[str, ...]], list[Any]]] = weakref.WeakKeyDictionary()


def reuse_checked_sweep_configs() -> None:
    """Let the launcher take the config the sweeper's batch check composed for a job (idempotent)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.plugins.sweeper import Sweeper
    from omegaconf import OmegaConf

    original_load = ConfigLoaderImpl.load_sweep_config
    if getattr(original_load, "_dlbench_reused", False):
        return

    @functools.wraps(Sweeper.validate_batch_is_legal)
    def validate_batch_is_legal(self: Sweeper, batch: Any) -> None:
        context = getattr(self, "hydra_context", None)
        loader = context.config_loader if context is not None else self.config_loader
        checked = _CHECKED.setdefault(loader, {})
        for overrides in batch:
            config = loader.load_sweep_config(master_config=self.config, sweep_overrides=list(overrides))
            checked.setdefault((id(self.config), tuple(overrides)), []).append(config)

    @functools.wraps(original_load)
    def load_sweep_config(self: ConfigLoaderImpl, master_config: Any, sweep_overrides: list[str]) -> Any:
        waiting = _CHECKED.get(self, {}).get((id(master_config), tuple(sweep_overrides)))
        if waiting:
            config = waiting.pop(0)
            OmegaConf.copy_cache(from_config=master_config, to_config=config)
            return config
        return original_load(self, master_config, sweep_overrides)

    load_sweep_config._dlbench_reused = True
    Sweeper.validate_batch_is_legal = validate_batch_is_legal
    ConfigLoaderImpl.load_sweep_config = load_sweep_config


def speed_up_hydra() -> None:
    """All of the above that are on (see `dlbench.runtime.enabled`): what `train.py` applies before Hydra starts."""
    for name, patch in (
        ("config_store", share_config_store),
        ("group_options", remember_group_options),
        ("sweep_configs", reuse_checked_sweep_configs),
    ):
        if enabled(name):
            patch()


def hide_spec_folders(groups: tuple[str, ...] = ("sweep/",)) -> None:
    """Leave folders inside the named-sweep group out of `--help` (idempotent).

    `configs/sweep` is a link to `sweeps/`, whose `wandb/` holds W&B sweep specs: YAML files, so
    Hydra listed a config group `sweep/wandb` that no run can use. The specs stay where the W&B
    commands look for them (`wandb sweep sweeps/wandb/lr.yaml`); only the listing leaves them out.
    """
    if not enabled("help_groups"):
        return
    from hydra._internal.hydra import Hydra

    original = Hydra.list_all_config_groups
    if getattr(original, "_dlbench_hidden", False):
        return

    @functools.wraps(original)
    def list_all_config_groups(self: Hydra, parent: str = "") -> Any:
        return [group for group in original(self, parent) if not group.startswith(groups)]

    list_all_config_groups._dlbench_hidden = True
    Hydra.list_all_config_groups = list_all_config_groups
