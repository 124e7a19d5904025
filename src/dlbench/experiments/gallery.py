"""The gallery of docs/experiments.md: every experiment's command, figure, table and verdict, from real runs.

`python -m dlbench.experiments gallery --run` runs each CPU-sized experiment once, as its one
command (`python train.py -m experiment=<name>`, into `multirun/gallery/<name>`, timed), skips
those whose sweep is already there and complete, then draws one small PNG per experiment into
docs/figures/experiments/ and rewrites the gallery part of docs/experiments.md (between its
`<!-- gallery -->` and `<!-- /gallery -->` lines). Without `--run` it only draws and writes from
the sweeps that are there, so a figure is never made from anything but a measured run.
"""

from __future__ import annotations

import ast
import html
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlbench.config.compose import CONFIGS
from dlbench.experiments.catalog import Experiment, every, load, sweep_plan
from dlbench.experiments.check import Setting, Verdict, check, settings_of
from dlbench.experiments.claims import (
    AGGREGATES,
    JOB_FUNCTIONS,
    evaluate_quantity,
    number_text,
    parse,
    quantity_text,
    word,
)
from dlbench.reporting.comparison import find_jobs

ROOT = CONFIGS.parent
DOCS = ROOT / "docs"
FIGURES = DOCS / "figures" / "experiments"
PAGE = DOCS / "experiments.md"
START, END = "<!-- gallery -->", "<!-- /gallery -->"
RUN_RECORD = "gallery_run.json"


@dataclass(frozen=True)
class Drawing:
    """What an experiment's figure shows besides its claim's quantity per setting."""

    curve: str = "val/loss"  # the per-epoch metric drawn as mean and band per setting
    layers: tuple[str, ...] = ()  # layer statistics drawn against depth at the first epoch (grad_norm, act_std)
    log_curve: bool = False


DRAWINGS = {
    "activations": Drawing(curve="val/acc", layers=("grad_norm",)),
    "initializers": Drawing(curve="val/acc", layers=("act_std", "grad_norm")),
    "learning_rate": Drawing(curve="train/loss", log_curve=True),
    "perceptron": Drawing(curve="val/acc"),
    "mirror_1986": Drawing(curve="train/loss", log_curve=True),
    "iris": Drawing(curve="val/acc"),
    "lenet_digits": Drawing(curve="val/acc"),
    "recurrent": Drawing(curve="val/loss", log_curve=True),
    "autoencoder_pca": Drawing(curve="val/loss"),
    "batchnorm": Drawing(curve="val/acc"),
    "dropout_ensemble": Drawing(curve="val/acc"),
    "augmentation": Drawing(curve="val/acc"),
    "relu_tanh_cnn": Drawing(curve="train/acc"),
    "xor_1986": Drawing(curve="train/loss", log_curve=True),
    "encoder_838": Drawing(curve="train/loss", log_curve=True),
    "optimizers_speed": Drawing(curve="train/loss", log_curve=True),
    "mdn_inverse": Drawing(curve="val/loss"),
    "segmentation_dice": Drawing(curve="val/dice"),
}


# -- running --------------------------------------------------------------------------------------
def complete(sweep_dir: Path, plan_jobs: int) -> bool:
    """Whether the sweep there finished: its report is written and every job left a summary."""
    return (sweep_dir / "report.md").exists() and len(list(sweep_dir.glob("*/summary.json"))) >= plan_jobs


