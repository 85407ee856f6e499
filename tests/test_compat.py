"""Each function of conda_envguard/compat.py takes, on the conda running the tests, the path
its docstring names for that conda line, and the feature behind it works there.

conda's version is the independent witness: compat.py looks at what conda provides, these
tests at the version number. The compatibility matrix runs them (marked `core`) on every
conda line, so each branch is taken on the lines it is for (tools/conda_matrix.py maps each
function to its tests).
"""

from __future__ import annotations

import json
import os
import re
from argparse import Namespace
from pathlib import Path

import conda
import pytest
from envguard_testsupport.checks import env_packages, listed_snapshots, ok, take_snapshot

from conda_envguard import compat

pytestmark = pytest.mark.usefixtures("no_background_expiry")

CONDA = tuple(int(n) for n in re.findall(r"\d+", conda.__version__)[:2])


def since(major: int, minor: int) -> bool:
    """Is the running conda this line or newer? (26.9.0.dev56 counts as 26.9.)"""
    return (major, minor) <= CONDA


def test_doctor_fix_snapshots_from_conda_26_1(cli, conda_cli, make_env, monkeypatch, tmp_path):
    from conda.plugins.types import CondaHealthCheck

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)  # conda's check would go online
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    assert compat.health_check_fixers_supported() is since(26, 1)
    assert ("fixer" in CondaHealthCheck.__dataclass_fields__) is since(26, 1)
    prefix = make_env("doc", "gamma")

    if not since(26, 1):  # no fixer: the check alone, as before
        out, _ = cli("doctor", "-n", "doc")
        assert "envguard has no snapshot of this environment" in out
        return
    out, _ = cli("doctor", "--list")
    assert "envguard snapshots: Snapshot this environment (fix: Take a snapshot)" in out
    out, _ = cli("doctor", "-n", "doc", "envguard snapshots", "--fix", "-y")
    assert "Saved snapshot" in out
    [snap] = [s for s in listed_snapshots(conda_cli) if s["prefix"] == str(prefix)]
    assert snap["trigger"] == "doctor"


def test_env_create_arrives_as_create_from_conda_26_7(
    cli, conda_cli, make_env, channel, monkeypatch, tmp_path
):
    """Before 26.7 `conda env create` reaches the plugin as `env_create` (and replaces an env
    only with --yes); from 26.7 as `create`. Either way the snapshot's trigger is `create`."""
    seen: list[str] = []
    original = compat.command_as_newest_conda_names_it

    def spy(command: str) -> str:
        seen.append(command)
        return original(command)

    monkeypatch.setattr(compat, "command_as_newest_conda_names_it", spy)
    prefix = make_env("work", "alpha", "gamma")
    env_file = tmp_path / "work.yml"
    env_file.write_text(
        f"name: work\nchannels:\n  - {channel.url}\ndependencies:\n  - beta\n", encoding="utf-8"
    )

    cli("env", "create", "-f", str(env_file), "--yes")

    assert seen == ["create" if since(26, 7) else "env_create"]
    [snap] = [s for s in listed_snapshots(conda_cli) if s["prefix"] == str(prefix)]
    assert snap["trigger"] == "create"
    assert env_packages(prefix) == {"alpha": "2.0", "beta": "1.0"}  # replaced, not changed
    # the branch for the older name: only --yes makes it a replacement
    assert compat.env_create_replaces_existing("env_create", Namespace(yes=True))
    assert not compat.env_create_replaces_existing("env_create", Namespace(yes=False))
    assert compat.env_create_replaces_existing("create", Namespace(yes=False))


def test_env_file_name_and_prefix_are_read_as_conda_reads_them(tmp_path):
    import conda.cli.common

    has_reader = hasattr(conda.cli.common, "get_name_prefix_from_env_file")
    assert has_reader is since(26, 3)
    named = tmp_path / "named.yml"
    named.write_text("name: proj\ndependencies:\n  - alpha\n", encoding="utf-8")
    placed = tmp_path / "placed.yml"
    placed.write_text(f"prefix: {tmp_path / 'p'}\ndependencies: []\n", encoding="utf-8")

    assert compat.name_prefix_from_env_file(str(named)) == ("proj", None)
    assert compat.name_prefix_from_env_file(str(placed)) == (None, str(tmp_path / "p"))


