"""Where an Optuna search keeps its study, for the sweeper that runs it and the trials that report to
it (`hydra.sweeper.storage`): a journal file on a shared filesystem, or a database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

JOURNAL = "journal:"  # storage=journal:/shared/dir/study.log: Optuna's journal file, for workers on a shared filesystem


def open_storage(storage: str | None) -> Any:
    """The study's storage: `journal:PATH` Optuna's journal file, any other string an RDB URL.

    The journal file needs only a shared filesystem (NFS included: its lock is a file), which is
    what a cluster has; an RDB URL (`postgresql://...`, `mysql://...`) needs a database server, and
    `sqlite:///` (the default, in the sweep directory) is for one machine.
    """
    if not storage:
        return None
    storage = str(storage)
    if storage.startswith(JOURNAL):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(storage[len(JOURNAL) :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if storage.startswith("sqlite:///"):
        Path(storage[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    return storage
