"""The guard: protected envs survive every destructive conda command; others are snapshotted.

Everything runs through real conda: in-process (`conda_cli`) where only the error matters,
as `python -m conda` children (`conda_run`) where the user's view matters (exit code, stderr,
JSON on stdout) or conda reads stdin. "Blocked" is checked on disk: the env's tree is
byte-for-byte and stat-for-stat what it was, and the store holds no snapshot nor trash entry.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from envguard_testsupport.checks import (
    TRASH_DIRNAME,
    conda_records,
    listed_snapshots,
    snapshot_entries,
    tree_state,
)

from conda_envguard.exceptions import ProtectedEnvironmentError

REASON = "paper results"


# --- what a user can see on disk ------------------------------------------------------------


def content_state(prefix: Path) -> dict[str, tuple]:
    """Paths and file contents only: what must survive a move into the trash."""
    return {
        rel: (entry[0], entry[-1]) if entry[0] == "file" else (entry[0],)
        for rel, entry in tree_state(prefix, with_root=False).items()
    }


def trash_records(store: Path) -> list[dict]:
    records = store / "trash"
    if not records.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(records.glob("*.json"))]


def trash_dirs(envs: Path) -> list[Path]:
    trash = envs / TRASH_DIRNAME
    return sorted(trash.iterdir()) if trash.is_dir() else []


def conda_packages(conda_cli, prefix: Path) -> set[str]:
    return {
        f"{r['name']}={r['version']}={r['build_string']}" for r in conda_records(conda_cli, prefix)
    }


def assert_untouched(prefix: Path, before: dict, dirs) -> None:
    assert prefix.is_dir(), f"{prefix} is gone"
    assert tree_state(prefix) == before, "the protected env's files changed"
    assert snapshot_entries(dirs.store) == [], "a blocked command took a snapshot"
    assert trash_records(dirs.store) == [], "a blocked command left a trash record"
    assert trash_dirs(dirs.envs) == [], "a blocked command moved something into the trash"


def write_env_file(
    path: Path,
    channel_url: str,
    *,
    name: str | None = None,
    prefix: Path | None = None,
    packages: tuple[str, ...] = ("gamma",),
) -> Path:
    lines = []
    if name:
        lines.append(f"name: {name}")
    if prefix:
        lines.append(f"prefix: {prefix}")
    lines += ["channels:", f"  - {channel_url}", "dependencies:"]
    lines += [f"  - {p}" for p in packages]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the commands that destroy an env ---------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    """What a destructive command needs to name its target."""

    style: str  # "name" or "prefix"
    name: str
    prefix: Path
    other: Path  # an unrelated env, e.g. the source of a rename onto the target
    channel_args: tuple[str, ...]
    channel_url: str
    tmp: Path

    @property
    def target(self) -> tuple[str, str]:
        return ("-n", self.name) if self.style == "name" else ("-p", str(self.prefix))

    @property
    def other_target(self) -> tuple[str, str]:
        return ("-n", self.other.name) if self.style == "name" else ("-p", str(self.other))

    @property
    def as_destination(self) -> str:
        return self.name if self.style == "name" else str(self.prefix)


def _env_file_args(c: Ctx) -> list[str]:
    # the env is named by the file only: `name:` or `prefix:` in it
    if c.style == "name":
        env_file = write_env_file(c.tmp / "by-name.yml", c.channel_url, name=c.name)
    else:
        env_file = write_env_file(c.tmp / "by-prefix.yml", c.channel_url, prefix=c.prefix)
    # --yes: conda before 26.7 replaces an existing env only when told to (26.7+ by default)
    return ["env", "create", "-f", str(env_file), "--yes"]


# id -> (argv builder, the action envguard names)
DESTRUCTIVE: dict[str, tuple[Callable[[Ctx], list[str]], str]] = {
    "remove-all": (lambda c: ["remove", "--all", *c.target, "-y"], "remove"),
    "remove-all-keep-env": (
        lambda c: ["remove", "--all", "--keep-env", *c.target, "-y"],
        "remove",
    ),
    "env-remove": (lambda c: ["env", "remove", *c.target, "-y"], "remove"),
    "create-yes": (lambda c: ["create", *c.target, *c.channel_args, "gamma", "-y"], "overwrite"),
    "create-no-yes": (lambda c: ["create", *c.target, *c.channel_args, "gamma"], "overwrite"),
    "env-create-file": (_env_file_args, "overwrite"),
    "rename-protected": (lambda c: ["rename", *c.target, "renamed-env"], "rename"),
    "rename-onto-protected": (
        lambda c: [
            "rename",
            *c.other_target,
            c.as_destination,
            "--yes" if c.style == "name" else "-y",
        ],
        "overwrite",
    ),
}


@pytest.fixture
def protected(make_env, conda_cli) -> Path:
    """An env with alpha and gamma, protected with `conda envguard protect --reason`."""
    prefix = make_env("keep", "alpha", "gamma")
    _, err, code = conda_cli("envguard", "protect", "-n", "keep", "--reason", REASON)
    assert code == 0, err
    assert (prefix / "conda-meta" / "envguard-protected").is_file()
    return prefix


@pytest.fixture
def other(make_env) -> Path:
    return make_env("other", "beta")


def _ctx(style, prefix, other, channel, tmp_path) -> Ctx:
    return Ctx(style, prefix.name, prefix, other, channel.args, channel.url, tmp_path)


@pytest.mark.parametrize("style", ["name", "prefix"])
@pytest.mark.parametrize("command", list(DESTRUCTIVE))
def test_protected_env_is_never_destroyed(
    command, style, protected, other, channel, conda_cli, conda_dirs, tmp_path
):
    build, action = DESTRUCTIVE[command]
    argv = build(_ctx(style, protected, other, channel, tmp_path))
    before = tree_state(protected)
    other_before = tree_state(other)

    _out, _err, excinfo = conda_cli(*argv, raises=ProtectedEnvironmentError)

    message = str(excinfo.value)
    assert f"it would {action} the protected environment 'keep' ({protected})" in message
    assert "'conda envguard protect' by " in message and f"({REASON})" in message
    assert str(protected / "conda-meta" / "envguard-protected") in message
    assert "Nothing was changed." in message
    assert "conda envguard unprotect -n keep, then run your command again" in message
    assert_untouched(protected, before, conda_dirs)
    assert tree_state(other) == other_before
    assert not (conda_dirs.envs / "renamed-env").exists()


@pytest.mark.parametrize("command", list(DESTRUCTIVE))
def test_json_is_no_way_around_protection(
    command, protected, other, channel, conda_run, conda_dirs, tmp_path
):
    argv = DESTRUCTIVE[command][0](_ctx("name", protected, other, channel, tmp_path))
    before = tree_state(protected)

    result = conda_run(*argv, "--json")

    assert result.returncode != 0
    error = json.loads(result.stdout)
    assert error["exception_name"] == "ProtectedEnvironmentError"
    assert error["env_name"] == "keep" and error["prefix"] == str(protected)
    assert REASON in error["rule"]
    assert "conda envguard unprotect -n keep" in error["message"]
    assert_untouched(protected, before, conda_dirs)


def test_blocked_before_any_question(protected, channel_args, conda_run, conda_dirs):
    """A user who would answer yes to every question still cannot remove it."""
    before = tree_state(protected)

    removed = conda_run("remove", "--all", "-n", "keep", input="y\ny\n")
    recreated = conda_run("create", "-n", "keep", *channel_args, "gamma", input="y\ny\n")

    for result in (removed, recreated):
        assert result.returncode == 1, result.stderr
        assert "Proceed" not in result.stdout and "Remove existing" not in result.stdout
        assert "ProtectedEnvironmentError: envguard stopped this command" in result.stderr
        assert "Traceback" not in result.stderr
    assert "it would remove the protected environment 'keep'" in removed.stderr
    assert "it would overwrite the protected environment 'keep'" in recreated.stderr
    assert_untouched(protected, before, conda_dirs)


def test_env_create_reads_the_default_environment_yml(protected, channel, conda_run, conda_dirs):
    """`conda env create` without -f takes ./environment.yml: the name in it is the target."""
    workdir = protected.parent.parent / "project"
    workdir.mkdir()
    write_env_file(workdir / "environment.yml", channel.url, name="keep")
    before = tree_state(protected)

    result = conda_run("env", "create", "--yes", cwd=workdir)

    assert result.returncode == 1
    assert "it would overwrite the protected environment 'keep'" in result.stderr
    assert_untouched(protected, before, conda_dirs)


# --- each source of protection ----------------------------------------------------------------


def test_protect_marker_and_unprotect(make_env, conda_run, conda_dirs):
    prefix = make_env("paper", "alpha")
    conda_run("envguard", "protect", "-n", "paper", "--reason", "camera-ready", check=True)
    before = tree_state(prefix)

    blocked = conda_run("env", "remove", "-n", "paper", "-y")

    assert blocked.returncode == 1
    assert "it would remove the protected environment 'paper'" in blocked.stderr
    assert "(camera-ready)" in blocked.stderr
    assert "To remove it on purpose: conda envguard unprotect -n paper" in blocked.stderr
    assert_untouched(prefix, before, conda_dirs)

    unprotected = conda_run("envguard", "unprotect", "-n", "paper", check=True)
    assert "Unprotected 'paper'" in unprotected.stdout
    assert not (prefix / "conda-meta" / "envguard-protected").exists()
    conda_run("env", "remove", "-n", "paper", "-y", check=True)
    assert not prefix.exists()


def test_protect_by_prefix_outside_the_envs_dirs(make_env, conda_run, conda_dirs):
    prefix = conda_dirs.root / "elsewhere" / "project-env"
    prefix.parent.mkdir()
    shutil.move(make_env("tmp-made", "gamma"), prefix)
    conda_run("envguard", "protect", "-p", prefix, check=True)
    before = tree_state(prefix)

    blocked = conda_run("remove", "--all", "-p", prefix, "-y")

    assert blocked.returncode == 1
    assert f"the protected environment '{prefix}' ({prefix})" in blocked.stderr
    assert f"conda envguard unprotect -p {prefix}, then run" in blocked.stderr
    assert tree_state(prefix) == before
    assert snapshot_entries(conda_dirs.store) == []

    conda_run("envguard", "unprotect", "-p", prefix, check=True)
    conda_run("remove", "--all", "-p", prefix, "-y", check=True)
    assert not prefix.exists()


def test_frozen_marker_and_override_frozen(make_env, conda_run, conda_dirs, channel_args):
    prefix = make_env("frozen", "alpha", "gamma")
    frozen = prefix / "conda-meta" / "frozen"
    frozen.write_text(json.dumps({"message": "frozen by the admins"}))
    before = tree_state(prefix)

    for argv in (
        ("remove", "--all", "-n", "frozen", "-y"),
        ("env", "remove", "-p", prefix, "-y"),
        ("create", "-n", "frozen", *channel_args, "beta", "-y"),  # conda ignores frozen here
        ("rename", "-n", "frozen", "thawed"),
    ):
        blocked = conda_run(*argv)
        assert blocked.returncode == 1, argv
        assert "the protected environment 'frozen'" in blocked.stderr, argv
        assert f"conda's frozen marker (CEP 22) at {frozen}" in blocked.stderr, argv
        assert "--override-frozen" in blocked.stderr, argv
    assert_untouched(prefix, before, conda_dirs)

    result = conda_run("remove", "--all", "-n", "frozen", "-y", "--override-frozen")

    assert result.returncode == 0, result.stderr
    assert not prefix.exists()
    # let through on purpose, but not unguarded: snapshotted and in the trash
    [snap] = snapshot_entries(conda_dirs.store)
    assert json.loads((snap / "snapshot.json").read_text())["env_name"] == "frozen"
    assert [r["env_name"] for r in trash_records(conda_dirs.store)] == ["frozen"]


@pytest.fixture
def fake_base(make_env, conda_dirs, conda_run, monkeypatch) -> Path:
    """A throw-away env that conda takes for base (CONDA_ROOT_PREFIX): never the real one."""
    prefix = conda_dirs.root / "fake-base"
    shutil.move(make_env("will-be-base", "gamma"), prefix)
    monkeypatch.setenv("CONDA_ROOT_PREFIX", str(prefix))
    info = json.loads(conda_run("info", "--json", check=True).stdout)
    # safety first: every command below targets base
    assert info["root_prefix"] == str(prefix), "CONDA_ROOT_PREFIX was not honoured"
    return prefix


def test_base_is_always_protected(fake_base, other, channel, conda_run, conda_dirs, tmp_path):
    before = tree_state(fake_base)
    env_file = write_env_file(tmp_path / "base.yml", channel.url, name="base")

    for argv in (
        ("create", "-n", "base", *channel.args, "alpha", "-y"),
        ("create", "-p", fake_base, *channel.args, "alpha", "-y"),
        ("env", "create", "-f", env_file, "--yes"),
        ("rename", "-n", "base", "not-base"),
        ("rename", "-n", "other", "base", "--yes"),
    ):
        blocked = conda_run(*argv)
        assert blocked.returncode == 1, argv
        assert f"the protected environment 'base' ({fake_base})" in blocked.stderr, argv
        assert "Protected by: base is always protected" in blocked.stderr, argv
    # removal of base: conda refuses by itself, and envguard must not get in its way
    for argv in (
        ("remove", "--all", "-n", "base", "-y"),
        ("env", "remove", "-p", fake_base, "-y"),
    ):
        refused = conda_run(*argv)
        assert refused.returncode == 1, argv
        assert "Traceback" not in refused.stderr
    assert_untouched(fake_base, before, conda_dirs)
    assert (conda_dirs.envs / "other").is_dir()


def test_pattern_in_user_condarc(make_env, conda_run, conda_dirs):
    prefix = make_env("db-prod", "alpha")
    conda_dirs.condarc.write_text('plugins:\n  envguard_protect:\n    - "*-prod"\n')
    before = tree_state(prefix)

    blocked = conda_run("env", "remove", "-n", "db-prod", "-y")

    assert blocked.returncode == 1
    assert "it would remove the protected environment 'db-prod'" in blocked.stderr
    assert (
        f"Protected by: pattern '*-prod' in envguard_protect, set in {conda_dirs.condarc}"
        in blocked.stderr
    )
    fix = f"conda config --file {conda_dirs.condarc} --remove plugins.envguard_protect '*-prod'"
    assert f"To remove it on purpose: {fix}" in blocked.stderr
    assert_untouched(prefix, before, conda_dirs)

    # the way forward works as printed
    argv = shlex.split(fix)
    assert argv[0] == "conda"
    conda_run(*argv[1:], check=True)
    conda_run("env", "remove", "-n", "db-prod", "-y", check=True)
    assert not prefix.exists()


def test_pattern_in_system_condarc_owned_by_someone_else(make_env, conda_run, conda_dirs):
    if os.geteuid() != 0:
        pytest.skip("needs root to give the policy file to another user (chown nobody)")
    import pwd

    nobody = pwd.getpwnam("nobody")
    prefix = make_env("shared-data", "alpha")
    policy = conda_dirs.root / "etc-conda" / ".condarc"
    policy.parent.mkdir()
    policy.write_text('plugins:\n  envguard_protect:\n    - "shared-*"\n')
    os.chown(policy, nobody.pw_uid, nobody.pw_gid)
    os.chmod(policy, 0o644)
    before = tree_state(prefix)

    blocked = conda_run("remove", "--all", "-p", prefix, "-y", env={"CONDARC": str(policy)})

    assert blocked.returncode == 1
    assert "it would remove the protected environment 'shared-data'" in blocked.stderr
    assert f"pattern 'shared-*' in envguard_protect, set in {policy}" in blocked.stderr
    assert "nobody" in blocked.stderr.split("To remove it on purpose:")[1]
    # not the user's file: no `conda config --file` edit of someone else's policy
    assert "conda config --file" not in blocked.stderr
    assert_untouched(prefix, before, conda_dirs)


def test_pattern_in_variable(make_env, conda_run, conda_dirs):
    prefix = make_env("ml-prod", "alpha")
    before = tree_state(prefix)
    variable = {"CONDA_PLUGINS_ENVGUARD_PROTECT": "paper-*,*-prod"}

    blocked = conda_run("env", "remove", "-n", "ml-prod", "-y", env=variable)

    assert blocked.returncode == 1
    assert (
        "pattern '*-prod' in envguard_protect, set in the variable "
        "CONDA_PLUGINS_ENVGUARD_PROTECT" in blocked.stderr
    )
    assert "unset CONDA_PLUGINS_ENVGUARD_PROTECT" in blocked.stderr
    assert_untouched(prefix, before, conda_dirs)

    conda_run("env", "remove", "-n", "ml-prod", "-y", check=True)  # without the variable
    assert not prefix.exists()


def test_every_pattern_that_protects_is_named_with_its_way_out(
    make_env, conda_cli, conda_dirs, monkeypatch
):
    """Two patterns match, one in .condarc and one in the variable: dropping only the one
    named would leave the env protected, so both are named, each with its own way out."""
    prefix = make_env("ml-prod", "alpha")
    conda_dirs.condarc.write_text('plugins:\n  envguard_protect:\n    - "ml-*"\n')
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_PROTECT", "*-prod")
    before = tree_state(prefix)

    _out, _err, excinfo = conda_cli(
        "remove", "-n", "ml-prod", "--all", "-y", raises=ProtectedEnvironmentError
    )

    message = str(excinfo.value)
    assert "pattern '*-prod' in envguard_protect, set in the variable" in message
    assert f"pattern 'ml-*' in envguard_protect, set in {conda_dirs.condarc}" in message
    way_out = message.split("To remove it on purpose:", 1)[1]
    assert "unset CONDA_PLUGINS_ENVGUARD_PROTECT" in way_out
    assert "--remove plugins.envguard_protect 'ml-*'" in way_out
    assert_untouched(prefix, before, conda_dirs)


@pytest.mark.parametrize("how", ["--append", "--add"])
def test_pattern_set_with_conda_config(how, make_env, conda_run, conda_dirs):
    prefix = make_env("team-prod", "alpha")
    conda_run("config", how, "plugins.envguard_protect", "team-*", check=True)
    before = tree_state(prefix)

    blocked = conda_run("rename", "-n", "team-prod", "team-old")

    assert blocked.returncode == 1
    assert "it would rename the protected environment 'team-prod'" in blocked.stderr
    assert f"pattern 'team-*' in envguard_protect, set in {conda_dirs.condarc}" in blocked.stderr
    assert_untouched(prefix, before, conda_dirs)
    assert not (conda_dirs.envs / "team-old").exists()


@pytest.mark.parametrize("style", ["name", "prefix"])
def test_pattern_with_a_separator_matches_full_prefixes(style, make_env, conda_run, conda_dirs):
    prefix = make_env("team-a", "alpha")
    free = make_env("team-b", "alpha")
    pattern = f"{conda_dirs.envs}/team-a*"
    target = ("-n", "team-a") if style == "name" else ("-p", str(prefix))
    before = tree_state(prefix)

    blocked = conda_run(
        "env", "remove", *target, "-y", env={"CONDA_PLUGINS_ENVGUARD_PROTECT": pattern}
    )

    assert blocked.returncode == 1
    assert f"pattern '{pattern}' in envguard_protect" in blocked.stderr
    assert_untouched(prefix, before, conda_dirs)
    # the same name elsewhere, or another env here, is not protected by it
    elsewhere = {"CONDA_PLUGINS_ENVGUARD_PROTECT": f"{conda_dirs.root}/other-dir/team-*"}
    conda_run("env", "remove", "-n", "team-a", "-y", env=elsewhere, check=True)
    conda_run("env", "remove", "-p", free, "-y", env={"CONDA_PLUGINS_ENVGUARD_PROTECT": pattern},
              check=True)  # fmt: skip
    assert not prefix.exists() and not free.exists()


def test_prefix_pattern_holds_through_a_symlinked_path(make_env, conda_run, conda_dirs):
    """The same env reached through a symlinked directory is the same protected env."""
    prefix = make_env("team-sym", "alpha")
    link = conda_dirs.root / "envs-link"
    link.symlink_to(conda_dirs.envs, target_is_directory=True)
    before = tree_state(prefix)

    blocked = conda_run(
        "env", "remove", "-p", link / "team-sym", "-y",
        env={"CONDA_PLUGINS_ENVGUARD_PROTECT": f"{conda_dirs.envs}/team-*"},
    )  # fmt: skip

    assert blocked.returncode == 1, blocked.stderr
    assert "the protected environment" in blocked.stderr
    assert tree_state(prefix) == before


# --- unprotected envs: snapshot, then conda does what it does, then the trash -------------------


def _assert_snapshotted_and_trashed(conda_cli, conda_dirs, name, prefix, trigger, before):
    snaps = [s for s in listed_snapshots(conda_cli) if s["prefix"] == str(prefix)]
    assert len(snaps) == 1, snaps
    assert snaps[0]["env_name"] == name and snaps[0]["trigger"] == trigger
    [record] = [r for r in trash_records(conda_dirs.store) if r["prefix"] == str(prefix)]
    assert record["state"] == "trashed" and record["snapshot_id"] == snaps[0]["id"]
    held = Path(record["location"]) / "env"
    assert held.parent.parent == conda_dirs.envs / TRASH_DIRNAME
    assert content_state(held) == before, "the trash does not hold the env as it was"


@pytest.mark.parametrize("command", ["remove-all", "env-remove"])
def test_unprotected_remove(command, make_env, conda_run, conda_cli, conda_dirs):
    prefix = make_env("scratch", "alpha", "gamma")
    before = content_state(prefix)
    argv = (
        ("remove", "--all", "-n", "scratch", "-y")
        if command == "remove-all"
        else ("env", "remove", "-p", prefix, "-y")
    )

    result = conda_run(*argv)

    assert result.returncode == 0, result.stderr
    assert not prefix.exists()
    assert "envguard: saved snapshot" in result.stderr
    assert "conda envguard undo scratch" in result.stderr
    _assert_snapshotted_and_trashed(conda_cli, conda_dirs, "scratch", prefix, "remove", before)


def test_unprotected_remove_keep_env(make_env, conda_run, conda_cli, conda_dirs):
    """`--keep-env` empties the env in place: snapshotted first, nothing to trash."""
    prefix = make_env("emptied", "alpha", "gamma")

    result = conda_run("remove", "--all", "--keep-env", "-n", "emptied", "-y")

    assert result.returncode == 0, result.stderr
    assert (prefix / "conda-meta" / "history").is_file()
    assert conda_packages(conda_cli, prefix) == set()
    [snap] = [s for s in listed_snapshots(conda_cli) if s["prefix"] == str(prefix)]
    assert snap["trigger"] == "remove" and snap["counts"]["conda"] == 2
    assert trash_records(conda_dirs.store) == [] and trash_dirs(conda_dirs.envs) == []


def test_unprotected_remove_json_output_stays_json(make_env, conda_run, conda_cli, conda_dirs):
    prefix = make_env("scratch", "alpha")
    before = content_state(prefix)

    result = conda_run("env", "remove", "-n", "scratch", "-y", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["success"] is True
    assert not prefix.exists()
    _assert_snapshotted_and_trashed(conda_cli, conda_dirs, "scratch", prefix, "remove", before)


@pytest.mark.parametrize("how", ["create-yes", "create-answered-yes", "env-create-file"])
def test_unprotected_overwrite(how, make_env, channel, conda_run, conda_cli, conda_dirs, tmp_path):
    prefix = make_env("work", "alpha", "gamma")
    before = content_state(prefix)
    if how == "create-yes":
        result = conda_run("create", "-n", "work", *channel.args, "beta", "-y")
    elif how == "create-answered-yes":
        # "Remove existing environment?" then "Proceed?"
        result = conda_run("create", "-p", prefix, *channel.args, "beta", input="y\ny\n")
    else:
        env_file = write_env_file(
            tmp_path / "env.yml", channel.url, name="work", packages=("beta",)
        )
        result = conda_run("env", "create", "-f", env_file, "--yes")

    assert result.returncode == 0, result.stdout + result.stderr
    # replaced as conda intends: beta (and its dependency alpha), no gamma
    assert conda_packages(conda_cli, prefix) == {"alpha=2.0=0", "beta=1.0=0"}
    assert not (prefix / "share" / "gamma").exists()
    _assert_snapshotted_and_trashed(conda_cli, conda_dirs, "work", prefix, "create", before)


def test_env_create_without_yes_does_what_conda_does_and_keeps_the_old_state(
    make_env, channel, conda_run, conda_cli, conda_dirs, tmp_path
):
    """`conda env create -f` onto an existing env, no --yes: conda 26.7+ replaces the env,
    older conda installs the file's packages into it. envguard must not change which, and
    the env as it was must stay restorable either way (trash, or a history snapshot)."""
    plain = make_env("plain", "alpha", "gamma")
    guarded = make_env("work", "alpha", "gamma")
    before = content_state(guarded)
    for name in ("plain", "work"):
        env_file = write_env_file(tmp_path / f"{name}.yml", channel.url, name=name,
                                  packages=("beta",))  # fmt: skip
        no_plugins = ("--no-plugins",) if name == "plain" else ()
        ok_result = conda_run(*no_plugins, "env", "create", "-f", env_file)
        assert ok_result.returncode == 0, ok_result.stdout + ok_result.stderr

    # envguard changed nothing about what conda did
    assert conda_packages(conda_cli, guarded) == conda_packages(conda_cli, plain)
    assert content_state(guarded).keys() - {"conda-meta/history"} == (
        content_state(plain).keys() - {"conda-meta/history"}
    )
    # and the env as it was is one command away
    [snap] = [s for s in listed_snapshots(conda_cli) if s["prefix"] == str(guarded)]
    assert snap["counts"]["conda"] == 2
    if (guarded / "share" / "gamma").exists():  # conda installed into the env
        assert trash_records(conda_dirs.store) == []
    else:  # conda replaced it: the old env waits in the trash
        restored = conda_run("envguard", "undo", "work", "--force", "-y")
        assert restored.returncode == 0, restored.stderr
        assert content_state(guarded) == before


def test_unprotected_overwrite_answered_no_changes_nothing(
    make_env, channel, conda_run, conda_dirs
):
    prefix = make_env("work", "alpha", "gamma")
    before = tree_state(prefix, with_root=False)

    result = conda_run("create", "-n", "work", *channel.args, "beta", input="n\n")

    assert "Remove existing environment" in result.stdout + result.stderr
    assert tree_state(prefix, with_root=False) == before
    assert trash_records(conda_dirs.store) == [] and trash_dirs(conda_dirs.envs) == []


def test_unprotected_rename_onto_existing(make_env, conda_run, conda_cli, conda_dirs):
    source = make_env("source", "beta")
    dest = make_env("dest", "gamma")
    before = content_state(dest)

    result = conda_run("rename", "-n", "source", "dest", "--yes")

    assert result.returncode == 0, result.stderr
    assert not source.exists()
    assert conda_packages(conda_cli, dest) == {"alpha=2.0=0", "beta=1.0=0"}
    _assert_snapshotted_and_trashed(conda_cli, conda_dirs, "dest", dest, "rename", before)


def test_unprotected_rename(make_env, conda_run, conda_cli, conda_dirs, channel_args):
    prefix = make_env("old-name", "alpha", "gamma")

    result = conda_run("rename", "-n", "old-name", "new-name")

    assert result.returncode == 0, result.stderr
    assert not prefix.exists()
    assert conda_packages(conda_cli, conda_dirs.envs / "new-name") == {
        "alpha=2.0=0",
        "gamma=1.0=0",
    }
    # taken before conda cloned and deleted it: a rename that fails half-way is undoable
    [snap] = [s for s in listed_snapshots(conda_cli) if s["prefix"] == str(prefix)]
    assert (snap["env_name"], snap["trigger"]) == ("old-name", "rename")
    assert snap["counts"]["conda"] == 2
    assert trash_records(conda_dirs.store) == []
    # the old name is not reported as deleted behind conda's back, even once the env changed
    conda_run("install", "-n", "new-name", "-y", *channel_args, "beta", check=True)
    status = conda_run("envguard", "status", "--json", check=True)
    assert json.loads(status.stdout)["lost"] == []


def _conda_error(result: subprocess.CompletedProcess) -> str:
    """The error of a failed conda run, without conda's page of system details."""
    try:
        return json.loads(result.stdout)["error"]
    except (ValueError, KeyError):
        lines = [line for line in result.stderr.splitlines() if "Error" in line]
        return "\n".join(lines[-3:]) or result.stderr[-1000:]


