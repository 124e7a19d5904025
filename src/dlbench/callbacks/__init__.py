"""Every Lightning callback of dlbench, one module each: checkpoints, the run guard, weight
constraints, pictures, per-layer statistics and debugging aids. Only what Lightning's own
callbacks do not already do."""
