"""A sweep's job, as it starts: claim its directory; in a sweep run again, skip or resume it.

Running the same sweep command again with the same `hydra.sweep.dir=` resumes the sweep (the
directory's `multirun.yaml` must hold the same command; see `dlbench.run.dirs`). Hydra
gives each job the number and directory it had the first time, and each job then looks at what
its directory already holds:

- `completed` or `diverged` (a result, see the README) with the same overrides: not run again;
  the job returns the best value it recorded (so sweepers see the same numbers);
- `interrupted`, or `running` whose process is gone (`lost`), with a `last.ckpt`: resumed from
  it, exactly (see `dlbench.callbacks.resume`);
- anything else (failed, never started, no checkpoint): run from the start.

A directory holding a job with other overrides is refused (that sweep dir holds another sweep).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, open_dict

from dlbench.config.context import RunContext
from dlbench.records.claim import RECORD_FILES, RunDirTaken, claim, release
from dlbench.records.liveness import effective_status
from dlbench.records.summary import whole_summary

RESULTS = ("completed", "diverged")
RESUMABLE = ("interrupted", "lost")

_current_job: list[Path] = []  # the job directory this process holds (the basic launcher runs jobs in turn)


@dataclass(frozen=True)
class JobStart:
    """What to do with the job: `skip` it (returning `value`), or run `cfg`."""

    cfg: DictConfig
    skip: bool = False
    value: float | None = None
    resumed_at: int | None = None  # resumed: the global step its last.ckpt holds (as its summary says)


def start_job(cfg: DictConfig, context: RunContext) -> JobStart:
    """In a multirun: claim the job's directory and decide from what it holds (module docstring).
    A single run claimed its directory before Hydra wrote into it; nothing to do here."""
    if not context.multirun:
        return JobStart(cfg)
    release_jobs()  # the previous job of this process is over
    return take_job(cfg, context.output_dir, context.job_number, list(context.overrides))


def release_jobs() -> None:
    """Let go of the job directories this process holds (its previous job's, or population's)."""
    for held in _current_job:
        release(held)
    _current_job.clear()


def hold_job(run_dir: Path, key: str = "hydra.sweep.dir") -> bool:
    """Claim a sweep job's directory for this process, whatever it holds (the caller decides what to
    do with it); False where nothing is claimed (no flock here)."""
    claimed = claim(run_dir, key=key, any_record=True) is not None
    if claimed and run_dir not in _current_job:
        _current_job.append(run_dir)
    return claimed


def take_job(cfg: DictConfig, run_dir: Path, number: int, overrides: list[str]) -> JobStart:
    """Claim sweep job `number`'s directory and decide from what it holds: skip, resume or start it
    (the module docstring). A population's members are each taken here too (`dlbench.population.launch`)."""
    # the lock first (a live run's files are never looked at to be changed), then what the directory holds
    claimed = hold_job(run_dir, key=f"sweep job {number}")
    summary = whole_summary(run_dir)
    if summary and "overrides" in summary.model_fields_set and summary.overrides != overrides:
        raise RunDirTaken(
            f"{run_dir} holds a job with other overrides ({' '.join(summary.overrides)}) than this sweep's "
            f"job {number} ({' '.join(overrides)}); give this sweep its own hydra.sweep.dir."
        )
    status = effective_status(run_dir, summary)[0] if summary else None
    if claimed and status == "running":  # this process holds the lock now, so the run that said so is gone
        status = "lost"  # (kill -9 of the sweep: asked after the claim, the lock would answer for this process)
    if summary and status in RESULTS and cfg.get("train", True):
        print(f"job {number} ({' '.join(overrides)}): {status} earlier in {run_dir}; not run again.")
        return JobStart(cfg, skip=True, value=summary.best.value if summary.best else None)
    last = run_dir / "checkpoints" / "last.ckpt"
    if status in RESUMABLE and last.is_file() and str(cfg.get("ckpt_path")) == str(last):
        return JobStart(cfg)  # resumed already (a population's member that runs alone after all)
    if status in RESUMABLE and last.is_file() and cfg.get("ckpt_path") is None and cfg.get("train", True):
        cfg = cfg.copy()
        with open_dict(cfg):
            cfg.ckpt_path = str(last)
        print(f"job {number} ({' '.join(overrides)}): {status} earlier; resuming from {last}.")
        held = summary.last_checkpoint if summary is not None else None
        return JobStart(cfg, resumed_at=held.step if held is not None else None)
    if summary is not None or (run_dir / "metrics.csv").exists() or any((run_dir / "checkpoints").glob("*.ckpt")):
        _clear_record(run_dir)  # failed or never got going: it starts again, from nothing
    return JobStart(cfg)


def _clear_record(run_dir: Path) -> None:
    """Remove a failed job's record so that it runs again in its own directory (its log stays)."""
    for name in RECORD_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for checkpoint in (run_dir / "checkpoints").glob("*.ckpt"):
        checkpoint.unlink()