def run_experiment(name: str, sweep_dir: Path) -> dict[str, Any]:
    """`python train.py -m experiment=<name>` into `sweep_dir`, timed; the record is kept beside it."""
    command = [sys.executable, "train.py", "-m", f"experiment={name}", f"hydra.sweep.dir={sweep_dir}"]
    load_before = os.getloadavg()
    version = code_version()  # before the run: what it ran, whatever is committed while it runs
    started = time.time()
    log = sweep_dir.parent / f"{name}.log"
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        result = subprocess.run(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, check=False)
    record = {
        "command": f"python train.py -m experiment={name}",
        "code_version": version,
        "exit_status": result.returncode,
        "wall_time_s": round(time.time() - started, 1),
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return record


def code_version() -> str:
    """The commit the run's code is at (short hash), `+changes` when what trains (src/ but the
    experiments' own package, configs/, train.py) differs from it."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown"
    # the verdict code (experiments/) is re-run when the page is drawn: only what trains counts
    changed = git("status", "--porcelain", "--", "src", "configs", "train.py", ":(exclude)src/dlbench/experiments")
    return commit + ("+changes" if changed else "")


# -- numbers per setting --------------------------------------------------------------------------
def claim_quantities(experiment: Experiment) -> list[str]:
    """The quantities the claim compares, in the order it names them."""
    tree = parse(experiment.claim.holds_if, AGGREGATES, "claim.holds_if")
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) != "seeds" and node.args:
            name = word(node.args[0])
            if name not in found:
                found.append(name)
    return found


def values(experiment: Experiment, setting: Setting, quantity: str) -> list[float]:
    tree = parse(quantity_text(quantity, experiment.claim.quantities), JOB_FUNCTIONS, quantity)
    return [evaluate_quantity(tree, job.summary) for job in setting.jobs]


def spread_text(numbers: list[float]) -> str:
    """mean ± std over the seeds; `never` only for a criterion never reached (inf), `-` for a
    number the jobs did not log (nan: a metric this setting does not have)."""
    logged = [value for value in numbers if not math.isnan(value)]
    if not logged:
        return "-"
    missing = f"; {len(numbers) - len(logged)} not logged" if len(logged) < len(numbers) else ""
    finite = [value for value in logged if math.isfinite(value)]
    if len(finite) < len(logged):  # some never reached it: say how many did, and their median
        never = len(logged) - len(finite)
        if not finite:
            return "never" + (f" ({len(logged)} of {len(numbers)} logged)" if missing else "")
        shown = number_text(statistics.median(finite))
        return f"{len(finite)}/{len(logged)} reached (median {shown}; {never} never{missing})"
    if missing:
        return f"{number_text(statistics.fmean(finite))} ({len(logged)} of {len(numbers)} logged)"
    mean = statistics.fmean(finite)
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return f"{number_text(mean)} ± {number_text(std)}"


def table(experiment: Experiment, settings: list[Setting]) -> list[str]:
    """One row per setting: its seeds and, mean ± std over them, each quantity the claim names
    and the test metrics."""
    quantities = claim_quantities(experiment)
    metrics = sorted({f"test/{key}" for s in settings for job in s.jobs for key in job.summary.metrics.test})
    columns = quantities + [metric for metric in metrics if metric not in quantities]
    lines = ["| setting | seeds | " + " | ".join(cell(c) for c in columns) + " |", "|---|---|" + "---|" * len(columns)]
    for setting in settings:
        cells = [spread_text(values(experiment, setting, column)) for column in columns]
        lines.append(f"| {cell(setting.label)} | {len(setting.jobs)} | " + " | ".join(cells) + " |")
    return lines


def text_of(value: object) -> str:
    """A user's value (a setting, a claim's sentence, a number line) as page text: HTML's special
    characters escaped, so `<`, `>` and `&` show as themselves and cannot open a tag."""
    return html.escape(str(value), quote=False)


def cell(value: object) -> str:
    """text_of for a table cell: a `|` would end the cell, so it is escaped too."""
    return text_of(value).replace("|", "&#124;")


# -- the figure -----------------------------------------------------------------------------------
def _curve(jobs: list[Any], key: str) -> tuple[list[float], list[float], list[float]]:
    columns = [[row[key] for row in job.summary.history if key in row] for job in jobs]
    length = max((len(column) for column in columns), default=0)
    epochs, means, stds = [], [], []
    for epoch in range(length):
        at = [column[epoch] for column in columns if epoch < len(column) and math.isfinite(column[epoch])]
        if at:
            epochs.append(epoch + 1)
            means.append(statistics.fmean(at))
            stds.append(statistics.stdev(at) if len(at) > 1 else 0.0)
    return epochs, means, stds


def _layer_profile(jobs: list[Any], quantity: str) -> tuple[list[str], list[float]]:
    """A layer statistic at the first epoch, mean over seeds, in the network's order."""
    first = [(job.summary.history or [{}])[0] for job in jobs]
    keys = sorted(
        {key for row in first for key in row if key.startswith(quantity + "/")},
        key=lambda key: [int(part) if part.isdigit() else part for part in key.split("/", 1)[1].split(".")],
    )
    means = []
    for key in keys:
        at = [float(row[key]) for row in first if key in row and math.isfinite(float(row[key]))]
        means.append(statistics.fmean(at) if at else math.nan)
    return [key.split("/", 1)[1] for key in keys], means


