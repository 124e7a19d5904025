"""Reading a checkpoint is total and bounded: every file is a checkpoint or one `CheckpointError` sentence.

Property-based (hypothesis) over random bytes, truncations and byte flips of a real checkpoint, and
over damaged pickles inside a well-formed archive (re-zipped with correct checksums, so torch's
weights-only unpickler itself meets them). The fast tier tries a few hundred files, the slow tier
over ten thousand; no other exception may come out of `load_checkpoint`.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlbench.config.compose import compose_config
from dlbench.run import train
from dlbench.run.checkpoints import CheckpointError, load_checkpoint

QUICK = ["callbacks.pictures.enabled=false", "trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
FAST, SLOW = 80, 2600  # examples per strategy: 4 strategies, 320 files in the fast tier, 10,400 in the slow one


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[bytes, Path]]:
    """The bytes of a real last.ckpt (an MLP trained for a moment on Iris), and a file to write cases to.

    The case file is in memory (a tmpfs, /dev/shm, where the machine has one): `load_checkpoint` reads
    it as any file, but rewriting a file in place on ext4 took about 0.7 ms of wall time per case (the
    truncation makes the next close flush), as much as reading a short one; on tmpfs 0.06 ms."""
    run_dir = tmp_path_factory.mktemp("fuzz") / "run"
    train(compose_config([*QUICK, "test=false"], run_dir))
    GlobalHydra.instance().clear()
    memory = Path("/dev/shm")
    cases = Path(tempfile.mkdtemp(prefix="dlbench-fuzz-", dir=memory)) if os.access(memory, os.W_OK) else run_dir
    try:
        yield (run_dir / "checkpoints" / "last.ckpt").read_bytes(), cases / "case.ckpt"
    finally:
        if cases != run_dir:
            shutil.rmtree(cases, ignore_errors=True)


# A reason that is not in words: an exception's name, an errno, or a bare number in parentheses ("(101)").
BARE = re.compile(r"\b\w*(Error|Exception)\b|\[Errno|\(\d+\)")


def _read(data: bytes, path: Path) -> None:
    """The property: `data` as a file is a checkpoint with a state_dict, or one CheckpointError sentence."""
    path.write_bytes(data)
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as error:
        message = str(error)
        assert message.startswith(f"ckpt_path={path} ") and "\n" not in message, message
        assert "weights_only=False" not in message
        assert not BARE.search(message.replace(str(path), "")), f"a reason not in words: {message}"
        return
    assert isinstance(checkpoint, dict) and isinstance(checkpoint["state_dict"], dict)


def _rezipped(original: bytes, mutate) -> bytes:
    """`original` with its pickle (data.pkl) changed by `mutate`, written again as torch.save writes: stored
    entries with their checksums right, so only the pickle is damaged."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for name, content in _entries(original):
            target.writestr(name, mutate(content) if name.endswith("data.pkl") else content)
    return out.getvalue()


@functools.lru_cache(maxsize=2)
def _entries(original: bytes) -> tuple[tuple[str, bytes], ...]:
    """The archive's entries in order, read once (not once per case)."""
    with zipfile.ZipFile(io.BytesIO(original)) as source:
        return tuple((entry.filename, source.read(entry)) for entry in source.infolist())


def _flips(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    changed = bytearray(data)
    for position, value in flips:
        changed[position % len(changed)] = value
    return bytes(changed)


FLIPS = st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), min_size=1, max_size=8)
PICKLE_CHANGES = st.one_of(
    FLIPS.map(lambda flips: lambda content: _flips(content, flips)),
    st.integers(0, 1 << 30).map(lambda cut: lambda content: content[: cut % len(content)]),
    st.tuples(st.integers(0, 1 << 30), st.binary(min_size=1, max_size=16)).map(
        lambda insert: (
            lambda content: content[: insert[0] % len(content)] + insert[1] + content[insert[0] % len(content) :]
        )
    ),
)


def _tests(examples: int):
    options = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )

    @options
    @given(data=st.binary(max_size=4096) | st.binary(max_size=4096).map(lambda tail: b"PK\x03\x04" + tail))
    def random_bytes(real: tuple[bytes, Path], data: bytes) -> None:
        _read(data, real[1])

    @options
    @given(cut=st.integers(0, 1 << 30))
    def truncations(real: tuple[bytes, Path], cut: int) -> None:
        _read(real[0][: cut % len(real[0])], real[1])

    @options
    @given(flips=FLIPS)
    def byte_flips(real: tuple[bytes, Path], flips: list[tuple[int, int]]) -> None:
        _read(_flips(real[0], flips), real[1])

    @options
    @given(change=PICKLE_CHANGES)
    def damaged_pickles(real: tuple[bytes, Path], change) -> None:
        _read(_rezipped(real[0], change), real[1])

    return [random_bytes, truncations, byte_flips, damaged_pickles]


KINDS = ["random bytes", "truncations", "byte flips", "damaged pickles"]


@pytest.mark.parametrize("kind", range(4), ids=KINDS)
def test_every_malformed_file_is_one_sentence(real: tuple[bytes, Path], kind: int) -> None:
    _tests(FAST)[kind](real)


@pytest.mark.slow
@pytest.mark.parametrize("kind", range(4), ids=KINDS)
def test_every_malformed_file_is_one_sentence_over_ten_thousand_cases(real: tuple[bytes, Path], kind: int) -> None:
    _tests(SLOW)[kind](real)


def test_the_real_checkpoint_and_its_rezipped_copy_load(real: tuple[bytes, Path]) -> None:
    """The strategies start from files that load: the damage, not the rewriting, is what is refused."""
    for data in (real[0], _rezipped(real[0], lambda content: content)):
        real[1].write_bytes(data)
        assert "state_dict" in load_checkpoint(real[1])


def test_a_zip_bomb_is_refused_before_it_is_inflated(real: tuple[bytes, Path], tmp_path: Path) -> None:
    """A small file whose entry inflates to far more than the file (here 64 MB of zeros in a few hundred kB)."""
    bomb = tmp_path / "bomb.ckpt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data/0", "w", force_zip64=True) as entry:
            block = bytes(1 << 20)
            for _ in range(64):
                entry.write(block)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(CheckpointError, match="is compressed, which torch.save never does"):
        load_checkpoint(bomb)


def test_entries_declaring_more_than_the_file_are_refused(real: tuple[bytes, Path], tmp_path: Path) -> None:
    """A stored entry whose declared size is larger than the whole file (a crafted central directory)."""
    data = bytearray(real[0])
    with zipfile.ZipFile(io.BytesIO(real[0])) as archive:
        entry = archive.infolist()[0]
    start = bytes(data).find(b"PK\x01\x02")  # the first central-directory record: the first entry's
    assert start >= 0
    huge = (3 << 30).to_bytes(4, "little")
    data[start + 20 : start + 24] = huge  # compressed size
    data[start + 24 : start + 28] = huge  # uncompressed size
    crafted = tmp_path / "declares.ckpt"
    crafted.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="declare|damaged|not a zip"):
        load_checkpoint(crafted)
    assert entry.file_size < len(data)
