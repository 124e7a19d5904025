"""Hydra, minus work it repeats and never needs.

Measured on `python train.py --help` (cProfile; Hydra 1.3.8), three things Hydra repeats:

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
- Every overrides parser registers the grammar's functions (`choice`, `range`, `glob`, ...) again,
  reading their signatures with `inspect.signature` (about 3 ms each time). The registry is never
  changed after it is made, so one is made and shared.
"""

from __future__ import annotations

import functools
from typing import Any


def share_config_store() -> None:
    """Make `copy.deepcopy(ConfigStore.instance())` return the instance itself (idempotent)."""
    from hydra.core.config_store import ConfigStore

    if "__deepcopy__" not in vars(ConfigStore):

        def _shared(self: ConfigStore, memo: dict[int, Any]) -> ConfigStore:
            return self

        ConfigStore.__deepcopy__ = _shared  # type: ignore[attr-defined]


def remember_group_options() -> None:
    """Let each `ConfigLoaderImpl` answer `get_group_options(...)` once per distinct question (idempotent)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.object_type import ObjectType

    original = ConfigLoaderImpl.get_group_options
    if getattr(original, "_dlbench_remembered", False):
        return

    @functools.wraps(original)
    def get_group_options(self: ConfigLoaderImpl, group_name: str, results_filter: ObjectType | None = ObjectType.CONFIG, config_name: str | None = None,
                          overrides: list[str] | None = None) -> list[str]:
        key = (group_name, results_filter, config_name, tuple(overrides or ()))
        answers = self.__dict__.setdefault("_dlbench_group_options", {})
        if key not in answers:
            answers[key] = original(self, group_name, results_filter, config_name, overrides)
        return list(answers[key])

    get_group_options._dlbench_remembered = True  # type: ignore[attr-defined]
    ConfigLoaderImpl.get_group_options = get_group_options  # type: ignore[method-assign]


def share_grammar_functions() -> None:
    """Make every `OverridesParser` share one registry of grammar functions (idempotent)."""
    from hydra.core.override_parser import overrides_parser

    if not hasattr(overrides_parser.create_functions, "cache_info"):
        overrides_parser.create_functions = functools.cache(overrides_parser.create_functions)


def speed_up_hydra() -> None:
    """All of the above: what `train.py` applies before Hydra starts."""
    share_config_store()
    remember_group_options()
    share_grammar_functions()
