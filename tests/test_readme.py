"""The README's config-group table lists every option a user can pick, so `--help` and the README agree."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GROUPS = sorted(p for p in (ROOT / "configs").iterdir() if p.is_dir() and p.name not in {"hydra", "paths"})


@pytest.mark.parametrize("group", GROUPS, ids=lambda p: p.name)
def test_readme_table_lists_every_option_of_the_group(group: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [f.stem for f in sorted(group.glob("*.yaml")) if f"| `{group.name}` | `{f.stem}` |" not in readme]
    assert not missing, f"README's config table lacks {group.name}={missing}"


def test_readme_quick_start_has_the_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("pip install -e . && python train.py", "pip install -e '.[dev]' && pytest && pytest -m slow"):
        assert command in readme and command in ci
