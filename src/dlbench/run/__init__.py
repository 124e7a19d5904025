"""One run: build the parts a run needs from its config, train and test them, write the record."""

from dlbench.run.execute import build, train

__all__ = ["build", "train"]
