"""Experiment loggers beyond Lightning's CSV logger: Weights & Biases (and the sweep report in it)."""
