"""dlbench's Ray launcher (hydra/launcher=ray): a sweep's jobs as Ray tasks."""
