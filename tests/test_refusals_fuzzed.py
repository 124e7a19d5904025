"""Bad input, second pass: the mistakes that ended in a traceback or trained silently, and every key of
the schema drawn with values of the wrong type and range (hypothesis).

All run through `python train.py` as a user types it, in this one interpreter
(`refusal_driver.refuse`, as tests/test_refusals.py does in its own): exit status 2, one line, no
traceback. The time each refusal takes is measured by `python benchmarks/refusal_times.py`, not asserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from dlbench.config import schema
from refusal_driver import refuse

POPULATION = "-m hydra/launcher=population optimizer.lr=0.1,0.2"
CASES: list[tuple[str, str]] = [
    ("debug=foo", "debug=foo is not an option; choose one of: anomaly, fast, limit, overfit, profile."),
    ("=0.1", "cannot read the override =0.1: it names no key; write key=value, e.g. optimizer.lr=0.1."),
    ("optimizer.lr=${foo}", "optimizer.lr=${foo} cannot be resolved (Interpolation key 'foo' not found)"),
    ("trainer.accelerator=tpu", "trainer.accelerator=tpu needs torch_xla, which is not installed here"),
    ("dataset.val_fraction=0.6 dataset.test_fraction=0.6", "leaves 16% of the examples to train on"),
    ("regularizer=[foo]", "regularizer=foo is not an option (in regularizer=[...]); choose from: activity_l1,"),
    ("logger=[csv,foo]", "logger=foo is not an option (in logger=[...]); choose from: csv, mlflow, tensorboard"),
    (f"{POPULATION} hydra.launcher.min_members=0", "hydra.launcher.min_members=0 must be a whole number >= 2"),
    (f"{POPULATION} hydra.launcher.min_members=-5", "hydra.launcher.min_members=-5 must be a whole number >= 2"),
    (f"{POPULATION} hydra.launcher.pictures=maybe", "hydra.launcher.pictures=maybe must be true or false"),
    (f"{POPULATION} hydra.launcher.sweep_seeds=-2", "hydra.launcher.sweep_seeds=-2 must be a whole number >= 1"),
]


def _refused(argv: list[str], run_dir: Path) -> str:
    """Run `python train.py argv` here; assert exit status 2, one line, no traceback; return the line."""
    key = "hydra.sweep.dir" if "-m" in argv else "hydra.run.dir"
    outcome = refuse([*argv, f"{key}={run_dir}"])
    lines = [line for line in outcome["stderr"].splitlines() if line.strip()]
    assert outcome["exit"] == 2, outcome
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome["stderr"]
    assert "Traceback" not in outcome["stderr"] + outcome["stdout"]
    return lines[0]


@pytest.mark.parametrize(("arguments", "words"), CASES, ids=[arguments for arguments, _ in CASES])
def test_each_mistake_is_one_sentence(tmp_path: Path, arguments: str, words: str) -> None:
    line = _refused(arguments.split(), tmp_path / "run")
    assert words in line, line
    assert not list(tmp_path.rglob("summary.json")), "refused before anything trained"


# -- every key of the schema, drawn wrong ------------------------------------------------------
def _fields(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, type[BaseModel], tuple[str, ...]]]:
    """(dotted key, the group's model, the path inside it) for every typed key, nested models included."""
    for name, info in model.model_fields.items():
        nested = [
            member
            for member in getattr(info.annotation, "__args__", ())
            if isinstance(member, type) and issubclass(member, BaseModel)
        ]
        if nested:
            for inner, _, path in _fields(nested[0], f"{prefix}{name}."):
                yield inner, model, (name, *path)
        else:
            yield f"{prefix}{name}", model, (name,)


KEYS = [
    *((key, model, path, None) for key, model, path in _fields(schema.Root, "")),
    *(
        (key, model, path, group)
        for group, model in schema.GROUPS.items()
        for key, model, path in _fields(model, f"{group}.")
    ),
]
WORDS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
NUMBERS = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-1", "1.5", "-0.5", "2", "1e9", "-inf", "nan", "true", "false", "''"]),
)
VALUES = st.one_of(WORDS, NUMBERS, st.lists(NUMBERS, min_size=1, max_size=3).map(lambda items: f"[{','.join(items)}]"))


def _parsed(text: str) -> Any:
    """The value Hydra makes of `key=text`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(f"key={text}").value()


def _rejected(model: type[BaseModel], path: tuple[str, ...], value: Any) -> bool:
    data: Any = value
    for part in reversed(path):
        data = {part: data}
    try:
        model.model_validate(data)
    except ValidationError:
        return True
    return False


def _drawn_wrong(tmp_path_factory: pytest.TempPathFactory, data) -> None:
    key, model, path, _ = data.draw(st.sampled_from(KEYS), label="key")
    text = data.draw(VALUES.filter(lambda text: _rejected(model, path, _parsed(text))), label="value")
    line = _refused([f"++{key}={text}"], tmp_path_factory.mktemp("drawn") / "run")
    assert key in line, line


OPTIONS = {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck)}


@settings(max_examples=20, **OPTIONS)
@given(st.data())
def test_every_schema_key_drawn_wrong_is_one_sentence(tmp_path_factory: pytest.TempPathFactory, data) -> None:
    _drawn_wrong(tmp_path_factory, data)


@pytest.mark.slow
@settings(max_examples=150, **OPTIONS)
@given(st.data())
def test_every_schema_key_drawn_wrong_is_one_sentence_many(tmp_path_factory: pytest.TempPathFactory, data) -> None:
    _drawn_wrong(tmp_path_factory, data)
