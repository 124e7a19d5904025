"""Run `python train.py ...` with a clock on the progress bar's own work; write its seconds as JSON.

    python benchmarks/bar_timer.py OUT.json train.py [overrides...]

Timed: every hook of dlbench's `EpochBar` (Lightning's Rich bar underneath: task updates, the
synchronous redraw of a task reset, starting and stopping Rich's live display with the wait for
its drawing thread) and every redraw by Rich's own thread (`rich.live.Live.refresh`). Nested
calls count once (a hook that redraws is one span), per thread. On a 2-core machine Python's
GIL lets only one thread run Python at a time, so the drawing thread's seconds are taken from
the training thread: their sum is what the bar costs the run, measured inside it, and unlike an
A/B of two whole commands it does not drown in a busy machine's swings of tens of percent.
"""

from __future__ import annotations

import atexit
import functools
import json
import runpy
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

TOTALS: dict[str, Any] = {"bar_s": 0.0, "redraws": 0, "by_hook_s": {}}
_depth = threading.local()


def _timed(function: Callable[..., Any], counts_redraw: bool = False) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, "value", 0)
        _depth.value = depth + 1
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _depth.value = depth
            if counts_redraw:
                TOTALS["redraws"] += 1
            if depth == 0:
                spent = time.perf_counter() - started
                TOTALS["bar_s"] += spent
                by_hook = TOTALS["by_hook_s"]
                by_hook[function.__name__] = by_hook.get(function.__name__, 0.0) + spent

    return wrapper


def install() -> None:
    """Put the clock on EpochBar's hooks and on Rich's redraw."""
    import rich.live

    from dlbench.callbacks.progress import EpochBar

    rich.live.Live.refresh = _timed(rich.live.Live.refresh, counts_redraw=True)  # type: ignore[method-assign]
    for name in dir(EpochBar):
        if name.startswith("on_") or name in ("setup", "teardown"):
            setattr(EpochBar, name, _timed(getattr(EpochBar, name)))


def main() -> None:
    out, script, *arguments = sys.argv[1:]
    install()
    atexit.register(lambda: open(out, "w").write(json.dumps(TOTALS)))
    sys.argv = [script, *arguments]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
