"""No environment secret in a run's records: what `${oc.env:NAME}` read is recorded as written.

A config may read a token or a path from the environment (`${oc.env:API_TOKEN}`); the run uses
the value, but summary.json, the checkpoints' stored config and the loggers' hyperparameters,
which a user shares, keep `${oc.env:API_TOKEN}` instead. Two passes: every value whose config
entry reads the environment (directly or through other interpolations) is put back as written,
and any other string that still contains a value read that way (copied by `${other.key}`) has
that value replaced by its `${oc.env:NAME}`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

_READS = re.compile(r"oc\.env:\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)")
_SHORTEST = 4  # shorter values ("1", "cpu") are too common to hide wherever they appear


def environment_read(raw: Any) -> dict[str, str]:
    """NAME -> value of every environment variable the unresolved config reads with `oc.env`."""
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            names.update(_READS.findall(value))

    walk(raw)
    return {name: os.environ[name] for name in sorted(names) if name in os.environ}


def redact_environment(recorded: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """`recorded` (resolved) with every value read from the environment put back as `raw` wrote it."""
    values = environment_read(raw)
    if not values:
        return dict(recorded)
    hidden = sorted(((value, name) for name, value in values.items() if len(value) >= _SHORTEST), reverse=True)

    def redact(resolved: Any, written: Any) -> Any:
        if isinstance(resolved, Mapping):
            written = written if isinstance(written, Mapping) else {}
            return {key: redact(item, written.get(key)) for key, item in resolved.items()}
        if isinstance(resolved, list | tuple):
            written = written if isinstance(written, list | tuple) and len(written) == len(resolved) else []
            return [redact(item, written[index] if written else None) for index, item in enumerate(resolved)]
        if isinstance(written, str) and "${" in written and "oc.env" in written:
            return written
        if isinstance(resolved, str):
            for value, name in hidden:
                resolved = resolved.replace(value, "${oc.env:" + name + "}")
        return resolved

    return redact(recorded, raw)


def unresolved(cfg: Any) -> dict[str, Any]:
    """The config as written, interpolations left as they are (a plain mapping passes through)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        container = OmegaConf.to_container(cfg, resolve=False)
        written = dict(container) if isinstance(container, dict) else {}
    else:
        written = dict(cfg)
    written.pop("hydra", None)
    return written
