"""What `train.py` runs: each Hydra job, with every user mistake reported in one line.

Two kinds of mistakes reach a user. Hydra finds some while composing the config (an unknown key,
an option that does not exist, an override it cannot parse): `hydra_errors_in_one_line` turns
those into one sentence with the nearest valid name. The rest are found by the resolve step,
before torch is imported (`dlbench.config.plan.resolve`), or later once the data is known. A
single run ends with exit status 2; inside a sweep the job is recorded as failed and the sweep
goes on with the next one.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from dlbench.config.compose import CONFIGS
from dlbench.config.context import RunContext, from_hydra
from dlbench.errors import find_config_error
from dlbench.runtime.startup import StoppedWhileStarting, stage, stop_while_starting
from dlbench.terminal import watching


def run_job(cfg: DictConfig) -> float | None:
    """Run one job. A ConfigError ends a single run with exit status 2 and one line on stderr;
    inside a sweep it is reported and the sweep goes on with the next job. SIGTERM before training
    starts leaves summary.json saying `interrupted` and exits 143 (`dlbench.runtime.startup`)."""
    context = from_hydra()
    watching.set_job(context.job_number if context.multirun else None)  # the bar's "job 3/12"
    try:
        with stop_while_starting():
            return _run(cfg, context)
    except StoppedWhileStarting as stopped:
        if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("RANK", "0") == "0":
            from dlbench.records.failures import record_stopped_while_starting

            record_stopped_while_starting(context.output_dir, list(context.overrides), stopped.reason)
            print(f"{stopped.reason}; summary.json says interrupted.", file=sys.stderr)
        sys.exit(stopped.code)


def _run(cfg: DictConfig, context: RunContext) -> float | None:
    try:
        from dlbench.config.plan import resolve

        stage("checking the config")
        plan = resolve(cfg, context)  # every check the config alone allows, before torch is imported
        if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("RANK", "0") == "0":  # once, not per rank
            from dlbench.config.tree import print_config

            print_config(plan.config, plan.config.get("print_config"))  # after the checks: an error comes first
        from dlbench.config.early import TORCH_PACKAGES, check_callback_classes

        check_callback_classes(plan.callbacks, skip=TORCH_PACKAGES)  # your callback's module, before torch's
        stage("importing torch and Lightning")
        from dlbench.run import train
        from dlbench.run.jobs import start_job
        from dlbench.runtime.ddp import job_command_line

        stage("taking the run directory")
        start = start_job(cfg, context)  # a sweep run again: a finished job is skipped, a stopped one resumed
        if start.skip:
            return start.value
        with job_command_line(HydraConfig.get() if HydraConfig.initialized() else None):
            return train(start.cfg, context)  # DDP children run this job, not the command line's sweep
    except Exception as exception:
        error = find_config_error(exception)
        if error is None:
            from dlbench.records.atomic import DiskFull

            if isinstance(exception, DiskFull) and not context.multirun:
                print(f"error: {exception}", file=sys.stderr)  # summary.json holds it too, status failed
                sys.exit(1)
            if not context.multirun:
                raise
            # One broken job must not end the sweep: it is reported as failed and the next one runs.
            print(f"error: job failed: {type(exception).__name__}: {exception}", file=sys.stderr)
            _record_failure(context, exception)
            return None
        print(f"error: {error}", file=sys.stderr)
        _log_to_run_file(f"error: {error}")
        if context.multirun:
            _record_failure(context, error)
            return None
        sys.exit(2)


def _record_failure(context: RunContext, error: BaseException) -> None:
    from dlbench.records.failures import record_failure

    record_failure(context.output_dir, list(context.overrides), error)


def _log_to_run_file(message: str) -> None:
    """The error also goes into the run's train.log (Hydra's file handler), not a second time to the terminal."""
    record = logging.LogRecord("dlbench", logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


# -- mistakes Hydra finds while composing --------------------------------------------------------
def _valid_keys(path: str, overrides: list[str]) -> list[str]:
    """The keys under `path` ("" for the top) of the config the other overrides compose."""
    from omegaconf import OmegaConf

    from dlbench.config.compose import compose_config

    try:
        cfg = compose_config(overrides)
    except Exception:  # noqa: BLE001 - no hint is better than a second error
        return []
    node: Any = OmegaConf.to_container(cfg, resolve=False)
    for part in [part for part in path.split(".") if part]:
        node = node.get(part) if isinstance(node, Mapping) else None
    prefix = f"{path}." if path else ""
    return [f"{prefix}{key}" for key in node] if isinstance(node, Mapping) else []


def _unknown_key(key: str, value: str, argv: list[str]) -> str:
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    others = [arg for arg in argv if "=" in arg and not arg.startswith(("hydra.", "-")) and arg.split("=", 1)[0] != key]
    groups = sorted(path.name for path in CONFIGS.iterdir() if path.is_dir())
    nearest = difflib.get_close_matches(key, _valid_keys(parent, others) + ([] if parent else groups), n=1, cutoff=0.6)
    if nearest:
        return (
            f"{key} is not a key of the config; did you mean {nearest[0]}? (+{key}={value} would add it as a new key)."
        )
    return (
        f"{key} is not a key of the config (`python train.py --cfg job` shows them); +{key}={value} would add it as "
        "a new key."
    )


def _one_line(error: BaseException, argv: list[str]) -> str | None:
    """The sentence for a composition error of Hydra's, or None for anything else."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    text = str(error)
    mistake = find_config_error(error)  # a sweeper's or launcher's own refusal (seeds=0 with -m)
    if mistake is not None:
        return str(mistake)
    loading = re.search(r"Could not load '([^']+)/([^'/]+)'", text)
    if isinstance(error, MissingConfigException | ConfigCompositionException) and loading is not None:
        group, option = loading.groups()
        options = sorted(path.stem for path in (CONFIGS / group).glob("*.yaml"))
        choices = f"; choose from: {', '.join(options)}" if options else ""
        return f"{group}={option} is not an option (in {group}=[...]){choices}."
    if isinstance(error, MissingConfigException):
        found = re.search(r"Could not find '([^']+)'", text)
        options = re.findall(r"^\t(\S+)$", text, flags=re.MULTILINE)
        if found is None:
            return text.splitlines()[0]
        group, _, option = found.group(1).rpartition("/")
        choices = f"; choose one of: {', '.join(options)}" if options else ""
        return f"Could not find '{found.group(1)}': {group}={option} is not an option{choices}."
    if isinstance(error, ValueError) and text.startswith("Config group override must be"):
        empty = next((arg for arg in argv if arg.startswith("=")), None)
        if empty is not None:
            return f"cannot read the override {empty}: it names no key; write key=value, e.g. optimizer.lr{empty}."
    if isinstance(error, OverrideParseException):
        return f"cannot read the override ({text.splitlines()[0]}); see `python train.py --help` for the syntax."
    if isinstance(error, ConfigCompositionException):
        found = re.search(r"Could not override '([^']+)'", text)
        if found is not None and "not in struct" in str(error.__cause__):
            key = found.group(1)
            value = next((arg.split("=", 1)[1] for arg in argv if arg.split("=", 1)[0] == key), "...")
            return _unknown_key(key, value, argv)
        return " ".join(text.split())
    return None


@contextmanager
def hydra_errors_in_one_line(argv: list[str] | None = None) -> Iterator[None]:
    """Around Hydra's main: its composition errors become one line on stderr and exit status 2.

    Hydra prints these itself, over several lines and with exit status 1; with HYDRA_FULL_ERROR
    it raises them instead, so they can be said once, with the nearest valid name. A user who
    set HYDRA_FULL_ERROR gets Hydra's own full traceback as before."""
    wanted_full = "HYDRA_FULL_ERROR" in os.environ
    os.environ["HYDRA_FULL_ERROR"] = os.environ.get("HYDRA_FULL_ERROR", "1")
    try:
        yield
    except Exception as error:
        sentence = None if wanted_full else _one_line(error, list(argv if argv is not None else sys.argv[1:]))
        if sentence is None:
            raise
        print(f"error: {sentence}", file=sys.stderr)
        sys.exit(2)
    finally:
        if not wanted_full:
            del os.environ["HYDRA_FULL_ERROR"]


def main(hydra_main: Callable[[], Any]) -> None:
    """`train.py`'s entry: Hydra's main, with its composition errors said in one line."""
    with hydra_errors_in_one_line():
        hydra_main()
