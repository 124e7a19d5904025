"""Did an experiment's claim hold on a sweep's runs? Read from the files the jobs left behind.

`check(name, sweep_dir)` groups the sweep's jobs into settings (jobs whose overrides are equal
apart from `seed`), evaluates the experiment's `claim.holds_if` over them (each aggregate over a
setting's seeds) and returns a `Verdict`: held or not, every number the claim looked at, and the
ways the runs deviate from the experiment (an override on top of it, a value outside its sweep,
fewer or other seeds, a job that did not run `experiment=<name>`, a job without a summary). A
deviating sweep is still checked: the verdict then says it is about other settings.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dlbench.experiments.catalog import Experiment, SweepPlan, load, sweep_plan
from dlbench.experiments.claims import (
    AGGREGATES,
    CONFIDENCE,
    INTERVAL_TESTS,
    PAIRED_TESTS,
    ClaimError,
    Interpreter,
    Interval,
    Trace,
    aggregate,
    evaluate_quantity,
    number_text,
    paired_differences,
    parse,
    quantity_text,
    t_interval,
    word,
)
from dlbench.experiments.claims import (
    JOB_FUNCTIONS as _JOB_FUNCTIONS,
)
from dlbench.reporting.comparison import Job, find_jobs
from dlbench.reporting.seeds import SEED_KEYS, Setting, group_by


@dataclass(frozen=True)
class Comparison:
    """One interval test of a claim: what it compared, the difference, its interval, its verdict."""

    call: str  # as the claim writes it: lower(best, momentum, sgd)
    what: str  # momentum - sgd, or mean over '[]' - 1.05
    interval: Interval
    holds: bool

    def record(self) -> dict[str, object]:
        """For experiment_check.json: the test, the difference, its interval and the seeds (JSON has
        no infinity: a never is the string "never")."""

        def number(value: float) -> float | str | None:
            return None if math.isnan(value) else ("never" if math.isinf(value) else value)

        interval = self.interval
        return {
            "test": self.call,
            "what": self.what,
            "difference": number(interval.mean),
            "interval_95": [number(interval.low), number(interval.high)],
            "seeds": interval.n,
            "holds": self.holds,
        }

    def line(self) -> str:
        paired = "paired t" if self.call.startswith(PAIRED_TESTS) else "t"
        seeds = f"{self.interval.n} seed{'s' if self.interval.n != 1 else ''}"
        return (
            f"{self.call}: {self.what} = {self.interval.text()} ({CONFIDENCE:.0%} {paired}, {seeds}), "
            f"{'yes' if self.holds else 'no'}"
        )


@dataclass
class Verdict:
    """What `check` found."""

    experiment: Experiment
    sweep_dir: Path
    held: bool | None  # None: the claim could not be evaluated (see `problem`)
    lines: list[str]  # the numbers, one line each
    deviations: list[str]
    jobs: int
    completed: int
    problem: str | None = None
    comparisons: list[Comparison] = field(default_factory=list)  # the interval tests, in the claim's order

    @property
    def word(self) -> str:
        return {True: "held", False: "did not hold", None: "not checked"}[self.held]


def settings_of(jobs: list[Job]) -> list[Setting]:
    """Jobs grouped by their overrides apart from the seed, in job order."""
    keys: list[str] = []
    for job in jobs:
        keys += [key for key in job.overrides if key not in keys and key not in SEED_KEYS]
    varying = [key for key in keys if len({job.overrides.get(key) for job in jobs}) > 1]
    return group_by(jobs, varying)


def select(settings: list[Setting], selector: str | None) -> Setting:
    """The one setting a selector names: `relu`, `model.activation=relu`, `model=lstm dataset=adding`
    (every word must match: a bare value matches any key's value). No selector: every job."""
    if selector is None:
        return Setting({}, [job for setting in settings for job in setting.jobs])
    words = selector.split()

    def matches(setting: Setting) -> bool:
        for item in words:
            key, equals, value = item.partition("=")
            if equals:
                if setting.values.get(key) != value:
                    return False
            elif item not in setting.values.values():
                return False
        return True

    found = [setting for setting in settings if matches(setting)]
    if len(found) != 1:
        there = "; ".join(setting.label for setting in settings)
        how = "no setting" if not found else f"{len(found)} settings"
        raise ClaimError(f"{how} of the sweep match {selector!r}; its settings are: {there}.")
    return found[0]


def evaluate(experiment: Experiment, settings: list[Setting]) -> tuple[bool, list[str], list[Comparison]]:
    """The claim's truth on these settings, the numbers it looked at, and its interval tests."""
    claim = experiment.claim
    trace = Trace()
    parsed: dict[str, ast.Expression] = {}
    comparisons: list[Comparison] = []

    def quantity(name: str) -> ast.Expression:
        if name not in parsed:
            parsed[name] = parse(quantity_text(name, claim.quantities), _JOB_FUNCTIONS, f"quantity {name}")
        return parsed[name]

    def per_seed(name: str, selector: str | None) -> tuple[Setting, list[tuple[str, float]]]:
        setting = select(settings, selector)
        tree = quantity(name)
        found = [
            (seed, evaluate_quantity(tree, job.summary)) for seed, job in zip(setting.seeds, setting.jobs, strict=True)
        ]
        each = ", ".join(f"{seed}: {number_text(value)}" for seed, value in found)
        trace.add(f"{name} over {setting.label or 'every job'}: seeds {each}")
        return setting, found

    def interval_test(function: str, arguments: list[ast.expr], node: ast.Call) -> float:
        name = word(arguments[0])
        if function in PAIRED_TESTS:
            a, first = per_seed(name, word(arguments[1]))
            b, second = per_seed(name, word(arguments[2]))
            factor = float(word(arguments[3])) if len(arguments) > 3 else 1.0
            margin = float(word(arguments[4])) if len(arguments) > 4 else 0.0
            interval = t_interval(list(paired_differences(dict(first), dict(second), factor).values()))
            scaled = f"{number_text(factor)} x " if factor != 1.0 else ""
            against = f", against {number_text(margin)}" if margin else ""
            what = f"{a.label} - {scaled}{b.label}{against}"
            holds = interval.excludes(margin, "below" if function == "lower" else "above")
        else:
            value = float(word(arguments[1]))
            a, found = per_seed(name, word(arguments[2]) if len(arguments) > 2 else None)
            interval = t_interval([value for _, value in found])
            what = f"mean over {a.label or 'every job'}, against {number_text(value)}"
            holds = interval.excludes(value, function)
        comparison = Comparison(ast.unparse(node), what, interval, holds)
        comparisons.append(comparison)
        trace.add(comparison.line())
        return 1.0 if holds else 0.0

    def call(function: str, arguments: list[ast.expr], node: ast.Call) -> float:
        if function in INTERVAL_TESTS:
            return interval_test(function, arguments, node)
        if function == "seeds":
            setting = select(settings, word(arguments[0]) if arguments else None)
            values = [0.0] * len(setting.jobs)
        else:
            setting = select(settings, word(arguments[1]) if len(arguments) > 1 else None)
            tree = quantity(word(arguments[0]))
            values = [evaluate_quantity(tree, job.summary) for job in setting.jobs]
        result = aggregate(function, values)
        if function == "seeds":
            trace.add(f"{ast.unparse(node)} = {number_text(result)}")
        else:
            each = ", ".join(f"{seed}: {number_text(value)}" for seed, value in zip(setting.seeds, values, strict=True))
            trace.add(f"{ast.unparse(node)} = {number_text(result)}  (seeds {each})")
        return result

    tree = parse(claim.holds_if, AGGREGATES, "claim.holds_if")
    held = bool(Interpreter(call, trace).value(tree))
    return held, trace.lines, comparisons


# -- deviations -----------------------------------------------------------------------------------
def _numbers(jobs: Sequence[Job]) -> str:
    numbers = [str(job.number) for job in jobs]
    return "job " + numbers[0] if len(numbers) == 1 else f"jobs {', '.join(numbers)}"


def deviations(experiment: Experiment, plan: SweepPlan, jobs: list[Job], settings: list[Setting]) -> list[str]:
    """How these jobs differ from what `python train.py -m experiment=<name>` runs, one line each."""
    found: dict[str, list[Job]] = {}
    for job in jobs:
        ran = job.overrides.get("experiment")
        if ran != experiment.name:
            found.setdefault(
                f"ran experiment={ran}" if ran else f"did not run experiment={experiment.name}", []
            ).append(job)
        for key, value in job.overrides.items():
            if key in ("experiment", "seed"):
                continue
            if key == "seeds":
                if int(float(value)) != len(plan.seeds):
                    found.setdefault(f"seeds={value} (the experiment runs {len(plan.seeds)})", []).append(job)
                continue
            if key in plan.params:
                if value not in plan.params[key]:
                    allowed = ",".join(plan.params[key])
                    found.setdefault(f"{key}={value}, not one of the experiment's values {allowed}", []).append(job)
                continue
            found.setdefault(f"{key}={value} on top of the experiment", []).append(job)
        if job.status != "completed":
            found.setdefault(f"status {job.status}: {job.summary.stop_reason or ''}".strip(), []).append(job)
    lines = [f"{_numbers(group)}: {what}" for what, group in found.items()]
    expected = sorted((str(seed) for seed in plan.seeds), key=_seed_order)
    other_seeds: dict[tuple[str, ...], list[str]] = {}
    for setting in settings:
        seeds = tuple(sorted(setting.seeds, key=_seed_order))
        if list(seeds) != expected:
            other_seeds.setdefault(seeds, []).append(setting.label)
    for seeds, labels in other_seeds.items():
        which = "every setting" if len(labels) == len(settings) else "; ".join(labels)
        lines.append(f"{which}: seeds {', '.join(seeds)} (the experiment runs {', '.join(expected)})")
    ran = {tuple(job.overrides.get(key) for key in plan.params) for job in jobs}
    for wanted in plan.settings():
        if tuple(wanted.values()) not in ran:
            lines.append(" ".join(f"{key}={value}" for key, value in wanted.items()) + ": not run")
    return lines


def _seed_order(seed: str) -> float:
    try:
        return float(seed)
    except ValueError:
        return math.inf


# -- the check ------------------------------------------------------------------------------------
def check(name: str, sweep_dir: str | Path) -> Verdict:
    """The verdict of experiment `name`'s claim on the runs in `sweep_dir`."""
    experiment = load(name)
    sweep_dir = Path(sweep_dir)
    jobs = find_jobs(sweep_dir)
    if not jobs:
        raise ClaimError(
            f"{sweep_dir} holds no jobs; give the sweep directory of python train.py -m experiment={name}."
        )
    settings = settings_of(jobs)
    plan = sweep_plan(name)
    notes = deviations(experiment, plan, jobs, settings)
    completed = sum(job.status == "completed" for job in jobs)
    try:
        held, lines, comparisons = evaluate(experiment, settings)
    except ClaimError as error:
        return Verdict(experiment, sweep_dir, None, [], notes, len(jobs), completed, str(error))
    return Verdict(experiment, sweep_dir, held, lines, notes, len(jobs), completed, None, comparisons)


def latest_sweep(name: str, root: str | Path = "multirun") -> Path | None:
    """The newest sweep directory under `root` whose jobs ran `experiment=<name>`."""
    candidates = []
    for overrides in Path(root).glob("**/.hydra/overrides.yaml"):
        text = overrides.read_text()
        if f"experiment={name}\n" in text + "\n":
            candidates.append(overrides.parent.parent.parent)
    return max(set(candidates), key=lambda path: path.stat().st_mtime) if candidates else None


def text(verdict: Verdict, markdown: bool = False) -> str:
    """The verdict for a terminal, or as a section of report.md."""
    experiment = verdict.experiment
    bullet = "- " if markdown else "  "
    code = (lambda s: f"`{s}`") if markdown else (lambda s: s)
    lines = (
        ["", f"## Experiment {experiment.name}: the claim", ""]
        if markdown
        else [f"experiment={experiment.name}: {verdict.sweep_dir} ({verdict.jobs} jobs, {verdict.completed} completed)"]
    )
    lines.append(f"Claim: {experiment.claim.says}")
    if markdown:
        lines.append("")
    lines.append(f"Holds if: {code(experiment.claim.holds_if)}")
    for name, quantity in experiment.claim.quantities.items():
        lines.append(f"{bullet}{name} = {code(quantity)}")
    if markdown:
        lines.append("")
    lines += [f"{bullet}{line}" for line in verdict.lines]
    if verdict.problem:
        lines.append(f"{bullet}cannot evaluate: {verdict.problem}")
    if markdown:
        lines.append("")
    deviates = " (on runs that deviate from the experiment, below)" if verdict.deviations else ""
    verdict_line = f"Verdict: {verdict.word.upper()}{deviates}"
    lines.append(f"**{verdict_line}**" if markdown else verdict_line)
    if verdict.deviations:
        if markdown:
            lines.append("")
        lines.append("The runs deviate from the experiment's settings:")
        lines += [f"{bullet}{line}" for line in verdict.deviations]
    return "\n".join(lines)
