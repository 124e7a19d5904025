"""dlbench's population launcher (hydra/launcher=population) and seeded sweeper (hydra/sweeper=seeded)."""
