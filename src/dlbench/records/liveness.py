"""`running` or `lost`: whether the process behind a `running` summary.json still lives.

A run writes `status: running` after every epoch and its final status when it ends in any way
Python sees. A summary still saying `running` is either a run going on now or one that was
killed (kill -9, the OOM killer, a node that went away). The run's lock on its directory tells
them apart (`dlbench.records.claim.is_live`: the kernel drops the lock with the process); a
directory that was never claimed falls back to the pid the summary names, on this host. A run on
another host whose lock cannot be tested stays `running`.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from dlbench.records.claim import is_live
from dlbench.records.summary import Process, Summary


def _pid_alive(process: Process | None) -> bool | None:
    if process is None or process.host != socket.gethostname():
        return None
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return None
    return True


def effective_status(run_dir: Path, summary: Summary) -> tuple[str, str | None]:
    """The status to report and, for a lost run, why and what to do."""
    if summary.status != "running":
        return summary.status, None
    live = is_live(run_dir)
    if live is None:
        live = _pid_alive(summary.process)
    if live is not False:
        return "running", None
    process = summary.process
    who = f"pid {process.pid} on {process.host}" if process else "pid ? on ?"
    ago = f", last heard of {time.time() - summary.updated:.0f} s ago" if summary.updated else ""
    last = summary.last_checkpoint.path if summary.last_checkpoint else None
    where = f"resume it with ckpt_path={last}" if last else "it left no checkpoint to resume from"
    return "lost", f"lost: its process ({who}) ended without a word after {summary.epochs_run} epochs{ago}; {where}"
