"""A machine-wide policy: envguard_protect patterns in a system-wide `.condarc` protect envs for
every user, whatever the user's own `.condarc` does, and every refusal and `status` name the
file and its owner.

The machine-wide file is a real one conda reads for every user: in conda's root prefix
(`machine_condarc`), and once in /etc/conda itself (root only, removed within seconds: other
conda processes on the machine read that directory too). Each pattern holds a random part, so
no other env on the machine can match it while the file exists.
"""

from __future__ import annotations

import json
import os
import pwd
import uuid
from pathlib import Path

import pytest
from envguard_testsupport.checks import clean_error, ok, tree_state

pytestmark = pytest.mark.usefixtures("no_background_expiry")


@pytest.fixture
def team():
    """An env name only this test uses, and the admin's pattern for it."""
    tag = uuid.uuid4().hex[:8]
    return f"shared-{tag}-data", f"shared-{tag}-*"


def owner_of(path: Path) -> str:
    return pwd.getpwuid(os.stat(path).st_uid).pw_name


USER_FILES = {
    "empty list": "plugins:\n  envguard_protect: []\n",
    "final empty list": "plugins:\n  envguard_protect: [] #!final\n",
    "wrong type": "plugins:\n  envguard_protect: 5\n",
    "final plugins": "plugins: #!final\n  envguard_protect: []\n",
}


@pytest.mark.parametrize("user_file", USER_FILES)
def test_a_user_file_cannot_drop_the_admins_pattern(
    user_file, team, make_env, conda_run, conda_dirs, machine_condarc
):
    name, pattern = team
    prefix = make_env(name, "alpha")
    policy = machine_condarc(f'plugins:\n  envguard_protect:\n    - "{pattern}"\n')
    conda_dirs.condarc.write_text(USER_FILES[user_file])
    before = tree_state(prefix)

    blocked = conda_run("env", "remove", "-n", name, "-y")

    text = clean_error(blocked, f"it would remove the protected environment '{name}'")
    assert (
        f"pattern '{pattern}' in envguard_protect, set in {policy} "
        f"(a machine-wide policy file owned by {owner_of(policy)})" in text
    )
    assert tree_state(prefix) == before


def test_the_variable_cannot_drop_it_either(team, make_env, conda_run, machine_condarc):
    name, pattern = team
    prefix = make_env(name, "alpha")
    machine_condarc(f'plugins:\n  envguard_protect:\n    - "{pattern}"\n')

    blocked = conda_run(
        "remove", "--all", "-n", name, "-y", env={"CONDA_PLUGINS_ENVGUARD_PROTECT": ""}
    )

    clean_error(blocked, f"pattern '{pattern}' in envguard_protect")
    assert prefix.is_dir()


def test_the_admins_file_is_named_even_when_the_user_repeats_the_pattern(
    team, make_env, conda_run, conda_dirs, machine_condarc
):
    name, pattern = team
    make_env(name, "alpha")
    policy = machine_condarc(f'plugins:\n  envguard_protect:\n    - "{pattern}"\n')
    os.chown(policy, pwd.getpwnam("nobody").pw_uid, -1) if os.geteuid() == 0 else None
    conda_dirs.condarc.write_text(f'plugins:\n  envguard_protect:\n    - "{pattern}"\n')

    blocked = conda_run("rename", "-n", name, f"{name}-old")

    text = clean_error(blocked, f"set in {policy} (a machine-wide policy file owned by")
    way = text.split("To rename it on purpose:")[1]
    # both copies must go, the policy's first: removing the user's copy alone changes nothing
    assert f"in {conda_dirs.condarc}" in text.split("To rename it on purpose:")[0]
    assert way.index(str(policy)) < way.index(f"--file {conda_dirs.condarc}"), way
    assert "; and " in way
    if os.geteuid() == 0:
        assert "machine-wide policy set by nobody" in way or "owned by nobody" in way


def test_status_names_each_rule_its_file_and_owner(
    team, make_env, conda_run, conda_dirs, machine_condarc
):
    name, pattern = team
    make_env(name, "alpha")
    make_env("myenv", "alpha")
    policy = machine_condarc(
        f'plugins:\n  envguard_protect:\n    - "{pattern}"\n'
        "  envguard_name_pattern: '^[a-z0-9]+(-[a-z0-9.]+)+$'\n"
    )
    conda_dirs.condarc.write_text('plugins:\n  envguard_protect:\n    - "mine-*"\n')

    status = ok(conda_run("envguard", "status")).stdout

    where = f"{policy} (a machine-wide policy file owned by {owner_of(policy)})"
    assert f"envguard_protect '{pattern}': set in {where}" in status
    assert "envguard_name_pattern '^[a-z0-9]+(-[a-z0-9.]+)+$': set in " + where in status
    assert (
        f"envguard_protect 'mine-*': set in {conda_dirs.condarc} "
        f"(a file owned by {owner_of(conda_dirs.condarc)})" in status
    )
    assert "Names that break the naming rules:\n  myenv: 'myenv' is a generic name" in status
    assert "myenv: 'myenv' does not match envguard_name_pattern" in status
    rules = json.loads(ok(conda_run("envguard", "status", "--json")).stdout)["rules"]
    mine = [r for r in rules if r["value"] in (pattern, "mine-*")]
    assert [(r["value"], r["machine_wide"]) for r in mine] == [(pattern, True), ("mine-*", False)]


def test_a_policy_in_etc_conda(team, make_env, conda_run, conda_dirs):
    """The first file of conda's search path, as an admin writes it. Written and removed
    around a single command."""
    if os.name == "nt" or os.geteuid() != 0:
        pytest.skip("writing /etc/conda needs root (and a Unix machine)")
    name, pattern = team
    prefix = make_env(name, "alpha")
    conda_dirs.condarc.write_text("plugins:\n  envguard_protect: []\n")
    directory = Path("/etc/conda/condarc.d")
    made = [p for p in (directory.parent, directory) if not p.exists()]
    policy = directory / f"envguard-test-{uuid.uuid4().hex}.yml"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        policy.write_text(f'plugins:\n  envguard_protect:\n    - "{pattern}"\n')
        blocked = conda_run("env", "remove", "-n", name, "-y")
    finally:
        policy.unlink(missing_ok=True)
        for path in reversed(made):
            try:
                path.rmdir()
            except OSError:
                pass

    text = clean_error(blocked, f"it would remove the protected environment '{name}'")
    assert f"set in {policy} (a machine-wide policy file owned by root)" in text
    assert prefix.is_dir()
    assert not policy.exists()
