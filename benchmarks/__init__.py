"""dlbench's benchmarks: `python benchmarks/run.py` (dlbench against a hand-written loop, see its
docstring) and `python benchmarks/patches.py` (what each framework patch in dlbench.runtime buys)."""
