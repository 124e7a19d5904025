"""A config file's header: the comment block a yaml file starts with, which says what the option is.

The docs site's option tables (docs/hooks/dlbench_docs.py) and the experiments' list
(dlbench.experiments.catalog) read the same lines; no Hydra, no torch.
"""

from __future__ import annotations


def header_lines(text: str) -> list[str]:
    """The leading comment block of a yaml file, without `# @package` and the `#`."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            lines.append(line[1:].strip())
    return lines
