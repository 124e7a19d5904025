"""What a checkpoint's stored config may ask to instantiate: only what a config already names.

A config file and a `_target_` override are code, like a Python script: Hydra imports and calls
whatever `_target_` names. A checkpoint is data, so the config stored inside one
(`dlbench_config`, used by `train=false` to rebuild the data and the network it was trained on)
must not choose code to run. Every `_target_` in the parts of it that are used must be one that
the configs shipped with dlbench name (`configs/**/*.yaml`), or one the command's own config
already names (a user's model or data module, which the user's own config or command line put
there); and no string in it may be an interpolation other than `${oc.env:NAME}` (a resolver such
as `oc.decode` would make new `_target_` keys after this check). Anything else is refused in one
sentence before a module is imported. Plain `yaml.safe_load`, no torch: this runs in a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from dlbench.errors import ConfigError

# The one interpolation a stored config may keep: where an environment variable was read (redacted records).
_ENV = re.compile(r"\$\{oc\.env:[A-Za-z_][A-Za-z0-9_]*(,[^${}]*)?\}")


def targets_in(value: Any) -> Iterator[str]:
    """Every `_target_` at any depth of a config (mappings and lists)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "_target_":
                yield str(item)
            else:
                yield from targets_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from targets_in(item)


def _strings_in(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings_in(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings_in(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


@lru_cache(maxsize=1)
def shipped_targets() -> frozenset[str]:
    """The `_target_` of every config file shipped with dlbench."""
    import yaml

    from dlbench.config.compose import CONFIGS

    found: set[str] = set()
    for path in CONFIGS.rglob("*.yaml"):
        try:
            found.update(targets_in(yaml.safe_load(path.read_text())))
        except yaml.YAMLError:
            continue
    return frozenset(found)


def check_stored_config(
    stored: Mapping[str, Any], sections: tuple[str, ...], own: Mapping[str, Any], path: str
) -> None:
    """Refuse a checkpoint whose stored config (the `sections` a run takes from it) names code that
    neither the shipped configs nor this command's own config (`own`) name, or holds a resolver."""
    allowed = shipped_targets() | set(targets_in(own))
    for section in sections:
        if section not in stored:
            continue
        for target in targets_in(stored[section]):
            if target not in allowed:
                raise ConfigError(
                    f"ckpt_path={path} was not used: its stored {section} config asks to run {target}, which neither "
                    "the configs shipped with dlbench nor this command name, and a checkpoint is data that may not "
                    "choose code to run; if you trained it with your own class, name that class on the command line "
                    f"(e.g. {section}._target_=<your class>), otherwise use a checkpoint you trust."
                )
        for where, text in _strings_in(stored[section], section):
            if "${" in _ENV.sub("", text):
                raise ConfigError(
                    f"ckpt_path={path} was not used: its stored config holds the interpolation {text!r} at {where}, "
                    "and a checkpoint is data whose values are read as they are written; use a checkpoint written by "
                    "dlbench, or one you trust."
                )
