"""The documentation site: its option tables are the configs', it builds strictly, its runnable examples run.

The tables are made by the MkDocs hook docs/hooks/dlbench_docs.py from every
`configs/<group>/<option>.yaml` (its `# ...` header, the keys it sets), so the docs list exactly
the options `--help` lists. A code block right after a `<!-- runnable -->` line is run here as a
shell script, in a fresh folder holding `train.py` and the configs: blocks of `--cfg`/`--help`
commands in the fast tier, blocks that train in the slow tier.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import CONFIGS, ROOT

DOCS = ROOT / "docs"
RUNNABLE = re.compile(r"^<!--\s*runnable\s*-->\s*\n```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _hook():
    """The hook module, loaded from its file as MkDocs loads it (it needs only PyYAML)."""
    spec = importlib.util.spec_from_file_location("dlbench_docs", DOCS / "hooks" / "dlbench_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


hook = _hook()
GROUPS = hook.groups()
PAGES = sorted(DOCS.rglob("*.md"))


def page_markers() -> dict[str, Path]:
    """The group of every `<!-- options: group -->` in the pages, and the page it is on."""
    return {match.group("group"): page for page in PAGES for match in hook.OPTIONS.finditer(page.read_text())}


# -- the option tables --------------------------------------------------------------------------
@pytest.mark.parametrize("group", GROUPS)
def test_every_option_has_a_header_that_says_what_it_is(group: str) -> None:
    for option in hook.options(group):
        assert len(option.description) > 10, f"configs/{group}/{option.name}.yaml needs a `# ...` header line"


def test_the_docs_list_every_option_of_every_group() -> None:
    """What the README's table promised, now generated: one row per file, with its header."""
    table = hook.all_table()
    for group in GROUPS:
        for path in sorted((CONFIGS / group).glob("*.yaml")):
            header = hook.split_header(hook.header_lines(path.read_text()))[0]
            assert f"| `{group}` | `{path.stem}` | {hook.cell(header)} |" in table
    markers = page_markers()
    assert markers.get("all") == DOCS / "configs.md"
    missing = set(GROUPS) - set(markers)
    assert not missing, f"groups without a table of their own on any page: {missing}"


@pytest.mark.parametrize("group", ["optimizer", "regularizer", "dataset", "trainer"])
def test_a_group_table_shows_the_keys_each_file_sets(group: str) -> None:
    table = hook.group_table(group)
    rows = {line.split(" | ")[0].strip("| `"): line for line in table.splitlines()[2:]}
    for path in sorted((CONFIGS / group).glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        for key, value in hook.flatten(body).items():
            assert f"`{key}: {hook.value_text(value)}`" in rows[path.stem], (path, key)


def test_sweep_tables_say_what_is_swept_and_the_command() -> None:
    table = hook.group_table("sweep")
    params = yaml.safe_load((ROOT / "sweeps" / "lr.yaml").read_text())["hydra"]["sweeper"]["params"]
    row = next(line for line in table.splitlines() if line.startswith("| `lr` |"))
    assert f"`optimizer.lr={params['optimizer.lr']}`" in row and "`python train.py -m sweep=lr`" in row


def test_an_unknown_group_fails_the_build_with_the_groups_there_are() -> None:
    with pytest.raises(ValueError, match="no config group configs/optimiser; groups: callbacks"):
        hook.expand("<!-- options: optimiser -->")


def test_optional_nav_pages_are_left_out_only_while_missing(tmp_path: Path) -> None:
    (tmp_path / "here.md").write_text("# here")
    nav = [{"Home": "index.md"}, {"Part": [{"Here": "here.md"}, {"Later": "later.md"}, {"Other": "other.md"}]}]
    assert hook._prune(nav, tmp_path, {"here.md", "later.md"}) == [
        {"Home": "index.md"},
        {"Part": [{"Here": "here.md"}, {"Other": "other.md"}]},
    ]


def test_the_home_page_is_the_readme_with_site_links() -> None:
    home = hook.expand((DOCS / "index.md").read_text())
    assert "pip install -e '.[dev]' && pytest && pytest -m slow" in home
    assert "](docs/" not in home and "](getting-started.md)" in home


def test_the_readme_links_only_to_pages_that_exist() -> None:
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text())
    assert links and not [link for link in links if not (ROOT / link).exists()]


# -- the site builds, strictly -------------------------------------------------------------------
def _mkdocs_installed() -> bool:
    return all(importlib.util.find_spec(name) for name in ("mkdocs", "material"))


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`: a broken link, a missing anchor or a missing nav page fails."""
    if not _mkdocs_installed():
        if os.environ.get("CI"):
            pytest.fail("CI must build the docs: pip install -e '.[dev]' brings mkdocs (the docs extra)")
        pytest.skip("mkdocs and mkdocs-material are not installed: pip install -e '.[docs]'")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    configs = (site / "configs" / "index.html").read_text()
    for group in GROUPS:
        for path in (CONFIGS / group).glob("*.yaml"):
            assert f"<td><code>{path.stem}</code></td>" in configs, (group, path.stem)
    assert (site / "figures" / "activation_sweep.png").exists()


# -- the runnable examples -----------------------------------------------------------------------
def runnable_blocks() -> list:
    """Every `<!-- runnable -->` block of the pages; those that train are in the slow tier."""
    blocks = []
    for page in PAGES:
        text = page.read_text()
        for match in RUNNABLE.finditer(text):
            body = match.group(1)
            commands = [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
            cheap = all("--cfg" in line or "--help" in line for line in commands)
            line = text[: match.start()].count("\n") + 1
            name = f"{page.relative_to(DOCS)}:{line}"
            blocks.append(pytest.param(body, id=name, marks=() if cheap else pytest.mark.slow))
    return blocks


BLOCKS = runnable_blocks()


def test_the_docs_have_runnable_examples_in_both_tiers() -> None:
    tiers = {bool(block.marks) for block in BLOCKS}
    assert tiers == {True, False}, "at least one cheap (--cfg/--help) block and one that trains"


@pytest.mark.parametrize("body", BLOCKS)
def test_each_runnable_block_runs(body: str, tmp_path: Path) -> None:
    """The block as a user pastes it, in a folder of their own beside the project's train.py."""
    for name in ("train.py", "configs"):
        (tmp_path / name).symlink_to(ROOT / name)
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "WANDB_MODE": "offline",
    }
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", body],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )
    assert result.returncode == 0, f"{body}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def test_the_run_directory_page_shows_summary_jsons_schema_as_the_model_makes_it() -> None:
    import json

    from dlbench.records.summary import summary_schema

    page = hook.expand((DOCS / "run-directory.md").read_text())
    block = re.search(r"### The JSON Schema of summary.json.*?```json\n(.*?)\n```", page, re.DOTALL)
    assert block is not None, "the schema block is on the page"
    assert json.loads(block.group(1)) == summary_schema()
    assert set(summary_schema()["properties"]) >= {"status", "metrics", "best", "history", "checkpoints", "process"}
