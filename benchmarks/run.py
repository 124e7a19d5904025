"""dlbench against a hand-written PyTorch loop, side by side, in one invocation.

    python benchmarks/run.py                 # all cases, 3 repetitions, medians
    python benchmarks/run.py --quick         # tiny settings: checks the benchmark itself works
    python benchmarks/run.py --cases iris_mlp startup --repeats 5
    python benchmarks/run.py --device cuda --precision bf16-mixed --compile   # the GPU rows
    python benchmarks/run.py --device cuda --cases population_lenet_256 --repeats 1    # and population_lenet_1024

Prints a Markdown table (times, ratios, peak memory, targets) and writes it to
`benchmarks/results/latest.md` (raw numbers: `latest.json`).

Every measurement is a fresh process, launched in turn for each side and repetition (so slow
spells of a shared machine hit all sides alike) and reported as the median over repetitions.
Peak memory is the process's peak resident set size (`ru_maxrss`, read by `os.wait4` or by the
process itself): what the machine must have free to run it, imports included; with `--device
cuda` the rows add the GPU's peak (`torch.cuda.max_memory_allocated`). `--device`, `--precision`
and `--compile` apply to the training cases, on all three sides alike. Torch uses `--threads`
threads (default 1) on every side: on a shared 2-core machine a second intra-op thread mostly
spins and waits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.cases import training_cases  # noqa: E402
from benchmarks.population import population_cases  # noqa: E402

SIDES = ("hand", "lightning", "dlbench")
OTHER_CASES = ("multirun", "startup")
POPULATION_CASES = (*population_cases(False), "population_sweep")
RESULTS = ROOT / "benchmarks" / "results"
GPU_ROWS = tuple(name for name, case in population_cases(False).items() if case.get("gpu"))


def default_cases(device: str) -> list[str]:
    """What runs without `--cases`: every case, the GPU rows only with `--device cuda`."""
    every = [*training_cases(False, None), *OTHER_CASES, *POPULATION_CASES]
    return [name for name in every if device == "cuda" or name not in GPU_ROWS]


def environment(threads: int) -> dict[str, str]:
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "OMP_NUM_THREADS": str(threads),
        "PYTHONUNBUFFERED": "1",
        "WANDB_MODE": "offline",
    }


def launch(
    command: list[str], threads: int, timeout: float, extra_env: dict[str, str] | None = None, expect: int = 0
) -> tuple[float, float, str, str]:
    """Run `command`; return (wall seconds, peak RSS in MB, stdout, stderr). It must exit with `expect`."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=err, text=True, env={**environment(threads), **(extra_env or {})}
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != expect:
        raise RuntimeError(f"{' '.join(command[:4])} ... exited with {process.returncode}:\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss / 1024, stdout, stderr


def child(module: str, spec: dict[str, Any], threads: int, timeout: float) -> dict[str, Any]:
    _, peak, stdout, _ = launch([sys.executable, "-m", module, json.dumps(spec)], threads, timeout)
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the cases ------------------------------------------------------------------------------------
def run_training(names: list[str], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    cases = training_cases(args.quick, args.data_dir)
    specs: dict[str, dict[str, Any]] = {}
    info: dict[str, Any] = {}
    for name in names:
        spec = {
            **cases[name],
            "seed": 42,
            "threads": args.threads,
            "data": str(workdir / f"{name}.pt"),
            "workdir": str(workdir / name),
            "device": args.device,
            "precision": args.precision,
            "compile": args.compile,
        }
        spec["title"] += setting(args)
        info[name] = child("benchmarks.cases", {**spec, "side": "prepare"}, args.threads, args.timeout)
        specs[name] = spec
    modules = {side: "benchmarks.hand" if side == "hand" else "benchmarks.cases" for side in SIDES}
    return {"specs": specs, "data": info, "runs": repeat_sides(specs, modules, args, args.timeout)}


def repeat_sides(
    specs: dict[str, dict[str, Any]], modules: dict[str, str], args: argparse.Namespace, timeout: float
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Each case's sides (side -> the module that runs it) in turn, `args.repeats` times, each in a
    fresh process; the results per case and side, in order, with a progress line each."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {side: [] for side in modules} for name in specs}
    for repetition in range(args.repeats):
        for name, spec in specs.items():
            for side, module in modules.items():
                result = child(module, {**spec, "side": side}, args.threads, timeout)
                runs[name][side].append(result)
                print(
                    f"  [{repetition + 1}/{args.repeats}] {name:18s} {side:10s} {result['time_s']:8.3f} s  "
                    f"{result['peak_rss_mb']:6.0f} MB",
                    file=sys.stderr,
                )
    return runs


def run_multirun(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """`python train.py -m optimizer.lr=...` with Hydra's in-process (basic) launcher.

    Overhead per job = (wall time of the whole command - sum over jobs of their epochs' time) / jobs,
    where an epoch's time is `time/epoch_s` of summary.json's history (training + validation of
    that epoch). It is everything else a job costs: process start and imports (shared by the
    jobs), composing the job's config, building data, model and Trainer, testing the best
    checkpoint, writing summary.json and the table.
    """
    jobs = 3 if args.quick else 9
    epochs = 2 if args.quick else 20
    rates = ",".join(str(round(0.02 * (k + 1), 2)) for k in range(jobs))
    records = []
    for repetition in range(args.repeats):
        sweep_dir = workdir / f"multirun_{repetition}"
        command = [
            sys.executable,
            "train.py",
            "-m",
            f"optimizer.lr={rates}",
            f"trainer.max_epochs={epochs}",
            f"hydra.sweep.dir={sweep_dir}",
        ]
        wall, peak, _, _ = launch(command, args.threads, args.timeout * 3)
        summaries = [json.loads(path.read_text()) for path in sorted(sweep_dir.glob("*/summary.json"))]
        if len(summaries) != jobs:
            raise RuntimeError(f"the multirun wrote {len(summaries)} summaries, expected {jobs}")
        training = sum(row["time/epoch_s"] for summary in summaries for row in summary["history"])
        job_walls = sum(summary["wall_time_s"] for summary in summaries)
        records.append(
            {
                "wall_s": wall,
                "training_s": training,
                "jobs_wall_s": job_walls,
                "jobs": jobs,
                "epochs": epochs,
                "peak_rss_mb": peak,
                "overhead_per_job_s": (wall - training) / jobs,
            }
        )
        print(
            f"  [{repetition + 1}/{args.repeats}] multirun {jobs} jobs: wall {wall:.2f} s, epochs {training:.2f} s",
            file=sys.stderr,
        )
    return {"runs": records}


def run_startup(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """`--help`, `--cfg job`, and the time from launching `python train.py` to the end of its first
    training step (a probe callback writes the moment), against a plain script doing the same."""
    iris = {
        **training_cases(args.quick, args.data_dir)["iris_mlp"],
        "seed": 42,
        "threads": args.threads,
        "data": str(workdir / "startup_iris.pt"),
        "workdir": str(workdir / "startup"),
    }
    child("benchmarks.cases", {**iris, "side": "prepare"}, args.threads, args.timeout)
    rows: dict[str, list[tuple[float, float]]] = {
        "help": [],
        "cfg_job": [],
        "refusal": [],
        "first_step_dlbench": [],
        "first_step_hand": [],
    }
    probe_file = workdir / "first_step.txt"
    for repetition in range(args.repeats):
        for key, extra in (("help", ["--help"]), ("cfg_job", ["--cfg", "job"])):
            wall, peak, _, _ = launch([sys.executable, "train.py", *extra], args.threads, args.timeout)
            rows[key].append((wall, peak))
        refused = [sys.executable, "train.py", "optimizer.lr=abc", f"hydra.run.dir={workdir / 'refused'}"]
        rows["refusal"].append(launch(refused, args.threads, args.timeout, expect=2)[:2])
        probe_file.unlink(missing_ok=True)
        started = time.time()
        command = [
            sys.executable,
            "train.py",
            f"hydra.run.dir={workdir / f'first_step_{repetition}'}",
            "trainer.max_epochs=1",
            "+callbacks.first_step._target_=benchmarks.probe.FirstStep",
        ]
        _, peak, _, _ = launch(command, args.threads, args.timeout, {"DLBENCH_FIRST_STEP_FILE": str(probe_file)})
        rows["first_step_dlbench"].append((float(probe_file.read_text()) - started, peak))
        started = time.time()
        _, peak, stdout, _ = launch(
            [sys.executable, "-m", "benchmarks.hand", json.dumps({**iris, "mode": "first_step"})],
            args.threads,
            args.timeout,
        )
        rows["first_step_hand"].append((json.loads(stdout.strip().splitlines()[-1])["first_step_at"] - started, peak))
        print(
            f"  [{repetition + 1}/{args.repeats}] startup: "
            + ", ".join(f"{k} {v[-1][0]:.2f} s" for k, v in rows.items()),
            file=sys.stderr,
        )
    return {"runs": rows}


def run_populations(names: list[str], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Each population case against its base training case's hand and dlbench sides, in turn per
    repetition, every side in a fresh process (see benchmarks/population.py)."""
    bases = training_cases(args.quick, args.data_dir)
    cases = population_cases(args.quick)
    specs: dict[str, dict[str, Any]] = {}
    info: dict[str, Any] = {}
    for name in names:
        case = cases[name]
        base = bases[case["base"]]
        spec = {
            **base,
            "seed": 42,
            "threads": args.threads,
            "data": str(workdir / f"{name}.pt"),
            "workdir": str(workdir / name),
            "device": args.device,
            "precision": args.precision,
            "compile": False,
            "members": case["members"],
            "mode": args.population_mode,
        }
        info[name] = child("benchmarks.cases", {**spec, "side": "prepare"}, args.threads, args.timeout)
        specs[name] = {**spec, "case": case}
    modules = {"hand": "benchmarks.hand", "dlbench": "benchmarks.cases", "population": "benchmarks.population"}
    plain = {name: {key: value for key, value in spec.items() if key != "case"} for name, spec in specs.items()}
    return {"specs": specs, "data": info, "runs": repeat_sides(plain, modules, args, args.timeout * 3)}


def run_population_sweep(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """`python train.py -m sweep=lr seeds=5 hydra/launcher=population` against today's
    `python train.py -m sweep=lr`, whole commands, in turn per repetition."""
    epochs = ["trainer.max_epochs=2"] if args.quick else []
    commands = {
        "basic, 1 seed": ["-m", "sweep=lr", *epochs],
        "population, 5 seeds": ["-m", "sweep=lr", "seeds=5", "hydra/launcher=population", *epochs],
    }
    records: dict[str, list[dict[str, float]]] = {key: [] for key in commands}
    for repetition in range(args.repeats):
        for key, extra in commands.items():
            sweep_dir = workdir / f"sweep_{key.split(',')[0]}_{repetition}"
            command = [sys.executable, "train.py", *extra, f"hydra.sweep.dir={sweep_dir}"]
            wall, peak, _, _ = launch(command, args.threads, args.timeout * 3)
            jobs = len(list(sweep_dir.glob("*/summary.json")))
            records[key].append({"wall_s": wall, "peak_rss_mb": peak, "jobs": jobs})
            print(f"  [{repetition + 1}/{args.repeats}] sweep=lr {key}: {wall:.2f} s, {jobs} jobs", file=sys.stderr)
    return {"runs": records}


def _distinct(case: dict[str, Any], key: str) -> int:
    return len({override for member in case["members"] for override in member if override.startswith(f"{key}=")})


def population_row(case: dict[str, Any], sides: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """One population row's numbers, every one computed from the measured medians: the population's
    time against one run alone (or its members' runs one after another), one member's share of it
    against one hand-written loop's run, CPU time, peak memory."""
    members = len(case["members"])
    t = {side: median([r["time_s"] for r in runs]) for side, runs in sides.items()}
    cpu = {side: median([r["cpu_s"] for r in runs]) for side, runs in sides.items()}
    mem = {side: median([r["peak_rss_mb"] for r in runs]) for side, runs in sides.items()}
    alone = members if case["against"] == "each" else 1  # how many runs alone the population replaces
    row = {
        "members": members,
        "time_s": t,
        "ratio": t["population"] / (alone * t["dlbench"]),
        "cpu_ratio": cpu["population"] / (alone * cpu["dlbench"]),
        "per_member": t["population"] / members / t["hand"],
        "peak_rss_mb": mem,
        "mode": sides["population"][0].get("mode"),
    }
    if all("peak_gpu_mb" in r for r in sides["population"]):
        row["peak_gpu_mb"] = median([r["peak_gpu_mb"] for r in sides["population"]])
    return row


def population_table(results: dict[str, Any]) -> str:
    """The populations' own table: their time against one run (or against the runs one after
    another), per member against the hand-written loop, and memory per member."""
    lines = [
        "| case | hand-written (one run) | dlbench (one run) | population | population / one run | target | met | "
        "per member / hand | CPU-time ratio | peak MB one run | peak MB population | peak MB per member |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    training = results.get("populations")
    if training:
        for name, sides in training["runs"].items():
            case = training["specs"][name]["case"]
            row = population_row(case, sides)
            members, t, mem, ratio = row["members"], row["time_s"], row["peak_rss_mb"], row["ratio"]
            epochs = sides["population"][0]["epochs"]
            label = " of the runs one after another" if case["against"] == "each" else ""
            if case["target"] is None:
                target, met = "(none yet)", ""
            elif case["against"] == "each":
                target = f"< {case['target']:.2f}x ({members} runs)"
                met = "yes" if ratio < case["target"] else "**no**"
            else:
                target, met = f"<= {case['target']:.2f}x", verdict(ratio, case["target"])
            per_member = f"{row['per_member']:.3f}x"
            if case.get("per_member_target") is not None:
                limit = case["per_member_target"]
                per_member += f" (< {limit:.2f}x: {'yes' if row['per_member'] < limit else '**no**'})"
            source = " (generated data)" if training["data"][name]["source"] == "generated" else ""
            title = case["title"].format(
                epochs=epochs,
                members=members,
                seeds=_distinct(case, "seed"),
                rates=_distinct(case, "optimizer.lr"),
                mode=row["mode"],
            )
            gpu = f" (GPU {row['peak_gpu_mb']:.0f})" if "peak_gpu_mb" in row else ""
            lines.append(
                f"| {title}{source} | {t['hand']:.3f} s | {t['dlbench']:.3f} s | "
                f"{t['population']:.3f} s | {ratio:.2f}x{label} | {target} | {met} | "
                f"{per_member} | {row['cpu_ratio']:.2f}x | {mem['dlbench']:.0f} | "
                f"{mem['population']:.0f}{gpu} | {mem['population'] / members:.1f} |"
            )
    sweep = results.get("population_sweep")
    if sweep:
        runs = sweep["runs"]
        basic, population = runs["basic, 1 seed"], runs["population, 5 seeds"]
        wall_b, wall_p = median([r["wall_s"] for r in basic]), median([r["wall_s"] for r in population])
        jobs_p = population[0]["jobs"]
        lines.append(
            f"| `python train.py -m sweep=lr seeds=5 hydra/launcher=population` ({jobs_p} jobs) vs today's "
            f"`-m sweep=lr` ({basic[0]['jobs']} jobs), whole commands | | {wall_b:.3f} s | {wall_p:.3f} s | "
            f"{wall_p / wall_b:.2f}x | <= 2.00x | {verdict(wall_p / wall_b, 2.0)} | | | "
            f"{median([r['peak_rss_mb'] for r in basic]):.0f} | {median([r['peak_rss_mb'] for r in population]):.0f} | "
            f"{median([r['peak_rss_mb'] for r in population]) / jobs_p:.1f} |"
        )
    return "\n".join(lines)


# -- the table ----------------------------------------------------------------------------------
def setting(args: argparse.Namespace) -> str:
    """What the training rows ran with, when it is not the CPU default: ' [cuda, bf16-mixed, compiled]'."""
    parts = [args.device] if args.device != "cpu" else []
    parts += [args.precision] if args.precision != "32" else []
    parts += ["compiled"] if args.compile else []
    return f" [{', '.join(parts)}]" if parts else ""


def verdict(value: float, limit: float) -> str:
    return "yes" if value <= limit else "**no**"


def table(results: dict[str, Any], args: argparse.Namespace) -> str:
    gpu = args.device == "cuda"
    lines = [
        "| case | hand-written | bare Lightning | dlbench | dlbench / hand | target | met | CPU-time ratio | "
        "peak MB hand | peak MB dlbench | memory ratio (<= 1.3) |"
        + (" GPU peak MB hand | GPU peak MB dlbench | GPU memory ratio (<= 1.3) |" if gpu else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|---|" if gpu else ""),
    ]
    training = results.get("training")
    if training:
        for name, sides in training["runs"].items():
            spec = training["specs"][name]
            t = {side: median([r["time_s"] for r in runs]) for side, runs in sides.items()}
            cpu = {side: median([r["cpu_s"] for r in runs]) for side, runs in sides.items()}
            mem = {side: median([r["peak_rss_mb"] for r in runs]) for side, runs in sides.items()}
            ratio, mem_ratio = t["dlbench"] / t["hand"], mem["dlbench"] / mem["hand"]
            title = spec["title"] + (" (generated data)" if training["data"][name]["source"] == "generated" else "")
            lines.append(
                f"| {title} | {t['hand']:.3f} s | {t['lightning']:.3f} s | {t['dlbench']:.3f} s | "
                f"{ratio:.2f}x | <= {spec['target']:.2f}x | {verdict(ratio, spec['target'])} "
                f"| {cpu['dlbench'] / cpu['hand']:.2f}x | {mem['hand']:.0f} | {mem['dlbench']:.0f} | "
                f"{mem_ratio:.2f}x {verdict(mem_ratio, 1.3)} |" + (gpu_memory(sides) if gpu else "")
            )
    multirun = results.get("multirun")
    if multirun:
        runs = multirun["runs"]
        overhead = median([r["overhead_per_job_s"] for r in runs])
        first = runs[0]
        lines.append(
            f"| multirun, {first['jobs']} jobs x {first['epochs']} epochs, Iris, in-process launcher: overhead per job "
            f"(wall {median([r['wall_s'] for r in runs]):.2f} s - epochs "
            f"{median([r['training_s'] for r in runs]):.2f} s) / {first['jobs']} "
            f"| | | {overhead:.3f} s | | <= 0.500 s | {verdict(overhead, 0.5)} | | | "
            f"{median([r['peak_rss_mb'] for r in runs]):.0f} | |"
        )
        # the same wall split in two: inside each job's train() (build, fit, test, summary) and
        # outside every job (start-up and imports, composing configs, Hydra, the sweep's report)
        inside = median([(r["jobs_wall_s"] - r["training_s"]) / r["jobs"] for r in runs])
        outside = median([(r["wall_s"] - r["jobs_wall_s"]) / r["jobs"] for r in runs])
        lines.append(
            "| ... of which inside each job's `train()` besides its epochs (build, fit's extras, pictures, "
            f"test, summary) | | | {inside:.3f} s | | | | | | | |"
        )
        lines.append(
            f"| ... of which outside the jobs, divided by {first['jobs']} (start-up and imports, composing, "
            f"Hydra, the sweep report) | | | {outside:.3f} s | | | | | | | |"
        )
    startup = results.get("startup")
    if startup:
        rows = startup["runs"]
        for key, label, limit in (
            ("help", "`python train.py --help`", 1.0),
            ("cfg_job", "`python train.py --cfg job`", 1.0),
            ("refusal", "a refused value, `python train.py optimizer.lr=abc` (exit 2)", 1.5),
        ):
            value = median([w for w, _ in rows[key]])
            lines.append(
                f"| {label} | | | {value:.3f} s | | <= {limit:.3f} s | {verdict(value, limit)} | | | "
                f"{median([m for _, m in rows[key]]):.0f} | |"
            )
        hand, ours = median([w for w, _ in rows["first_step_hand"]]), median([w for w, _ in rows["first_step_dlbench"]])
        lines.append(
            "| launch to end of first training step, default run (hand: `import torch` + data + one step) | "
            f"{hand:.3f} s | | {ours:.3f} s | {ours / hand:.2f}x | (none) | | "
            f"| {median([m for _, m in rows['first_step_hand']]):.0f} | "
            f"{median([m for _, m in rows['first_step_dlbench']]):.0f} | |"
        )
    return "\n".join(lines)


def gpu_memory(sides: dict[str, list[dict[str, Any]]]) -> str:
    hand, ours = (median([r["peak_gpu_mb"] for r in sides[side]]) for side in ("hand", "dlbench"))
    return f" {hand:.1f} | {ours:.1f} | {ours / hand:.2f}x {verdict(ours / hand, 1.3)} |"


def report(results: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    import torch

    load = os.getloadavg()
    device = f"GPU: {torch.cuda.get_device_name()}" if args.device == "cuda" else "no GPU in this run"
    return "\n".join(
        [
            f"Command: `{command}`  ",
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, load average "
            f"{load[0]:.1f} at the end; "
            f"torch {torch.__version__}, {args.threads} torch thread(s); {device}; precision {args.precision}"
            f"{', torch.compile on every side' if args.compile else ''}.  ",
            f"Times are medians of {args.repeats} repetition(s), each side in a fresh process; training times "
            "cover all epochs "
            "(training + validation after each epoch) with data already in memory. Peak memory is the "
            "process's peak RSS.",
            "",
            table(results, args),
            "",
            *(
                [
                    "Populations (hydra/launcher=population; benchmarks/population.py says what each row times):",
                    "",
                    population_table(results),
                    "",
                ]
                if results.get("populations") or results.get("population_sweep")
                else []
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny settings, one repetition: checks that the benchmark runs"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="repetitions per measurement (default 3; 1 with --quick)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads on every side (default 1)")
    parser.add_argument(
        "--cases",
        nargs="*",
        default=None,
        help=f"a subset of: {', '.join([*training_cases(False, None), *OTHER_CASES, *POPULATION_CASES])}",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="a folder with MNIST/raw (default: ../shared/data when present, else generated images)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "latest.md", help="where the table goes (and its .json beside it)"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed to one measurement")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the training cases run; cuda: the data kept on the GPU on every side (dlbench: trainer=gpu "
        "dataset.on_device=true)",
    )
    parser.add_argument(
        "--population-mode",
        choices=("auto", "vmap", "loop", "chain"),
        default="auto",
        help="how a population's members run (dlbench.population.network): auto, as dlbench chooses; "
        "vmap forces the GPU's path on the CPU (with --quick: checks the GPU rows' code)",
    )
    parser.add_argument(
        "--precision", choices=("32", "bf16-mixed"), default="32", help="bf16-mixed: bfloat16 autocast on every side"
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the network on every side (dlbench: compile=true)"
    )
    args = parser.parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error(
                "--device cuda needs a CUDA GPU and torch sees none on this machine; run without --device (the CPU)."
            )
    refused = [name for name in args.cases or [] if name in GPU_ROWS]
    if refused and args.device != "cuda" and not args.quick:
        parser.error(
            f"{', '.join(refused)}: GPU rows, run with --device cuda "
            "(on the CPU only with --quick, where --population-mode vmap takes the GPU's path)."
        )
    args.repeats = args.repeats or (1 if args.quick else 3)
    if args.data_dir is None:
        candidates = [ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data", ROOT / "shared" / "data"]
        args.data_dir = next((str(path) for path in candidates if (path / "MNIST" / "raw").is_dir()), None)
    names = args.cases or default_cases(args.device)
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dlbench-bench-") as tmp:
        workdir = Path(tmp)
        training_names = [name for name in names if name in training_cases(False, None)]
        if training_names:
            results["training"] = run_training(training_names, args, workdir)
        if "multirun" in names:
            results["multirun"] = run_multirun(args, workdir)
        population_names = [name for name in names if name in population_cases(False)]
        if population_names:
            results["populations"] = run_populations(population_names, args, workdir)
        if "population_sweep" in names:
            results["population_sweep"] = run_population_sweep(args, workdir)
        if "startup" in names:
            results["startup"] = run_startup(args, workdir)
    text = report(results, args, command.strip())
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
