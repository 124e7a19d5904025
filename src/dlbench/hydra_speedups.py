"""Hydra, minus a copy it makes and never needs.

Hydra deep-copies its config repository every time it composes a config or lists a config group
(`CachingConfigRepository.__init__`): about 94 times for `python train.py --help` and once more
per job of a multirun. Most of that copy is Hydra's `ConfigStore`, the process-wide registry of
structured configs (all of `hydra/...`), about 15-30 ms per copy here: --help took 1.6 s, 0.8 s of
it copying. The store is a singleton, and `ConfigStore.load` already deep-copies every node it
hands out, so a private copy protects nothing (upstream Hydra's facebookresearch/hydra#2928 has
copied repositories read the live store too). Here a copy of the store is the store.
"""

from __future__ import annotations

from typing import Any


def share_config_store() -> None:
    """Make `copy.deepcopy(ConfigStore.instance())` return the instance itself (idempotent)."""
    from hydra.core.config_store import ConfigStore

    if "__deepcopy__" not in vars(ConfigStore):

        def _shared(self: ConfigStore, memo: dict[int, Any]) -> ConfigStore:
            return self

        ConfigStore.__deepcopy__ = _shared  # type: ignore[attr-defined]
