"""Plain torch.nn.Module architectures; none of them knows about Lightning."""

from dlbench.models.build import build_model

__all__ = ["build_model"]
