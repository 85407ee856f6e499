"""The conda recipe (recipe/recipe.yaml) parses, renders and agrees with the project.

Rendered with py-rattler-build's Python API, offline: rendering evaluates the recipe's
templates and conditions for a variant, and downloads nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import conda_envguard

rattler_build = pytest.importorskip("rattler_build", reason="py-rattler-build is not installed")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on 3.10 needs tomli")

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipe" / "recipe.yaml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# Run requirements of the conda package that PyPI metadata cannot carry.
CONDA_ONLY_RUN = {"conda": ">=25.7"}
# PyPI names whose conda-forge package is named differently (none so far).
CONDA_NAME_FOR_PYPI: dict[str, str] = {}
PLATFORMS = ["linux-64", "linux-aarch64", "osx-arm64", "win-64"]


def _python_min() -> str:
    """The oldest Python the project supports, as conda-forge's `python_min` variant."""
    match = re.fullmatch(r"\s*>=\s*(\d+\.\d+)\s*", PYPROJECT["project"]["requires-python"])
    assert match, "requires-python should be a plain '>=X.Y' to derive python_min from"
    return match.group(1)


def _render(target_platform: str = "linux-64"):
    recipe = rattler_build.Stage0Recipe.from_file(RECIPE)
    # conda-forge's global pinning supplies python_min; here it comes from requires-python.
    variants = rattler_build.VariantConfig({"python_min": [_python_min()]})
    config = rattler_build.RenderConfig(
        platform=rattler_build.PlatformConfig(target_platform=target_platform)
    )
    return recipe.render(variants, config)


def _spec(text: str) -> tuple[str, str]:
    """Split a conda match spec 'name >=1,<2' into its name and a whitespace-free constraint."""
    name, _, constraint = text.strip().partition(" ")
    return name.lower(), _normalize_constraint(constraint)


def _normalize_constraint(constraint: str) -> str:
    return ",".join(sorted(part for part in re.sub(r"\s+", "", constraint).split(",") if part))


def _script_lines(script) -> list[str]:
    """The command lines of a script test, in any of the recipe format's spellings."""
    if isinstance(script, dict):
        script = script.get("content", [])
    if isinstance(script, str):
        return script.splitlines()
    return [line for item in script for line in str(item).splitlines()]


@pytest.fixture(scope="module")
def rendered():
    variants = _render()
    assert len(variants) == 1, [v.variant for v in variants]
    return variants[0]


@pytest.mark.parametrize("target_platform", PLATFORMS)
def test_renders_one_noarch_python_package_everywhere(target_platform):
    variants = _render(target_platform)

    assert len(variants) == 1, [v.variant for v in variants]
    variant = variants[0]
    assert variant.variant["target_platform"] == "noarch"
    assert variant.recipe.build.noarch == "python"
    assert variant.recipe.build.string.startswith("pyh")


def test_package_name_and_version_match_the_python_package(rendered):
    assert rendered.recipe.package.name == PYPROJECT["project"]["name"] == "conda-envguard"
    assert rendered.recipe.package.version == conda_envguard.__version__


def test_run_requirements_match_pyproject_plus_conda(rendered):
    run = [_spec(spec) for spec in rendered.recipe.requirements.run]
    names = [name for name, _ in run]
    assert len(names) == len(set(names)), f"a run requirement is listed twice: {run}"
    recipe_run = dict(run)

    expected = {name: _normalize_constraint(spec) for name, spec in CONDA_ONLY_RUN.items()}
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        assert requirement.marker is None and not requirement.extras, (
            f"{line!r}: markers and extras need a hand-written counterpart in the recipe"
        )
        name = requirement.name.lower()
        name = CONDA_NAME_FOR_PYPI.get(name, name)
        expected[name] = _normalize_constraint(str(requirement.specifier))

    assert recipe_run.pop("python") == f">={_python_min()}"
    assert recipe_run == expected


def test_builds_with_pip_from_the_oldest_python(rendered):
    host = dict(_spec(spec) for spec in rendered.recipe.requirements.host)
    assert host["python"] == f"{_python_min()}.*"
    assert "pip" in host
    build_backend = Requirement(PYPROJECT["build-system"]["requires"][0])
    assert host[build_backend.name] == _normalize_constraint(str(build_backend.specifier))

    script = " ".join(_script_lines(rendered.recipe.build.script))
    assert "-m pip install . -vv --no-deps --no-build-isolation" in script


def test_tests_import_the_plugin_and_call_the_cli():
    # The stage0 form still spells out defaults such as pip_check.
    tests = rattler_build.Stage0Recipe.from_file(RECIPE).to_dict()["tests"]

    python_tests = [test["python"] for test in tests if "python" in test]
    assert python_tests, "the recipe has no python test"
    assert {"conda_envguard", "conda_envguard.plugin"} <= set(python_tests[0]["imports"])
    assert python_tests[0].get("pip_check", True) is True

    scripts = [test["script"] for test in tests if "script" in test]
    commands = [line.strip() for script in scripts for line in _script_lines(script)]
    assert "conda envguard --help" in commands


def test_about_matches_the_project(rendered):
    about = rendered.recipe.about
    assert about.license == PYPROJECT["project"]["license"] == "BSD-3-Clause"
    assert about.summary
    assert about.description
    assert about.homepage
    license_files = about.to_dict()["license_file"]
    assert license_files == ["LICENSE"]
    assert (ROOT / "LICENSE").is_file()
    assert "LICENSE" in PYPROJECT["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
