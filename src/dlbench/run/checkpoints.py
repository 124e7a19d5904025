"""Reading a checkpoint: the one door every checkpoint comes in by.

A checkpoint is data: weights, optimizer state, loop counters, the run's record and config as
plain containers. `torch.load(weights_only=True)` unpickles exactly that (tensors, dicts, lists,
tuples, numbers, strings) and refuses a pickle that would import or call anything, so a crafted
`.ckpt` cannot run code. Every reader goes through `load_checkpoint`: evaluation
(`train=false`), the resume check, and Lightning's own restores (`fit(ckpt_path=...)`,
`test(ckpt_path="best")`, the finders), which `RunGuard` routes here with `SafeCheckpointIO`.

Each way a checkpoint can be wrong (no path, an empty `ckpt_path=`, a directory, an empty or
corrupt file, a pickle that holds code, a checkpoint of another network) becomes one
`CheckpointError` sentence naming the path and what to do; `train.py` prints it and exits 2.
The advice is never to load the file with `weights_only=False`: that is the unsafe path.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from dlbench.config.plan import RunPlan
from dlbench.errors import ConfigError
from dlbench.records.atomic import write_atomic
from dlbench.records.checkpoint_file import file_problem, unreadable

# Checkpoints already read and checked, waiting for Lightning to ask for them (see `take`):
# path -> (file identity, checkpoint). One read per checkpoint even when it is checked first.
_READ: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used, said in one sentence with the path and the fix."""