def test_removed_env_is_listed_in_the_trash(make_env, conda_run, conda_dirs):
    prefix = make_env("scratch", "gamma")
    conda_run("env", "remove", "-n", "scratch", "-y", check=True)

    listed = conda_run("envguard", "trash", "--json")
    text = conda_run("envguard", "trash")

    assert listed.returncode == 0, _conda_error(listed)
    [entry] = json.loads(listed.stdout)["entries"]
    assert entry["env_name"] == "scratch" and entry["prefix"] == str(prefix)
    assert text.returncode == 0, _conda_error(text)
    assert "scratch" in text.stdout


# --- what envguard leaves alone ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("env", "list"),
        ("env", "list", "--json"),
        ("list", "-n", "plain"),
        ("info",),
        ("info", "--json"),
    ],
    ids=" ".join,
)
def test_unguarded_commands_are_untouched(argv, make_env, conda_run, conda_dirs):
    make_env("plain", "alpha", "gamma")

    with_plugins = conda_run(*argv)
    without = conda_run("--no-plugins", *argv)

    assert with_plugins.returncode == without.returncode == 0, with_plugins.stderr
    if "--json" in argv:
        # same data; `conda info --json` prints its env_vars in no fixed order
        assert json.loads(with_plugins.stdout) == json.loads(without.stdout)
    else:
        assert with_plugins.stdout == without.stdout
    assert with_plugins.stderr == without.stderr
    assert not conda_dirs.store.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ("env", "remove", "-n", "nope", "-y"),
        ("remove", "--all", "-n", "nope", "-y"),
        ("rename", "-n", "nope", "still-nope"),
        ("env", "remove", "-p", "{root}/nope", "-y", "--json"),
    ],
    ids=" ".join,
)
def test_missing_env_gets_condas_own_error(argv, conda_run, conda_dirs):
    argv = [a.format(root=conda_dirs.root) for a in argv]

    result = conda_run(*argv)

    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "EnvironmentLocationNotFound" in output
    assert "envguard" not in output.lower()
    assert not conda_dirs.store.exists()


def test_plugin_module_imports_nothing_heavy():
    code = (
        "import sys, json\n"
        "import conda.plugins, conda.plugins.types\n"
        "before = set(sys.modules)\n"
        "import conda_envguard.plugin\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout) == ["conda_envguard", "conda_envguard.plugin"]


def test_unguarded_command_loads_no_envguard_code(make_env):
    """`conda list` runs envguard's hooks' registration only: none of its working modules."""
    prefix = make_env("plain", "alpha")
    code = (
        "import sys, json\n"
        "from conda.cli.main import main_subshell\n"
        f"main_subshell('list', '-p', {str(prefix)!r}, '--json')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('conda_envguard'))),"
        " file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(result.stderr.strip().splitlines()[-1])
    assert loaded == ["conda_envguard", "conda_envguard.plugin"]
