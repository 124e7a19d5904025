"""Plain torch.nn.Module architectures (no Lightning inside), built from a model config and the data's
DataSpec (`build_model`); your own through `custom`.

`build_model` is loaded on first use: the resolve step reads `custom` (the name a user types, the
keywords a constructor takes) before torch is imported.
"""

from typing import Any

__all__ = ["build_model"]


def __getattr__(name: str) -> Any:
    if name == "build_model":
        from dlbench.models.build import build_model

        return build_model
    raise AttributeError(f"module 'dlbench.models' has no attribute {name!r}")
