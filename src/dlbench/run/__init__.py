"""One run: build the parts a run needs from its config, train and test them, write the record.

`build` and `train` are loaded on first use: `dlbench.records.claim` and `dlbench.run.jobs` are used
before a run is resolved (Hydra's run-start callback), where importing torch and Lightning would
cost a refused command ten seconds. (The module that instantiates a plan is `builders`, not
`build`, so that it does not shadow the function.)
"""

from typing import Any

__all__ = ["build", "train"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dlbench.run import execute

        return getattr(execute, name)
    raise AttributeError(f"module 'dlbench.run' has no attribute {name!r}")
