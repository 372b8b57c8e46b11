"""The README documents what the code defines: the column table generated from the schema, and every command."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from matcher.cli import main
from matcher.schema import columns_markdown

README = Path(__file__).parents[1] / "README.md"


@pytest.fixture(scope="module")
def readme() -> str:
    assert README.exists(), "README.md is missing"
    return README.read_text(encoding="utf-8")


def test_readme_holds_the_generated_column_table(readme):
    assert columns_markdown() in readme, "README.md's column table is stale: paste the output of `matcher columns`"


@pytest.mark.parametrize("command", sorted(main.commands))
def test_readme_mentions_every_command(readme, command):
    assert re.search(rf"\bmatcher {command}\b", readme), f"README.md never shows `matcher {command}`"


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help(command):
    assert main.commands[command].help, f"`matcher {command}` has no help text"


def test_readme_layout_names_every_module_of_the_library(readme):
    layout = readme[readme.index("## Layout"):]
    modules = {path.stem for path in (README.parent / "matcher").glob("*.py") if path.stem != "__init__"}
    assert modules and not {name for name in modules if f"`{name}`" not in layout}
