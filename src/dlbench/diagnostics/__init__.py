"""Looking inside training: the numerical gradient check, the lr and batch-size finders, drawing.

The callbacks that look during a run (pictures, per-layer statistics) are in dlbench.callbacks and
draw with `drawing`. Each module does one job and knows nothing of files beyond what it is handed.
"""
