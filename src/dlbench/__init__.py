"""dlbench: an experiment platform for the classic ideas of deep learning."""

__version__ = "0.1.0"
