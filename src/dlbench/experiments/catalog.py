"""The experiments: `configs/experiment/<name>.yaml`, read as data.

Each file is a Hydra option (`python train.py -m experiment=<name>`) whose header says what it
shows and its command, and which carries two nodes of its own:

- `claim:` what should happen, checkably: `says` (one sentence), `holds_if` (an expression in the
  claim language, dlbench.experiments.claims) and `quantities` (named per-job numbers it uses);
- `budget:` what its default run costs: `jobs` (settings x seeds), `minutes` (measured wall time
  on the stated `device`), and `device` (`2 CPU cores`, or a GPU for the GPU-sized ones).

Listing reads the files alone (no Hydra, no torch); what the sweep really runs (its swept keys,
values and seeds) is asked of Hydra by composing `experiment=<name>` (`sweep_plan`).
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from dlbench.config.compose import CONFIGS
from dlbench.config.headers import header_lines
from dlbench.experiments.claims import (
    AGGREGATES,
    JOB_FUNCTIONS,
    ONE_SAMPLE_TESTS,
    PAIRED_TESTS,
    ClaimError,
    parse,
    quantity_text,
    word,
)
from dlbench.reporting.seeds import SEED_KEYS

FOLDER = CONFIGS / "experiment"


@dataclass(frozen=True)
class Claim:
    """An experiment's expected outcome (see the module docstring)."""

    says: str
    holds_if: str
    quantities: dict[str, str] = field(default_factory=dict)

    def check_syntax(self, where: str) -> None:
        """Every expression parses, uses only allowed functions, and names known quantities."""
        for name, text in self.quantities.items():
            parse(str(text), JOB_FUNCTIONS, f"{where}.quantities.{name}")
        tree = parse(self.holds_if, AGGREGATES, f"{where}.holds_if")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) != "seeds":
                function = getattr(node.func, "id", None)
                shown = f"{where}.holds_if: {ast.unparse(node)}"
                if not node.args:
                    raise ClaimError(f"{shown} needs a quantity, e.g. mean('test/acc').")
                if function in PAIRED_TESTS and len(node.args) not in (3, 4, 5):
                    raise ClaimError(
                        f"{shown} takes a quantity, two settings, and a factor and a margin at most: "
                        f"{function}(best, a, b) or {function}(best, a, b, 2, 0.01)."
                    )
                if function in ONE_SAMPLE_TESTS:
                    if len(node.args) not in (2, 3):
                        raise ClaimError(
                            f"{shown} takes a quantity, a number and a setting: {function}('test/acc', 0.9)."
                        )
                    _number(word(node.args[1]), shown)
                for extra in node.args[3:] if function in PAIRED_TESTS else []:
                    _number(word(extra), shown)
                if function not in PAIRED_TESTS + ONE_SAMPLE_TESTS and len(node.args) > 2:
                    raise ClaimError(f"{shown} takes a quantity and a setting at most.")
                quantity_text(word(node.args[0]), self.quantities)


def _number(text: str, shown: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ClaimError(f"{shown}: {text!r} should be a number.") from None


@dataclass(frozen=True)
class Experiment:
    """One experiment file, as data."""

    name: str
    path: Path
    description: str  # the header's sentence
    command: str  # the header's command line
    claim: Claim
    budget: dict[str, Any]
    sets: dict[str, Any]  # what the file sets (flat, without claim, budget and hydra)

    @property
    def gpu_sized(self) -> bool:
        return "gpu" in str(self.budget.get("device", "")).lower()


def header(text: str) -> tuple[str, str]:
    """(description, command) of an experiment file's leading comment block."""
    lines = header_lines(text)
    command = next((line[line.index("python ") :] for line in lines if "python " in line), "")
    description = " ".join(line for line in lines if "python " not in line)
    return description, command.split("  (")[0].strip()


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: node}


def names() -> list[str]:
    return sorted(path.stem for path in FOLDER.glob("*.yaml"))


@cache
def load(name: str) -> Experiment:
    """The experiment `name`; ClaimError (one sentence, with the list) when there is none."""
    path = FOLDER / f"{name}.yaml"
    if not path.is_file():
        raise ClaimError(f"there is no experiment {name!r}; choose one of: {', '.join(names())}.")
    text = path.read_text()
    body = yaml.safe_load(text) or {}
    description, command = header(text)
    node = body.get("claim") or {}
    where = f"claim of configs/experiment/{name}.yaml"
    if not isinstance(node, dict) or "says" not in node or "holds_if" not in node:
        raise ClaimError(f"the {where} needs says: (one sentence) and holds_if: (an expression).")
    claim = Claim(
        str(node["says"]), str(node["holds_if"]), {k: str(v) for k, v in (node.get("quantities") or {}).items()}
    )
    claim.check_syntax(where)
    sets = {
        key: value
        for key, value in flatten({k: v for k, v in body.items() if k not in ("claim", "budget", "defaults")}).items()
        if not key.startswith("hydra.")
    }
    return Experiment(name, path, description, command, claim, dict(body.get("budget") or {}), sets)


def every() -> list[Experiment]:
    return [load(name) for name in names()]


# -- what the sweep runs, as Hydra composes it ----------------------------------------------------
@dataclass(frozen=True)
class SweepPlan:
    """The jobs `python train.py -m experiment=<name>` launches."""

    params: dict[str, list[str]]  # swept key -> its values (seed not included)
    seeds: list[int]
    launcher: str  # hydra/launcher's choice: basic, population, ...
    choices: dict[str, str]  # the config groups' options the experiment runs with

    @property
    def jobs(self) -> int:
        count = len(self.seeds)
        for values in self.params.values():
            count *= len(values)
        return count

    def settings(self) -> list[dict[str, str]]:
        keys = list(self.params)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.params.values())]


def sweep_values(key: str, value: Any) -> list[str]:
    """The values a sweep parameter runs (`0.1,0.01`, `range(3)`, `choice(a,b)`), as Hydra expands them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    override = OverridesParser.create().parse_overrides([f"{key}={value}"])[0]
    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    return [str(item) for item in override.sweep_string_iterator()]


@cache
def sweep_plan(name: str) -> SweepPlan:
    """Compose `experiment=<name>` with Hydra (as `-m` would) and read what it sweeps."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from dlbench.config.seeds import seeded_arguments

    load(name)  # one sentence for an unknown name
    running = GlobalHydra.instance().hydra  # inside a multirun (the report at its end): Hydra's own, kept
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            config = compose(config_name="train", overrides=[f"experiment={name}"], return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
        GlobalHydra.instance().hydra = running
    raw = dict(config.hydra.sweeper.params or {})
    # a job records `+group=option` as `group=option` (reporting.comparison.parse_overrides): keyed alike
    params = {key.lstrip("+~"): sweep_values(key, value) for key, value in raw.items() if key not in SEED_KEYS}
    seeds = [int(config.seed)]
    if "seed" in raw:
        seeds = [int(value) for value in sweep_values("seed", raw["seed"])]
    for argument in seeded_arguments(config, [], {str(k): str(v) for k, v in raw.items()}):
        key, _, value = argument.partition("=")
        if key == "seed":
            seeds = [int(item) for item in sweep_values("seed", value)]
    choices = {str(k): str(v) for k, v in config.hydra.runtime.choices.items() if v is not None}
    return SweepPlan(params, seeds, choices.get("hydra/launcher", "basic"), choices)
