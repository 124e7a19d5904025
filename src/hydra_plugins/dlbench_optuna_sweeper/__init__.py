"""dlbench's Optuna sweeper for Hydra, on current Optuna (see optuna_sweeper.py for why)."""
