"""Weights & Biases for every run: online with credentials, offline without, never a prompt.

Lightning's `WandbLogger` does the logging; this subclass adds what a platform of many runs and
sweeps needs and Lightning leaves to the user:

- the mode is decided here, once (`auto`: `WANDB_MODE` if set, else online when credentials
  exist and the server answers, else offline), with one line saying where offline files are
  and how to `wandb sync` them, so a student without an account never meets a login prompt;
- every job of one sweep shares a W&B group named after the sweep directory, with tags of the
  chosen options, so W&B's grouping works without hand edits;
- the resolved config is logged flat (`optimizer.lr`, `model.hidden`), the keys W&B's
  parallel-coordinates panel and W&B sweep specs use;
- `define_metric` keeps the best monitored value in the summary, not only the last;
- `finish_run` (dlbench's logger protocol, `protocol.py`) ends the W&B run at the end of every job
  (Hydra's in-process launcher would otherwise hand the first job's run to the second) and marks
  an exception as a failed run.
"""

from __future__ import annotations

import netrc
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pytorch_lightning.loggers import Logger, WandbLogger
from pytorch_lightning.loggers.logger import DummyExperiment, rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

from dlbench.config.context import RunContext
from dlbench.loggers.naming import run_name
from dlbench.loggers.protocol import flatten
from dlbench.records.summary import Summary

MODES = ("auto", "online", "offline", "disabled")
DEFAULT_HOST = "https://api.wandb.ai"
EXIT_CODES = {"completed": 0, "diverged": 0, "interrupted": 130, "failed": 1}


def wandb_installed() -> bool:
    try:
        import wandb  # noqa: F401
    except ImportError:
        return False
    return True


