"""MkDocs hooks for dlbench's site: the option tables come from the configs, so the two cannot drift.

Every `configs/<group>/<option>.yaml` starts with a `# ...` header that says what the option is,
and its body says which keys it sets. A page asks for a group's table with an HTML comment on a line of its own,

    <!-- options: optimizer hide=scale_lr_with_batch,reference_batch -->
    <!-- options: all -->                       (every group, one row per option)

and `on_page_markdown` replaces it with a Markdown table made from the files (an unknown group
fails the build). `<!-- include: README.md -->` puts the README on the home page, its `docs/`
links made relative to the site. `on_config` drops the nav entries named in
`extra.optional_pages` whose files are not there yet (pages other branches bring).

This module needs only PyYAML and dlbench itself, so tests/test_docs.py imports it without MkDocs installed.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dlbench.config.headers import header_lines

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
SKIPPED_GROUPS = ("hydra", "local")  # Hydra's own settings for dlbench; this machine's own (git-ignored)
NOT_KEYS = ("_target_", "_partial_", "defaults")
# a marker is a line of its own (so a page can show one in `code` without it being replaced)
OPTIONS = re.compile(r"^<!--\s*options:\s*(?P<group>[\w/]+)(?P<args>[^>]*?)\s*-->$", re.MULTILINE)
INCLUDE = re.compile(r"^<!--\s*include:\s*(?P<path>\S+)\s*-->$", re.MULTILINE)
SCHEMA = re.compile(r"^<!--\s*schema:\s*summary\s*-->$", re.MULTILINE)
COMMAND = re.compile(r"(?:^|\s)(python (?:train\.py|-m) .*)$")


@dataclass(frozen=True)
class Option:
    """One option of a config group, as its file describes it."""

    group: str
    name: str
    description: str  # the header's first sentence(s), up to the first line that ends one
    command: str | None  # a `python train.py ...` line of the header, if it has one
    keys: dict[str, Any] = field(default_factory=dict)  # what the file sets, flat: {"lr": 0.1}
    builds_on: tuple[str, ...] = ()  # the `defaults:` it starts from ("default", "dataset=mirror_symmetry")
    global_package: bool = False  # `# @package _global_`: the keys are full paths (penalty.l2)


def split_header(lines: list[str]) -> tuple[str, str | None]:
    """(description, command): the text up to the first line that ends a sentence, and the
    `python ...` command the header shows, wherever it is."""
    description: list[str] = []
    command = None
    done = False
    for line in lines:
        found = COMMAND.search(line)
        if found:
            command = command or found.group(1).strip()
            line = line[: found.start()].strip()
        if not done and line:
            description.append(line)
            done = line.endswith(".")
        if found:
            done = True
    return " ".join(description), command


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; empty mappings stay as values."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if key in NOT_KEYS:
            continue
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _defaults(entries: list[Any]) -> tuple[str, ...]:
    names = []
    for entry in entries or []:
        if entry == "_self_":
            continue
        if isinstance(entry, dict):
            for key, value in entry.items():
                names.append(f"{key.replace('override ', '').strip().lstrip('/')}={value}")
        else:
            names.append(str(entry))
    return tuple(names)


def read_option(path: Path) -> Option:
    text = path.read_text()
    description, command = split_header(header_lines(text))
    body = yaml.safe_load(text) or {}
    return Option(
        group=path.parent.name,
        name=path.stem,
        description=description,
        command=command,
        keys=flatten(body),
        builds_on=_defaults(body.get("defaults", [])),
        global_package=text.startswith("# @package _global_"),
    )


def groups() -> list[str]:
    """The config groups a user picks from (`python train.py --help` lists the same)."""
    return sorted(p.name for p in CONFIGS.iterdir() if p.is_dir() and p.name not in SKIPPED_GROUPS)


def options(group: str) -> list[Option]:
    folder = CONFIGS / group
    if group in SKIPPED_GROUPS or not folder.is_dir():
        raise ValueError(f"<!-- options: {group} -->: no config group configs/{group}; groups: {', '.join(groups())}")
    return [read_option(path) for path in sorted(folder.glob("*.yaml"))]


def value_text(value: Any) -> str:
    """A value as a user would type it (yaml's spelling: true, null, [16, 32], '')."""
    if isinstance(value, str):
        return value or "''"
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def cell(text: str) -> str:
    """Header text as a table cell that shows as written: outside its `code` spans, Markdown's
    emphasis (`_target_`) and HTML (`<run dir>`) are escaped."""
    parts = text.replace("\n", " ").split("`")
    for index in range(0, len(parts), 2):  # the even parts are outside code spans
        part = parts[index].replace("\\", "\\\\")
        for char in "_*[]":
            part = part.replace(char, "\\" + char)
        parts[index] = part.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return "`".join(parts)


def code(text: str) -> str:
    return f"`{text}`"  # a `|` inside a code span does not split the table's cell


def _sets(option: Option, hide: tuple[str, ...], swept: bool) -> str:
    parts = [f"on top of {code(name)}" for name in option.builds_on]
    for key, value in option.keys.items():
        if swept and key.startswith("hydra.sweeper.params."):
            continue
        if any(fnmatch.fnmatch(key, pattern) for pattern in hide):
            continue
        parts.append(code(f"{key}: {value_text(value)}"))
    return ", ".join(parts)


def _swept(option: Option) -> str:
    """What a sweep's file sweeps (`hydra.sweeper.params`), as the overrides a multirun takes."""
    prefix = "hydra.sweeper.params."
    swept = [(key.removeprefix(prefix), value) for key, value in option.keys.items() if key.startswith(prefix)]
    return ", ".join(code(f"{key}={value_text(value)}") for key, value in swept)


def group_table(group: str, hide: tuple[str, ...] = ()) -> str:
    """The table of one group: option, what it is, what it sets (and what it sweeps, for sweeps)."""
    rows = options(group)
    swept = any(key.startswith("hydra.sweeper.params.") for option in rows for key in option.keys)
    head = ["option", "what it is", *(["sweeps"] if swept else []), "sets"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for option in rows:
        what = cell(option.description)
        if swept and option.command:
            command, _, note = option.command.partition("  (")
            what += f" <br>{code(command.strip())}" + (f" ({cell(note.strip())}" if note else "")
        cells = [code(option.name), what, *([_swept(option)] if swept else []), _sets(option, hide, swept)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def all_table() -> str:
    """Every group and option with its header: what `--help` lists, with what each one is."""
    lines = ["| group | option | what it is |", "|---|---|---|"]
    for group in groups():
        for option in options(group):
            lines.append(f"| `{group}` | `{option.name}` | {cell(option.description)} |")
    return "\n".join(lines)


def _arguments(text: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in text.split() if "=" in word)


def render_options(match: re.Match[str]) -> str:
    group = match.group("group")
    if group == "all":
        return all_table()
    hide = _arguments(match.group("args")).get("hide", "")
    return group_table(group, tuple(item for item in hide.split(",") if item))


def include(match: re.Match[str]) -> str:
    """A file of the repository, its links into docs/ made relative to the site."""
    text = (ROOT / match.group("path")).read_text()
    return re.sub(r"\]\(docs/", "](", text)


def summary_schema_block(match: re.Match[str]) -> str:
    """summary.json's JSON Schema, generated from its model (`dlbench.records.summary`)."""
    from dlbench.records.summary import summary_schema

    return "```json\n" + json.dumps(summary_schema(), indent=2) + "\n```"


def expand(markdown: str) -> str:
    """A page's Markdown with every `options:`, `include:` and `schema:` comment replaced."""
    return SCHEMA.sub(summary_schema_block, OPTIONS.sub(render_options, INCLUDE.sub(include, markdown)))


# -- MkDocs' hooks ---------------------------------------------------------------------------------
def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown)


def _prune(nav: list[Any], docs_dir: Path, optional: set[str]) -> list[Any]:
    kept: list[Any] = []
    for entry in nav:
        if isinstance(entry, dict):
            title, target = next(iter(entry.items()))
            if isinstance(target, list):
                kept.append({title: _prune(target, docs_dir, optional)})
            elif not (target in optional and not (docs_dir / target).exists()):
                kept.append(entry)
        elif not (entry in optional and not (docs_dir / entry).exists()):
            kept.append(entry)
    return kept


def on_config(config: Any) -> Any:
    """Leave out the optional nav pages that are not there yet (`extra.optional_pages`)."""
    optional = set(config["extra"].get("optional_pages", []))
    if optional and config["nav"]:
        config["nav"] = _prune(config["nav"], Path(config["docs_dir"]), optional)
    return config
