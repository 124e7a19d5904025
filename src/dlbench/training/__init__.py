"""Initializers, regularizers and the optimizer/scheduler glue."""
