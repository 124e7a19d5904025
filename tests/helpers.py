"""Helpers the tests import: where the project is, and `python train.py` as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


DAMAGED: set[Path] = set()  # summary.json files a test damaged on purpose (conftest's schema check skips them)


def damaged(path: Path) -> Path:
    """Register a summary.json a test damages on purpose; returns the path."""
    DAMAGED.add(Path(path).resolve())
    return path


def read_summary(run_dir: str | Path) -> dict:
    """A run's summary.json as a user reads it: the plain JSON."""
    return json.loads((Path(run_dir) / "summary.json").read_text())


def run_cli(
    *args: str, cwd: Path | None = None, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python train.py <args>` in a subprocess, as a user would."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline", **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


def start_cli(*args: str) -> subprocess.Popen:
    """Start `python train.py <args>` and return at once, as from a terminal: SIGINT is Ctrl-C even
    when the tests run in the background, where a shell starts every process with SIGINT ignored."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(process: subprocess.Popen, done: Callable[[], object], timeout: float = 240, every: float = 0.05) -> None:
    """Wait until `done()` is true while `process` (from `start_cli`) runs; fail with its stderr if it
    ends first, or after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not done():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"not done after {timeout} s"
        time.sleep(every)


def summary_if_whole(run_dir: str | Path) -> dict:
    """A run's summary.json as it stands (a run under way writes it after every epoch), or {} when
    there is none yet or it is being replaced."""
    try:
        return json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def run_in_terminal(*args: str, timeout: int = 300, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `python train.py <args>` with a pseudo-terminal as its standard output, as a person at a
    terminal does; return (exit status, everything it wrote, escape codes included). The terminal
    is the progress benchmark's (`benchmarks/progress.py`), so the tests see what it measures."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.progress import in_terminal

    status, output, _ = in_terminal([sys.executable, str(ROOT / "train.py"), *args], timeout=timeout, env=env)
    return status, output


def session_processes(sessions: set[int]) -> list[int]:
    """The living processes of the given sessions; a killed process is a zombie until its new parent
    reaps it, which is not "left behind", so zombies are not counted."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z" and os.getsid(int(entry.name)) in sessions:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def stop_sessions(sessions: set[int], grace: float = 20) -> list[int]:
    """SIGTERM each session's process group (a server started with start_new_session=True), SIGKILL
    what is still alive after `grace` seconds, and return what lives on 10 s after that: a SIGKILL is
    delivered, not awaited, so a check right after it races the kernel."""
    import time

    for session in sessions:
        try:
            os.killpg(session, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for wait, then_kill in ((grace, True), (10, False)):
        deadline = time.time() + wait
        while session_processes(sessions) and time.time() < deadline:
            time.sleep(0.2)
        if then_kill:
            for pid in session_processes(sessions):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    return session_processes(sessions)
