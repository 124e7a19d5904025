"""Jobs of a sweep on a cluster: the Ray backend of `hydra/launcher=ray` and the population launcher."""
