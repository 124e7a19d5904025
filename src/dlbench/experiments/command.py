"""`python -m dlbench.experiments list | check NAME [SWEEP_DIR] | gallery ...` (also `dlbench experiments ...`).

list                      every experiment: its one command, its claim, its budget
check NAME [SWEEP_DIR]    did the claim hold on that sweep's runs (default: the newest sweep of
                          experiment=NAME under multirun/)? Exit status 0 held, 1 did not hold
                          or could not be checked, 2 a mistake in the command
gallery [NAMES] [--run]   docs/experiments.md's gallery: run the experiments that have no
                          finished sweep yet (--run), draw their figures, write the page
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from dlbench.errors import ConfigError


def list_experiments() -> int:
    from dlbench.experiments.catalog import every

    for experiment in every():
        budget = experiment.budget
        cost = f"{budget.get('jobs', '?')} jobs, about {budget.get('minutes', '?')} min on {budget.get('device', '?')}"
        print(f"{experiment.name}")
        print(f"  {experiment.command}")
        print(textwrap.fill(experiment.claim.says, 100, initial_indent="  claim: ", subsequent_indent="         "))
        print(f"  holds if: {experiment.claim.holds_if}")
        print(f"  budget: {cost}")
    return 0


def check_experiment(name: str, sweep_dir: str | None, run: bool = False) -> int:
    from dlbench.experiments.check import check, latest_sweep, text

    if run:  # run it first, as its one command, into a new sweep directory
        import time

        from dlbench.experiments.catalog import load
        from dlbench.experiments.gallery import ROOT, run_experiment

        load(name)  # an unknown name: the list, before anything runs
        target = ROOT / "multirun" / "experiments" / name / time.strftime("%Y-%m-%d_%H-%M-%S")
        print(f"running python train.py -m experiment={name} -> {target}", flush=True)
        record = run_experiment(name, target)
        print(f"ran in {record['wall_time_s'] / 60:.1f} min (exit status {record['exit_status']})", flush=True)
        sweep_dir = str(target)
    if sweep_dir is None:
        found = latest_sweep(name)
        if found is None:
            print(
                f"error: no sweep of experiment={name} under multirun/; run python train.py -m experiment={name} "
                "or give its sweep directory.",
                file=sys.stderr,
            )
            return 2
        sweep_dir = str(found)
    verdict = check(name, sweep_dir)
    print(text(verdict))
    return 0 if verdict.held else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlbench.experiments",
        description="The classic experiments: list them, check a claim on a sweep, make the gallery.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every experiment with its command and claim")
    check = commands.add_parser("check", help="did an experiment's claim hold on a sweep's runs?")
    check.add_argument("name", help="the experiment, e.g. activations")
    check.add_argument("sweep_dir", nargs="?", help="its sweep directory (default: the newest under multirun/)")
    check.add_argument("--run", action="store_true", help="run the experiment first (its one command), then check")
    gallery = commands.add_parser("gallery", help="run (--run) and draw the experiments for docs/experiments.md")
    gallery.add_argument("names", nargs="*", help="only these experiments (default: every CPU-sized one)")
    gallery.add_argument("--run", action="store_true", help="run the experiments that have no finished sweep yet")
    gallery.add_argument("--root", default="multirun/gallery", help="where the gallery's sweeps are (one per name)")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return list_experiments()
        if args.command == "check":
            return check_experiment(args.name, args.sweep_dir, run=args.run)
        from dlbench.experiments.gallery import make_gallery

        return make_gallery(args.names, run=args.run, root=args.root)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
