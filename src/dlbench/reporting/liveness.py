"""`running` or `lost`: whether the process behind a `running` summary.json still lives.

A run writes `status: running` after every epoch and its final status when it ends in any way
Python sees. A summary still saying `running` is either a run going on now or one that was
killed (kill -9, the OOM killer, a node that went away). The run's lock on its directory tells
them apart (`dlbench.run.claim.is_live`: the kernel drops the lock with the process); a directory
that was never claimed falls back to the pid the summary names, on this host. A run on another
host whose lock cannot be tested stays `running`.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from dlbench.run.claim import is_live


def _pid_alive(process: dict[str, Any] | None) -> bool | None:
    if not process or process.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(process["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, TypeError, ValueError):
        return None
    return True


def effective_status(run_dir: Path, summary: dict[str, Any]) -> tuple[str, str | None]:
    """The status to report and, for a lost run, why and what to do."""
    status = str(summary.get("status", "failed"))
    if status != "running":
        return status, None
    live = is_live(run_dir)
    if live is None:
        live = _pid_alive(summary.get("process"))
    if live is not False:
        return "running", None
    process = summary.get("process") or {}
    seen = process.get("updated")
    ago = f", last heard of {time.time() - float(seen):.0f} s ago" if seen else ""
    last = (summary.get("last_checkpoint") or {}).get("path")
    where = f"resume it with ckpt_path={last}" if last else "it left no checkpoint to resume from"
    return "lost", (
        f"lost: its process (pid {process.get('pid', '?')} on {process.get('host', '?')}) ended without a "
        f"word after {summary.get('epochs_run', '?')} epochs{ago}; {where}"
    )