def _identity(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _unsafe_global(message: str) -> str | None:
    """The import a weights-only load refused (e.g. 'posix.system'), or None for other errors."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    return found.group(1) if found else None


def load_checkpoint(path: Any, key: str = "ckpt_path", evaluating: bool = False) -> dict[str, Any]:
    """The checkpoint at `path`, read weights-only onto the CPU; `CheckpointError` otherwise.

    `key` is the config key the path came from, so the sentence names what the user typed;
    `evaluating`: the path was asked for by `train=false`, which cannot go without one.
    """
    text = "" if path is None else str(path)
    problem = file_problem(path, key, evaluating)  # missing, a directory, empty: also asked before torch
    if problem is not None:
        raise CheckpointError(problem)
    file = Path(text).expanduser()
    damaged = _damaged_archive(file)
    if damaged:
        raise _corrupt(key, text, damaged)
    try:
        with warnings.catch_warnings():  # a damaged pickle's "protocol 113" warning: the refusal says it
            warnings.simplefilter("ignore", UserWarning)
            checkpoint = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        unsafe = _unsafe_global(str(error)) or _import_in_pickle(file)
        if unsafe is None:
            raise _corrupt(key, text, _pickle_refusal(str(error))) from None
        raise CheckpointError(
            f"{key}={text} was not loaded: it asks to import {unsafe}, and a checkpoint may hold only tensors and "
            "plain values (loading it could run code); use a checkpoint written by dlbench."
        ) from None
    except Exception as error:  # noqa: BLE001 - any other failure of reading a malformed file says the same
        unsafe = _import_in_pickle(file)  # a damaged pickle may still ask for code before it breaks
        if unsafe is not None:
            raise CheckpointError(
                f"{key}={text} was not loaded: it asks to import {unsafe}, and a checkpoint may hold only tensors "
                "and plain values (loading it could run code); use a checkpoint written by dlbench."
            ) from None
        raise _corrupt(key, text, _in_words(error)) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(
            f"{key}={text} is not a Lightning checkpoint (it has no state_dict); give a .ckpt written by a dlbench "
            "run, e.g. <run dir>/checkpoints/last.ckpt."
        )
    return checkpoint


def _pickle_refusal(message: str) -> str:
    """Why torch's weights-only unpickler refused a pickle that asks to import nothing, in words."""
    operand = re.search(r"Unsupported operand (\d+)", message)
    if operand is not None:
        code = int(operand.group(1))
        name = _OPCODES.get(code)
        named = f"the instruction {name} (byte {code})" if name else f"the byte {code} where an instruction belongs"
        return f"its pickle holds {named}, which torch.save never writes"
    detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", message)
    if detail is not None and detail.group(1).strip():
        return f"its pickle does not hold plain data: {detail.group(1).strip().rstrip('.')}"
    return "its pickle stops making sense partway"


def _import_in_pickle(file: Path) -> str | None:
    """The first thing the checkpoint's pickle asks to import that a weights-only load refuses, or None.

    Read with `pickletools.genops`, which parses the instructions and runs none: torch's own scan
    (`get_unsafe_globals_in_checkpoint`) stops at protocol 4's first FRAME, so a pickle that asks for
    `os.system` that way was once called only "damaged"."""
    try:
        with zipfile.ZipFile(file) as archive:
            name = next((entry for entry in archive.namelist() if entry.endswith("data.pkl")), None)
            data = archive.read(name) if name else b""
    except Exception:  # noqa: BLE001 - an archive that cannot be read names no import
        return None
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except Exception:  # noqa: BLE001 - a torch without it: every import is named
        allowed = set()
    strings: list[str] = []
    memo: dict[int, Any] = {}
    try:
        for opcode, argument, _ in pickletools.genops(data):
            found = None
            if opcode.name in ("GLOBAL", "INST"):
                found = str(argument).replace(" ", ".", 1)
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found = f"{strings[-2]}.{strings[-1]}"
            elif isinstance(argument, str):
                strings.append(argument)
            elif opcode.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                memo[int(argument)] = strings[-1]
            elif opcode.name == "MEMOIZE" and strings:
                memo[len(memo)] = strings[-1]
            elif opcode.name in ("BINGET", "LONG_BINGET", "GET") and isinstance(memo.get(int(argument)), str):
                strings.append(memo[int(argument)])
            if found is not None and found not in allowed:
                return found
    except Exception:  # noqa: BLE001 - a damaged pickle: what was read before the damage is what it asks for
        return None
    return None


_OPCODES = {ord(opcode.code): opcode.name for opcode in pickletools.opcodes if len(opcode.code) == 1}

# What a malformed file makes the reader raise, in words: the message alone is often a bare number
# (KeyError: 101) or an errno ([Errno 22] Invalid argument).
_READ_FAILURES: list[tuple[type[BaseException], str]] = [
    (EOFError, "its pickle ends before its last instruction"),
    (struct.error, "its pickle ends in the middle of a number"),
    (KeyError, "its pickle refers back to a value it never stored (memo entry {detail})"),
    (IndexError, "its pickle takes more values than it made"),
]


def _in_words(error: BaseException) -> str:
    """Why reading the file failed, as a phrase: never an exception's name, a bare number or an errno."""
    message = str(error).split("\n")[0].strip()
    if isinstance(error, OSError):
        return f"the system could not read it: {error.strerror or 'an input/output error'}"
    if isinstance(error, UnicodeDecodeError):
        where = f"byte 0x{error.object[error.start]:02x} at position {error.start}"
        return f"a piece of text in its pickle is not valid UTF-8 ({where})"
    for kind, words in _READ_FAILURES:
        if isinstance(error, kind):
            return words.format(detail=message.strip("'\""))
    stream = re.search(r"PytorchStreamReader failed [^:]+: (.+)", message)
    if stream is not None:
        return f"torch could not read its zip archive: {stream.group(1).strip().rstrip('.')}"
    return message[:200].rstrip(".") or "it could not be read"


def _damaged_archive(file: Path) -> str | None:
    """Why the checkpoint's zip archive cannot be read safely (a phrase), else None.

    `torch.save` writes a zip archive of stored (uncompressed) entries, so no entry may declare
    more bytes than the file holds: a 3 MB file claiming a 3 GiB entry (a zip bomb) is refused
    before a byte of it is inflated, and reading a checkpoint costs at most about its size.
    `torch.load` does not check the checksums `torch.save` writes, so damaged weights would load
    as other numbers; reading the file once more to check them costs about a second per GB.
    A file that is not a zip archive (junk, or the pre-1.6 format dlbench never writes) is refused.
    """
    size = file.stat().st_size
    try:
        with zipfile.ZipFile(file) as archive:
            entries = archive.infolist()
            declared = sum(entry.file_size for entry in entries)
            for entry in entries:
                if entry.compress_type != zipfile.ZIP_STORED or entry.file_size != entry.compress_size:
                    return f"{entry.filename} is compressed, which torch.save never does"
            if declared > size:
                return f"its entries declare {declared} bytes, more than the file's {size}"
            damaged = archive.testzip()
            return f"{damaged} fails its checksum" if damaged else None
    except zipfile.BadZipFile:
        return "not a zip archive written by torch.save"
    except UnicodeDecodeError:
        return "a name in its zip archive's table of contents is not valid text, so the table is damaged"
    except NotImplementedError as error:  # e.g. "That compression method is not supported"
        return f"its zip archive uses a feature torch.save never writes ({str(error).rstrip('.').lower()})"
    except OSError as error:  # e.g. [Errno 22]: an entry's offset points outside the file
        return f"its zip archive's table of contents points outside the file ({error.strerror or 'a bad offset'})"
    except Exception as error:  # noqa: BLE001 - a malformed archive fails in many ways; each is a damaged file
        return f"its zip archive is damaged ({_in_words(error)})"


def _corrupt(key: str, text: str, reason: str) -> CheckpointError:
    return CheckpointError(unreadable(key, text, reason))


def read_for_lightning(path: Any, key: str = "ckpt_path", evaluating: bool = False) -> dict[str, Any]:
    """`load_checkpoint`, and keep the result for Lightning's own load of the same file (`take`)."""
    if path is not None and str(path).strip():
        file = Path(str(path)).expanduser().resolve()
        kept = _READ.get(str(file))
        if kept is not None and file.is_file() and kept[0] == _identity(file):
            return kept[1]
    checkpoint = load_checkpoint(path, key, evaluating)
    file = Path(str(path)).expanduser().resolve()
    _READ.clear()  # only the checkpoint of the run at hand is kept
    _READ[str(file)] = (_identity(file), checkpoint)
    return checkpoint


def take(path: Any) -> dict[str, Any]:
    """The checkpoint at `path`: the one `read_for_lightning` kept if the file is unchanged, else read now.

    Handed out once: Lightning may change the dictionary it restores from.
    """
    file = Path(str(path)).expanduser().resolve()
    kept = _READ.pop(str(file), None)
    if kept is not None and file.exists() and kept[0] == _identity(file):
        return kept[1]
    return load_checkpoint(path)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO, reading through `take`: weights-only, and one sentence for every mistake."""

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return take(path)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """Serialize in memory, then write by rename in the checkpoint's own directory: the file is the
        previous checkpoint or the new one, never a truncated one (Lightning's local write renames a
        temporary file from /tmp, a copy across file systems that a full disk leaves half done)."""
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buffer.getbuffer())


# -- what a checkpoint holds ------------------------------------------------------------------
def _named(group: str, choices: dict[str, Any], section: Any) -> str:
    """`model=lenet` when the option is known, else the class name (`LeNet`)."""
    if choices.get(group):
        return f"{group}={choices[group]}"
    return str(section.get("_target_", "?") if isinstance(section, dict) else "?").rsplit(".", 1)[-1]


def check_checkpoint_fits(plan: RunPlan, task: torch.nn.Module) -> None:
    """Refuse, before training, a `ckpt_path` this run cannot restore: unreadable, or another network.

    Reads the file once (Lightning's restore then takes the same dictionary, see `take`).
    """
    if plan.ckpt_path is None:
        return
    path = plan.ckpt_path
    checkpoint = read_for_lightning(path)
    stored = checkpoint.get("dlbench_config")
    stored = stored if isinstance(stored, dict) else {}
    overrides = checkpoint.get("dlbench_overrides")
    trained_with = " ".join(str(item) for item in overrides) if isinstance(overrides, list | tuple) else ""
    again = f" ({trained_with})" if trained_with else ""
    theirs, ours = stored.get("model"), dict(plan.model)
    if isinstance(theirs, dict) and theirs.get("_target_") != ours.get("_target_"):
        choices = checkpoint.get("dlbench_choices")
        choices = choices if isinstance(choices, dict) else {}
        raise CheckpointError(
            f"ckpt_path={path} holds {_named('model', choices, theirs)} trained on "
            f"{_named('dataset', choices, stored.get('dataset'))}, but this run builds "
            f"{_named('model', dict(plan.context.choices), ours)}; resume it with the overrides it was trained "
            f"with{again}, or evaluate it with train=false."
        )
    expected = {name: tuple(value.shape) for name, value in task.state_dict().items()}
    found = {name: tuple(value.shape) for name, value in checkpoint["state_dict"].items() if hasattr(value, "shape")}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    resized = sorted(name for name in set(expected) & set(found) if expected[name] != found[name])
    if missing or unexpected or resized:
        what = (
            f"{resized[0]} is {list(found[resized[0]])} there and {list(expected[resized[0]])} here"
            if resized
            else f"{len(missing)} of this network's tensors are not in it (e.g. {missing[0]})"
            if missing
            else f"it has {len(unexpected)} tensors this network lacks (e.g. {unexpected[0]})"
        )
        raise CheckpointError(
            f"ckpt_path={path} does not fit the network this run builds: {what}; use the model and dataset "
            f"overrides it was trained with{again}."
        )