def short_label(setting: Setting) -> str:
    """A setting's name in a legend: its value where one key varies, else each key's last part=value."""
    if not setting.values:
        return "all jobs"
    if len(setting.values) == 1:
        return next(iter(setting.values.values()))[:20]
    return " ".join(f"{key.split('.')[-1].split('/')[-1]}={value}" for key, value in setting.values.items())[:28]


def draw(experiment: Experiment, settings: list[Setting], path: Path) -> Path:
    """One PNG: the curve per setting, the claim's first quantity per setting (each seed a dot),
    and layer statistics against depth where the experiment measured them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawing = DRAWINGS.get(experiment.name, Drawing())
    quantity = claim_quantities(experiment)[0]
    panels = 2 + len(drawing.layers)
    figure, axes = plt.subplots(
        1, panels, figsize=(4.2 * panels, 3.3), dpi=80 if panels == 2 else 66
    )  # each PNG < 60 kB
    colours = plt.get_cmap("tab10")
    curve_axis = axes[0]
    for index, setting in enumerate(settings):
        epochs, means, stds = _curve(setting.jobs, drawing.curve)
        if not epochs:
            continue
        colour = colours(index % 10)
        curve_axis.plot(epochs, means, color=colour, label=short_label(setting), linewidth=1.4)
        low = [m - s for m, s in zip(means, stds, strict=True)]
        high = [m + s for m, s in zip(means, stds, strict=True)]
        curve_axis.fill_between(epochs, low, high, color=colour, alpha=0.15, linewidth=0)
    if drawing.log_curve:
        curve_axis.set_yscale("log")
    curve_axis.set_xlabel("epoch")
    curve_axis.set_ylabel(f"{drawing.curve} (mean ± std)")
    curve_axis.legend(fontsize=7, loc="best")
    bar_axis = axes[1]
    labels = [short_label(setting) for setting in settings]
    for index, setting in enumerate(settings):
        numbers = values(experiment, setting, quantity)
        finite = [value for value in numbers if math.isfinite(value)]
        if finite:
            bar_axis.bar(index, statistics.fmean(finite), color=colours(index % 10), alpha=0.5)
            bar_axis.scatter([index] * len(finite), finite, color="black", s=10, zorder=3)
        missed = len(numbers) - len(finite)
        if missed:
            bar_axis.annotate(f"{missed} never", (index, 0), ha="center", va="bottom", fontsize=7, color="red")
    bar_axis.set_xticks(range(len(settings)), labels, rotation=30, ha="right", fontsize=7)
    bar_axis.set_ylabel(quantity)
    shown = [value for setting in settings for value in values(experiment, setting, quantity)]
    positive = [value for value in shown if math.isfinite(value) and value > 0]
    if (
        positive
        and len(positive) == len([v for v in shown if math.isfinite(v)])
        and max(positive) > 100 * min(positive)
    ):
        bar_axis.set_yscale("log")  # a U-shape over decades (the learning rate) is flat on a linear axis
    bar_axis.set_title("each seed a dot; bar: mean of those reached", fontsize=8)
    for axis, statistic in zip(axes[2:], drawing.layers, strict=True):
        for index, setting in enumerate(settings):
            names, means = _layer_profile(setting.jobs, statistic)
            if names:
                axis.plot(range(1, len(names) + 1), means, marker="o", markersize=3, color=colours(index % 10))
        axis.set_yscale("log")
        axis.set_xlabel("layer (input side first)")
        axis.set_ylabel(f"{statistic}, first epoch")
    figure.suptitle(f"experiment={experiment.name}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


# -- the page -------------------------------------------------------------------------------------
def section(experiment: Experiment, verdict: Verdict | None, run: dict[str, Any] | None, figure: Path | None) -> str:
    lines = [
        f"### {experiment.name}",
        "",
        text_of(experiment.description),
        "",
        f"```bash\n{experiment.command}\n```",
        "",
    ]
    budget = experiment.budget
    cost = f"{budget.get('jobs')} jobs; budget {budget.get('minutes')} min on {budget.get('device')}"
    if run is not None:
        load = "/".join(str(value) for value in run.get("load_average_before", []))
        cost += f"; measured {minutes_of(run)} min (started {run['started']}, load average {load})"
        cost += f"; code {run.get('code_version', 'not recorded')}"
    lines += [cost, "", f"**Claim.** {text_of(experiment.claim.says)}", "", f"Holds if `{experiment.claim.holds_if}`"]
    for name, text in experiment.claim.quantities.items():
        lines.append(f"with {name} = `{text}`")
    lines.append("")
    if verdict is None:
        why = (
            "it is GPU-sized (see its budget)"
            if experiment.gpu_sized
            else "no finished sweep of it with the current code under multirun/gallery/ (earlier runs, where "
            "there were any, are re-checked in [What the intervals change](#what-the-intervals-change))"
        )
        lines += [f"**Not yet run here**: {why}.", ""]
        return "\n".join(lines)
    lines += [f"**Verdict: {verdict.word}.**", ""]
    lines += [f"- {text_of(line)}" for line in verdict.lines]
    if verdict.problem:
        lines.append(f"- not checked: {text_of(verdict.problem)}")
    if verdict.deviations:
        lines += ["", "The run deviates from the experiment: " + text_of("; ".join(verdict.deviations))]
    lines.append("")
    if figure is not None:
        lines += [f"![experiment={experiment.name}: the runs]({figure.relative_to(DOCS).as_posix()})", ""]
    return "\n".join(lines)


def minutes_of(run: dict[str, Any]) -> float:
    """A run's wall time in minutes, rounded up to a tenth (as the experiments' budgets give it)."""
    return math.ceil(float(run["wall_time_s"]) / 6) / 10


def summary_table(rows: list[tuple[Experiment, Verdict | None, dict[str, Any] | None] | str]) -> list[str]:
    """One row per experiment: its verdict, each interval test's difference with its 95% interval
    and number of seeds, the jobs, the measured time and load, and the code version it ran."""
    lines = [
        "| experiment | verdict | difference [95% interval] (seeds) | jobs | measured time (load) | code |",
        "|---|---|---|---|---|---|",
    ]
    for kept in rows:
        if isinstance(kept, str):  # a row kept from the page as it was (`shown_on_page`)
            lines.append(kept)
            continue
        experiment, verdict, run = kept
        shown = verdict.word if verdict is not None else "not yet run here"
        intervals = "<br>".join(
            f"{cell(c.what)}: {cell(c.interval.text())} ({c.interval.n}) {'yes' if c.holds else 'no'}"
            for c in (verdict.comparisons if verdict else [])
        )
        if verdict is not None and not verdict.comparisons:
            intervals = "no interval test: a level on the mean or counts"
        minutes = "-"
        if run:
            minutes = f"{minutes_of(run)} min ({run.get('load_average_before', ['?'])[0]})"
        jobs = verdict.jobs if verdict else "-"
        code = run.get("code_version", "not recorded") if run else "-"
        lines.append(
            f"| [{experiment.name}](#{experiment.name}) | {shown} | {intervals or '-'} | {jobs} | {minutes} | {code} |"
        )
    return lines


def make_gallery(names: list[str], run: bool = False, root: str = "multirun/gallery") -> int:
    """Run (with `run`) the experiments `names` (default: every one) and rewrite the gallery part of
    docs/experiments.md, which always shows every experiment: drawn from its sweep when it has a
    finished one, else marked as not yet run here."""
    wanted = {load(name).name for name in names}  # an unknown name: one sentence with the list
    base = Path(root) if Path(root).is_absolute() else ROOT / root
    shown_rows, shown_sections = shown_on_page()
    rows: list[tuple[Experiment, Verdict | None, dict[str, Any] | None] | str] = []
    sections = []
    for experiment in every():
        sweep_dir = base / experiment.name
        record_path = sweep_dir / RUN_RECORD
        chosen = not wanted or experiment.name in wanted
        if run and chosen and not experiment.gpu_sized and not complete(sweep_dir, sweep_plan(experiment.name).jobs):
            print(f"gallery: running python train.py -m experiment={experiment.name} -> {sweep_dir}", flush=True)
            run_experiment(experiment.name, sweep_dir)
        record = json.loads(record_path.read_text()) if record_path.exists() else None
        verdict = figure = None
        if (sweep_dir / "report.md").exists():  # written when the sweep ended: never a half-run sweep
            verdict = check(experiment.name, sweep_dir)
            settings = settings_of(find_jobs(sweep_dir))
            figure = draw(experiment, settings, FIGURES / f"{experiment.name}.png")
            body = section(experiment, verdict, record, figure) + "\n" + "\n".join(table(experiment, settings)) + "\n"
            print(f"gallery: {experiment.name}: {verdict.word}", flush=True)
        elif experiment.name in shown_rows:  # measured elsewhere (its row names the code it ran): kept
            rows.append(shown_rows[experiment.name])
            sections.append(shown_sections[experiment.name])
            continue
        else:
            body = section(experiment, None, None, None)
        rows.append((experiment, verdict, record))
        sections.append(body)
    write_page(summary_table(rows), sections)
    return 0


def shown_on_page() -> tuple[dict[str, str], dict[str, str]]:
    """The gallery's rows and sections now on the page that show a measured run, by experiment.

    The sweeps under multirun/gallery/ stay on the machine that ran them; a row measured in an
    earlier session (its verdict, its time and load, the commit it ran) is kept as it is when
    this machine has no sweep of that experiment, so regenerating some experiments never drops
    the others' measurements. A row of this machine's sweep always replaces it."""
    text = PAGE.read_text()
    if START not in text or END not in text:
        return {}, {}
    gallery = text.partition(START)[2].partition(END)[0]
    rows = {}
    for line in gallery.splitlines():
        match = re.match(r"\| \[([\w-]+)\]\(#[\w-]+\) \| (.+?) \|", line)
        if match and match.group(2) != "not yet run here":
            rows[match.group(1)] = line
    sections = {}
    for block in re.split(r"(?m)^(?=### )", gallery):
        match = re.match(r"### ([\w-]+)\n", block)
        if match and match.group(1) in rows:
            sections[match.group(1)] = block.rstrip("\n") + "\n"
    return rows, {name: block for name, block in sections.items() if name in rows}


def write_page(summary: list[str], sections: list[str]) -> None:
    text = PAGE.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{PAGE} needs the lines {START} and {END} around the gallery")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    body = "\n".join(["", *summary, "", *sections])
    PAGE.write_text(f"{head}{START}\n{body}\n{END}{tail}")
