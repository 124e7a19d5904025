"""The classic experiments of the course: `configs/experiment/<name>.yaml`, each a comparison with a
stated claim (dlbench.experiments.claims) checked on real runs (dlbench.experiments.check), listed
and drawn by `python -m dlbench.experiments` (dlbench.experiments.command; docs/experiments.md)."""
