"""What a run leaves on disk and how it is read back: the typed `summary.json` (`summary`), the run
directory's claim and the liveness of the run behind it (`claim`, `liveness`), the record of a job
that failed before training (`failures`), what the file system says of a checkpoint path
(`checkpoint_file`).

The lowest room of the house above `errors`: no torch, no Lightning, no Hydra, so the report, the
sweep's job starter and every logger read records without importing a framework.
"""
