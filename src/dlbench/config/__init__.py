"""From the composed Hydra config to the decisions of one run: checks, devices, the plan."""
