"""The README is the front page: short, and its set-up commands are the ones CI runs.

The option tables it used to hold are made from the configs in the docs site (tests/test_docs.py).
"""

from __future__ import annotations

from helpers import ROOT


def test_readme_quick_start_has_the_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("pip install -e . && python train.py", "pip install -e '.[dev]' && pytest && pytest -m slow"):
        assert command in readme and command in ci


def test_readme_is_a_front_page() -> None:
    """What dlbench is, how to set it up and where to read on; the reference lives in docs/."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "docs/figures/" in readme and "## Documentation" in readme
