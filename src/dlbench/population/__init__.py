"""Populations: the jobs of a sweep that differ only in per-member values (seed, optimizer
hyperparameters, initializer, regularizer strengths, ...), trained together in one process as
one vectorised network, each member writing the run directory its standalone job would write.

`network` stacks the members' networks (vmap over one architecture), `optimizers` applies
torch.optim's updates to every member at once, `recurrent` makes LSTM/GRU/RNN layers vmappable.
"""
