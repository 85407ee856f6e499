"""The layers of conda_envguard (README, "Architecture") hold, and `lint-imports` says when not.

The contract lives in pyproject.toml; these tests run import-linter on a copy of the package,
as it is and with one import that breaks a layer, so a contract that stopped biting (a layer
renamed away, a module left out) fails here rather than passing in CI unnoticed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the package copy in `tree` (first on the path: the copy is read)."""
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(no_cache=True, no_logo=True))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(
        REPO / "conda_envguard",
        tmp_path / "conda_envguard",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def add_import(module: Path, statement: str) -> None:
    """Add `statement` inside a function, where a circle hides most easily."""
    text = module.read_text()
    module.write_text(f"{text}\n\ndef _layer_breaker():\n    {statement}\n")


def test_the_package_keeps_its_layers(tree: Path):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("importer", "imported", "name"),
    [
        # the store is the foundation: it tells no orchestrator, nor git, nor kept packages
        ("store", "guard", "before_command"),
        ("store", "githistory", "queue_commit"),
        # a leaf never reaches for a command
        ("settings", "cli", "main"),
        # orchestrators are siblings that do not call each other
        ("restore", "guard", "remove_env"),
    ],
)
def test_a_forbidden_import_fails_the_lint(tree: Path, importer: str, imported: str, name: str):
    add_import(tree / "conda_envguard" / f"{importer}.py", f"from .{imported} import {name}")

    result = lint_imports(tree)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "conda_envguard is layered BROKEN" in result.stdout
    assert f"conda_envguard.{importer} -> conda_envguard.{imported}" in result.stdout


def test_a_new_module_must_be_given_a_layer(tree: Path):
    (tree / "conda_envguard" / "newthing.py").write_text('"""Not in any layer yet."""\n')

    result = lint_imports(tree)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "conda_envguard.newthing" in result.stdout
