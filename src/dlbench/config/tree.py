"""The composed config as a tree at the start of a run (as lightning-hydra-template prints it).

Shown where a person watches, like the progress bar: `print_config=null` (the default) prints
in a terminal and not in a pipe, a log file or CI; `true` / `false` decide. The config is also in
`<run dir>/.hydra/config.yaml` and `python train.py --cfg job` prints it without running.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

# The groups a reader looks for first; the rest follow in the config's own order.
FIRST = ("dataset", "model", "optimizer", "scheduler", "trainer", "callbacks", "logger")


def config_tree(config: Mapping[str, Any]) -> Any:
    """A rich Tree: one branch per group (its YAML), then the top-level values in one branch."""
    import yaml
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", style="dim", guide_style="dim")
    groups = [key for key in FIRST if isinstance(config.get(key), Mapping)]
    groups += [key for key, value in config.items() if isinstance(value, Mapping) and key not in groups]
    for key in groups:
        text = yaml.safe_dump(dict(config[key]), sort_keys=False, default_flow_style=None).rstrip()
        tree.add(key, style="bold").add(Syntax(text or "{}", "yaml", background_color="default"))
    scalars = {key: value for key, value in config.items() if not isinstance(value, Mapping)}
    if scalars:
        text = yaml.safe_dump(scalars, sort_keys=False, default_flow_style=None).rstrip()
        tree.add("run", style="bold").add(Syntax(text, "yaml", background_color="default"))
    return tree


def print_config(config: Mapping[str, Any], wanted: bool | str | None, stream: TextIO | None = None) -> bool:
    """Print the tree when `wanted` (None: a terminal, `dlbench.terminal.watching.wants_progress`'s rule)."""
    from dlbench.terminal.watching import wants_progress

    if not wants_progress(wanted):
        return False
    from rich.console import Console

    Console(file=stream, soft_wrap=False).print(config_tree(config))
    return True