def has_credentials(host: str | None = None) -> bool:
    """An API key in the environment or in ~/.netrc (where `wandb login` stores it)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    hostname = urlparse(host or os.environ.get("WANDB_BASE_URL", DEFAULT_HOST)).hostname or ""
    path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    try:
        return netrc.netrc(path).authenticators(hostname) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def server_reachable(host: str | None = None, timeout: float = 3.0) -> bool:
    """One TCP connect to the W&B server: an unreachable server means offline, not a 90 s hang."""
    url = urlparse(host or os.environ.get("WANDB_BASE_URL", DEFAULT_HOST))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_mode(requested: str = "auto") -> tuple[str, str | None]:
    """The mode this run uses, and why it is offline when it had asked for more (else None).

    `requested` (the config's `mode`) wins when it is not `auto`; `auto` follows `WANDB_MODE`,
    then credentials and the server's answer.
    """
    if requested not in MODES:
        from dlbench.errors import ConfigError

        raise ConfigError(f"logger.wandb.mode={requested!r} is not a W&B mode; use one of {', '.join(MODES)}.")
    mode = requested
    if mode == "auto":
        env = os.environ.get("WANDB_MODE", "").strip().lower()
        mode = {"dryrun": "offline", "run": "online", "": "auto"}.get(env, env)
        if mode not in MODES:
            mode = "auto"
    if mode in ("offline", "disabled"):
        return mode, None
    if not has_credentials():
        return "offline", "not logged in (run `wandb login` to upload runs as they happen)"
    if not server_reachable():
        return "offline", f"{os.environ.get('WANDB_BASE_URL', DEFAULT_HOST)} is unreachable"
    return "online", None


def sweep_group(sweep_dir: str | Path) -> str:
    """The W&B group of a sweep: its directory's date and name (`2026-11-23_09-44-18-123-lr`)."""
    path = Path(sweep_dir)
    return "_".join(part for part in (path.parent.name, path.name) if part)


class DlbenchWandbLogger(WandbLogger):
    """Lightning's WandbLogger with the mode, group, tags, config and summary a sweep needs."""

    def __init__(
        self,
        save_dir: str = ".",
        project: str = "dlbench",
        entity: str | None = None,
        mode: str = "auto",
        group: str | None = None,
        tags: Iterable[str] = (),
        monitor: str | None = None,
        monitor_mode: str = "min",
        log_pictures: bool = True,
        context: RunContext | None = None,
        **kwargs: Any,
    ) -> None:
        """`context`: the run's (the build step passes it): a sweep job joins its sweep's group, and
        the run is named after the job's overrides and tagged with the chosen options."""
        self.requested_mode = mode
        self._logged_images: set[str] = set()
        if not wandb_installed():
            self._init_without_wandb(save_dir)
            return
        self.mode, self.offline_reason = resolve_mode(mode) if rank_zero_only.rank == 0 else ("disabled", None)
        sweep = sweep_group(context.sweep_dir) if context is not None and context.sweep_dir is not None else None
        choices = dict(context.choices) if context is not None else {}
        self.group = group or os.environ.get("WANDB_RUN_GROUP") or sweep
        option_tags = [f"{key}={choices[key]}" for key in ("dataset", "model", "optimizer") if key in choices]
        all_tags = [*tags, *option_tags, *(["sweep"] if self.group else [])]
        self.tags = list(dict.fromkeys(tag[:64] for tag in all_tags))
        self.monitor, self.monitor_mode, self.log_pictures = monitor, monitor_mode, log_pictures
        name = kwargs.pop("name", None) or run_name(context)
        if os.environ.get("WANDB_SWEEP_ID"):  # `wandb agent` names the run itself
            name = None
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(
            name=name,
            save_dir=save_dir,
            project=os.environ.get("WANDB_PROJECT", project),
            entity=entity,
            mode=self.mode,
            group=self.group,
            tags=self.tags,
            job_type=kwargs.pop("job_type", "train"),
            **kwargs,
        )
        self._wandb_init.pop("anonymous", None)  # deprecated in wandb; Lightning always passes it

    def _init_without_wandb(self, save_dir: str) -> None:
        """wandb is missing: say so once and log nowhere, so the run itself goes on (CSV has it all)."""
        Logger.__init__(self)
        self.mode, self.offline_reason, self.group, self.tags = "disabled", "wandb is not installed", None, []
        self.monitor, self.monitor_mode, self.log_pictures = None, "min", False
        self._experiment, self._wandb_init, self._prefix, self._log_model = DummyExperiment(), {}, "", False
        self._save_dir, self._project, self._name, self._id, self._checkpoint_name = save_dir, None, None, "none", None
        self._logged_model_time, self._checkpoint_callbacks = {}, {}
        if rank_zero_only.rank == 0:
            print(
                "W&B: off for this run, the wandb package is not installed (pip install wandb); metrics are "
                "in metrics.csv",
                flush=True,
            )

    def start(self, config: Mapping[str, Any]) -> None:
        """Open the W&B run with the flat resolved config, before training starts."""
        self._wandb_init["config"] = flatten(config)
        _ = self.experiment

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._experiment is not None:
            return self._experiment
        import wandb

        if wandb.run is not None:  # left open by a job that died hard: never log into it
            wandb.run.finish(exit_code=1)
        self._wandb_init["settings"] = wandb.Settings(silent=True, init_timeout=60)
        try:
            run = super().experiment
        except Exception as error:
            if self.mode != "online":
                raise
            self.mode, self.offline_reason = "offline", f"W&B did not answer ({type(error).__name__})"
            self._wandb_init["mode"] = "offline"
            self._experiment = None
            run = super().experiment
        self._define_metrics(run)
        self._announce(run)
        return run

    def _define_metrics(self, run: Any) -> None:
        """Epoch rows are plotted against `epoch` (as TensorBoard's and MLflow's steps are); the best
        monitored value is `best/<monitor>` in the summary, the same key as MLflow and TensorBoard."""
        if self.mode != "disabled":
            run.define_metric("epoch", hidden=True)
            self._axis_defined: set[str] = set()

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """A row that carries `epoch` (every task row, Lightning's test results) is logged against
        the epoch; other rows as Lightning logs them (against `trainer/global_step`)."""
        if "epoch" not in metrics or self.mode == "disabled" or isinstance(self.experiment, DummyExperiment):
            super().log_metrics(metrics, step)
            return
        run = self.experiment
        defined = getattr(self, "_axis_defined", set())
        for key in metrics:
            if key != "epoch" and key not in defined:
                run.define_metric(key, step_metric="epoch")
                defined.add(key)
        self._axis_defined = defined
        run.log(dict(metrics))

    def _announce(self, run: Any) -> None:
        """One line: where this run's W&B data is and, offline, how to upload it."""
        if self.mode == "disabled":
            return
        group = f" in group {self.group}" if self.group else ""
        if self.mode == "online":
            print(f"W&B: {run.url}{group}", flush=True)
            return
        reason = f" ({self.offline_reason})" if self.offline_reason else ""
        sync_dir = run.settings.sync_dir
        print(
            f"W&B: offline{reason}; run{group} saved in {sync_dir}; upload it with: wandb sync {sync_dir}", flush=True
        )

    @rank_zero_only
    def log_image(self, key: str, images: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """As Lightning's, remembering the files so the end of the run does not log them twice;
        the run's pictures (`pictures/*`) only with `log_pictures`."""
        if not self.log_pictures and key.startswith("pictures/"):
            return
        self._logged_images.update(str(Path(image).resolve()) for image in images if isinstance(image, (str, Path)))
        super().log_image(key, images, step=step, **kwargs)

    def log_picture(self, key: str, path: Path, step: int | None = None) -> None:
        self.log_image(key=key, images=[str(path)], step=step)

    def record(self) -> dict[str, Any]:
        """The run's URL online, its offline directory (for `wandb sync`) otherwise."""
        run = self._experiment
        if run is None or isinstance(run, DummyExperiment) or self.mode == "disabled":
            return {}
        where = {"url": run.url} if self.mode == "online" else {"sync_dir": str(run.settings.sync_dir)}
        return {"wandb": {"run_id": run.id, "name": run.name, "group": self.group, "mode": self.mode, **where}}

    @rank_zero_only
    def finish_run(self, summary: Summary, pictures: Sequence[Path] = ()) -> None:
        """Summary numbers, pictures of the run, and the W&B run's end state from `summary.json`."""
        if self._experiment is None or isinstance(self._experiment, DummyExperiment):
            return
        import wandb

        run = self._experiment
        status = summary.status
        if self.mode != "disabled":
            best = summary.best
            run.summary.update(
                {
                    "status": status,
                    "parameters": summary.parameters,
                    "flops_per_example": summary.flops_per_example,
                    "best_epoch": summary.best_epoch,
                    "epochs_run": summary.epochs_run,
                    "stop_reason": summary.stop_reason,
                    **({f"best/{best.metric}": best.value} if best else {}),
                }
            )
            if status != "completed":
                run.tags = tuple(dict.fromkeys([*run.tags, status]))
            if self.log_pictures:
                pictures = [path for path in pictures if str(path.resolve()) not in self._logged_images]
                if pictures:
                    run.log({f"pictures/{path.stem}": wandb.Image(str(path)) for path in pictures})
        run.finish(exit_code=EXIT_CODES.get(status, 1))
        self._experiment = None