def test_an_env_restored_from_the_lock_records_its_creation_from_conda_25_11(
    cli, make_env, conda_run
):
    from conda.core.prefix_data import PrefixData

    assert hasattr(PrefixData, "set_creation_time") is since(25, 11)
    prefix = make_env("born", "alpha", "gamma")
    # as conda before 25.11 makes an env: the snapshot has no creation time to put back
    (prefix / "conda-meta" / "created_at").unlink(missing_ok=True)
    take_snapshot(cli, "-n", "born")
    ok(conda_run("env", "remove", "-n", "born", "-y"))
    ok(conda_run("envguard", "purge", "born", "-y"))

    restored = ok(conda_run("envguard", "restore", "born", "-y"))

    assert "(explicit)" in restored.stdout + restored.stderr  # from the lock, by the linker
    assert env_packages(prefix) == {"alpha": "2.0", "gamma": "1.0"}
    if since(25, 11):
        from conda.base.constants import PREFIX_CREATION_TIMESTAMP_FILE

        assert (prefix / PREFIX_CREATION_TIMESTAMP_FILE).is_file()
    else:  # nothing to write it with: conda's own create records none either
        assert not (prefix / "conda-meta" / "created_at").exists()


def test_the_default_activation_env_is_known_from_conda_25_9(monkeypatch, make_env):
    from conda.base.context import context, reset_context

    prefix = make_env("act", "gamma")
    monkeypatch.setenv("CONDA_DEFAULT_ACTIVATION_ENV", str(prefix))
    reset_context()

    found = compat.default_activation_prefix()

    if since(25, 9):
        assert str(found) == str(prefix)
    else:  # 25.7 has no such setting: conda removes that env like any other
        assert found is None
        assert not hasattr(type(context), "default_activation_prefix")


def test_the_private_conda_attributes_envguard_reads_are_there(
    conda_cli, make_env, monkeypatch, tmp_path
):
    """conda shows a plugin no public way to a command's arguments, its configuration by file,
    or an added package cache; compat.py reads each from a private attribute, the same from
    25.7 to main. On this line each holds what envguard expects."""
    from conda.base.context import context, reset_context
    from conda.exceptions import DryRunExit

    from conda_envguard import sources

    # the configuration as each place spelled it: a file, then the variables
    condarc = Path(os.environ["HOME"]) / ".condarc"
    condarc.write_text("plugins:\n  envguard_protect:\n    - 'keep-*'\n", encoding="utf-8")
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_PROTECT", "lab-*")
    reset_context()
    assert (str(condarc), ["keep-*"]) in sources.values_by_source("envguard_protect")
    assert ("envvars", "lab-*") in sources.values_by_source("envguard_protect")

    # the arguments of the guarded command running now
    seen = []
    real = compat.command_arguments
    monkeypatch.setattr(compat, "command_arguments", lambda: seen.append(real()) or seen[-1])
    make_env("spied", "gamma")
    with pytest.raises(DryRunExit):
        conda_cli("remove", "-n", "spied", "--all", "--dry-run")
    assert seen and seen[0].name == "spied" and seen[0].all is True

    # a second package cache, in this process only
    extra = str(tmp_path / "kept")
    with compat.extra_package_cache(extra):
        assert context.pkgs_dirs[-1] == extra
    assert extra not in context.pkgs_dirs


def test_the_archives_conda_clean_counts_change_at_conda_26_1(conda_run, conda_dirs):
    names = ["a-1-0.tar.bz2", "b-1-0.conda", "c-1-0.conda.part", "d-1-0.conda.partial", "urls.txt"]
    conda_dirs.pkgs.mkdir(parents=True, exist_ok=True)
    for name in names:
        (conda_dirs.pkgs / name).write_bytes(b"x")

    counted = {name for name in names if compat.cleaned_as_archive(name)}

    # conda's own list is the witness
    clean = json.loads(ok(conda_run("clean", "--tarballs", "--dry-run", "--json")).stdout)
    assert counted == set(clean["tarballs"]["pkg_sizes"][str(conda_dirs.pkgs)])
    if since(26, 1):  # a download's `.partial`, and what the package extractors read
        assert counted == {"a-1-0.tar.bz2", "b-1-0.conda", "d-1-0.conda.partial"}
    else:  # the fixed extensions and their `.part`
        assert counted == {"a-1-0.tar.bz2", "b-1-0.conda", "c-1-0.conda.part"}
