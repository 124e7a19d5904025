"""Runs `python train.py <argv>` for many argv in ONE interpreter and reports each outcome as JSON.

Used by tests/test_bad_input.py: a refusal must come before torch is imported, so the interpreter
that refuses sixty inputs in a row must still not have imported torch at the end of each one.
Each line of stdin is a JSON list of arguments; each line of stdout is a JSON object.
"""

from __future__ import annotations

import contextlib
import io
import json
import runpy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def refuse(argv: list[str]) -> dict:
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    sys.argv = ["train.py", *argv]
    stderr, stdout = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    code: object = 0
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
        try:
            runpy.run_path(str(ROOT / "train.py"), run_name="__main__")
        except SystemExit as error:
            code = error.code
        except BaseException as error:  # noqa: BLE001 - reported to the test as what happened
            code = f"raised {type(error).__name__}: {error}"
    return {
        "argv": argv,
        "exit": code,
        "stderr": stderr.getvalue(),
        "stdout": stdout.getvalue(),
        "seconds": time.perf_counter() - started,
        "torch_imported": "torch" in sys.modules,
    }


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(refuse(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
