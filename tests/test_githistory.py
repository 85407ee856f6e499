"""Env history in git: snapshots committed to `envguard_git`, pushed by `sync` to a bare repo
standing for the team's server, and restored on a second machine with `restore --from-git`.

Real git, real conda in child processes; the second machine is a second conda root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from support.checks import clean_error, conda_list, ok

from conda_envguard.testing.channel import PLATFORM_SUBDIR

pytestmark = [
    pytest.mark.usefixtures("no_background_expiry"),
    pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command"),
]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def pinned(records: list[dict]) -> set[tuple[str, str, str]]:
    return {(r["name"], r["version"], r["build_string"]) for r in records}


def second_machine(root: Path) -> dict[str, str]:
    (root / "home").mkdir(parents=True)
    return {
        "HOME": str(root / "home"),
        "CONDA_PKGS_DIRS": str(root / "pkgs"),
        "CONDA_ENVS_DIRS": str(root / "envs"),
        "CONDA_PLUGINS_ENVGUARD_STORE": str(root / "store"),
    }


def commits(repo: Path) -> list[str]:
    """Subjects of the commits on HEAD, newest first."""
    return git(repo, "log", "--format=%s").splitlines()


@pytest.fixture
def server(tmp_path) -> Path:
    """A bare repository: the team's git server."""
    bare = tmp_path / "server.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    return bare


@pytest.fixture
def history(tmp_path, server, monkeypatch) -> Path:
    """The first machine's clone of the server, set as envguard_git."""
    repo = tmp_path / "history"
    subprocess.run(["git", "clone", "-q", str(server), str(repo)], check=True, capture_output=True)
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_GIT", str(repo))
    return repo


def test_snapshots_land_in_git_and_sync_pushes_them(history, server, conda_run, env_templates):
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "alpha=1.0"))
    installed = ok(conda_run("install", "-n", "E", "-y", *args, "gamma"))
    (snap,) = json.loads(ok(conda_run("envguard", "list", "-n", "E", "--json")).stdout)

    synced = json.loads(ok(conda_run("envguard", "sync", "--json")).stdout)

    assert synced["pushed"] is True and synced["remote"] == "origin"
    assert "Traceback" not in installed.stderr
    (subject,) = commits(server)
    assert subject == f"E: install ({snap['id']})"
    message = git(server, "log", "-1", "--format=%B")
    assert "Command: conda install -n E -y" in message and f"Snapshot: {snap['id']}" in message
    files = sorted(git(server, "ls-tree", "-r", "--name-only", "HEAD").split())
    platform = PLATFORM_SUBDIR
    assert files == ["E/environment.yml", f"E/explicit-{platform}.txt"]
    lock = git(server, "show", f"HEAD:E/explicit-{platform}.txt")
    assert "/alpha-1.0-0.tar.bz2#" in lock and "gamma" not in lock  # the state before install


def test_an_unchanged_env_makes_no_commit(history, conda_run, env_templates):
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "beta"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    ok(conda_run("envguard", "sync"))
    ok(conda_run("envguard", "snapshot", "-n", "E", "--force"))

    synced = json.loads(ok(conda_run("envguard", "sync", "--json")).stdout)

    assert synced["committed"] == []
    assert len(commits(history)) == 1


def test_two_snapshots_at_once_both_commit(history, conda_run, env_templates):
    """Two conda commands snapshotting at the same moment: their committers take turns."""
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "beta"))
    ok(conda_run("create", "-n", "F", "-y", *args, "gamma"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    runs = [
        subprocess.Popen([*_conda(), "envguard", "snapshot", "-n", name], **quiet)
        for name in ("E", "F")
    ]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]

    deadline = time.monotonic() + 60
    while len(commits_or_none(history)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the detached committers, without `sync`

    assert sorted(s.split(":")[0] for s in commits_or_none(history)) == ["E", "F"]
    assert git(history, "status", "--porcelain") == ""


def commits_or_none(repo: Path) -> list[str]:
    try:
        return commits(repo)
    except subprocess.CalledProcessError:  # no commit yet
        return []


def _conda() -> list[str]:
    import sys

    return [sys.executable, "-m", "conda"]


def test_a_new_machine_restores_from_the_repo(history, server, conda_run, env_templates, tmp_path):
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "alpha=1.0"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    first = conda_list(conda_run, "E")
    ok(conda_run("install", "-n", "E", "-y", *args, "beta", "alpha=2.0"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    second = conda_list(conda_run, "E")
    ok(conda_run("envguard", "sync"))
    # the new machine: git clone + the setting
    other = second_machine(tmp_path / "machine2")
    clone = tmp_path / "machine2" / "history"
    subprocess.run(["git", "clone", "-q", str(server), str(clone)], check=True)
    other["CONDA_PLUGINS_ENVGUARD_GIT"] = str(clone)

    report = json.loads(
        ok(conda_run("envguard", "restore", "E", "--from-git", "-y", "--json", env=other)).stdout
    )
    then_args = ("--from-git", "--rev", "HEAD~1", "-n", "E-then", "-y", "--json")
    older = json.loads(ok(conda_run("envguard", "restore", "E", *then_args, env=other)).stdout)

    target = tmp_path / "machine2" / "envs" / "E"
    assert report["prefix"] == str(target)
    assert (report["method"], report["exact"]) == ("explicit", True), report
    listed = json.loads(ok(conda_run("list", "-p", target, "--json", env=other)).stdout)
    assert pinned(listed) == pinned(second)
    assert (older["method"], older["exact"]) == ("explicit", True), older
    then = json.loads(ok(conda_run("list", "-n", "E-then", "--json", env=other)).stdout)
    assert pinned(then) == pinned(first)


def test_restore_from_git_names_what_is_missing(history, conda_run, env_templates):
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "gamma"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    ok(conda_run("envguard", "sync"))

    clean_error(
        conda_run("envguard", "restore", "nope", "--from-git", "-y"), "holds no env 'nope'"
    )
    clean_error(
        conda_run("envguard", "restore", "E", "--from-git", "--rev", "v9", "-n", "X", "-y"),
        "has no revision 'v9'",
    )


def test_a_broken_git_history_never_fails_a_conda_command(conda_run, env_templates, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    broken = {"CONDA_PLUGINS_ENVGUARD_GIT": str(blocker / "repo")}  # under a file: impossible
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "alpha=1.0", env=broken))

    ok(conda_run("install", "-n", "E", "-y", *args, "gamma", env=broken))
    synced = conda_run("envguard", "sync", env=broken)

    clean_error(synced, "could not sync its git history", "conda envguard sync")
    later = ok(conda_run("install", "-n", "E", "-y", *args, "beta", env=broken))
    assert "the last commit to" in later.stderr and "failed" in later.stderr
    assert "beta" in {r["name"] for r in conda_list(conda_run, "E")}


def test_git_verbs_without_a_history_say_what_to_set(conda_run, tmp_path):
    clean_error(conda_run("envguard", "sync"), "envguard_git is empty", "conda config --set")
    clean_error(conda_run("envguard", "restore", "E", "--from-git", "-y"), "envguard_git PATH")
    empty = {"CONDA_PLUGINS_ENVGUARD_GIT": str(tmp_path)}
    clean_error(
        conda_run("envguard", "restore", "E", "--from-git", "-y", env=empty),
        "not a git working tree",
        f"git clone URL {tmp_path}",
    )
    misused = conda_run("envguard", "restore", "E", "--rev", "HEAD", "-y")
    assert misused.returncode == 2 and "--rev goes with --from-git" in misused.stderr
    assert "Traceback" not in misused.stderr


def test_a_lock_for_another_platform_restores_from_the_yaml(
    history, conda_run, env_templates, tmp_path
):
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "beta"))
    packages = conda_list(conda_run, "E")
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    ok(conda_run("envguard", "sync"))
    # as if the env had been committed from another platform
    git(history, "mv", f"E/explicit-{PLATFORM_SUBDIR}.txt", "E/explicit-win-64.txt")
    git(history, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "win")
    other = second_machine(tmp_path / "machine2")
    other["CONDA_PLUGINS_ENVGUARD_GIT"] = str(history)

    report = json.loads(
        ok(conda_run("envguard", "restore", "E", "--from-git", "-y", "--json", env=other)).stdout
    )

    assert (report["method"], report["exact"]) == ("environment.yml", True), report
    assert any("win-64" in note for note in report["notes"]), report
    target = tmp_path / "machine2" / "envs" / "E"
    listed = json.loads(ok(conda_run("list", "-p", target, "--json", env=other)).stdout)
    assert pinned(listed) == pinned(packages)


def test_an_explicit_snapshot_is_committed_before_it_returns(
    history, server, conda_run, env_templates, conda_dirs
):
    """`conda envguard snapshot && git push` in cron pushes what the snapshot took: the
    command itself commits (it waits for git), where a guarded conda command leaves the
    commit to a detached process. Shown without a race: while the test holds the history's
    commit lock, the snapshot command must be the one waiting for it, not already gone."""
    import fcntl
    import sys

    if not Path("/proc/locks").is_file():
        pytest.skip("needs /proc/locks to see who waits for the commit lock")
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "beta"))
    ok(conda_run("envguard", "sync"))  # makes the lock file; nothing is queued after this
    lock = history / ".git" / "envguard-commit.lock"
    inode = os.stat(lock).st_ino
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        run = subprocess.Popen(
            [sys.executable, "-m", "conda", "envguard", "snapshot", "-n", "E", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while run.poll() is None and time.monotonic() < deadline:
            if _waits_for_lock(run.pid, inode):
                break  # the command itself waits to commit
            time.sleep(0.05)
        assert run.poll() is None, "snapshot returned before its commit was made"
    out, err = run.communicate(timeout=120)

    assert run.returncode == 0, err
    (taken,) = json.loads(out)["taken"]
    assert json.loads(out)["committed"] == [taken["id"]]
    assert commits(history) == [f"E: manual ({taken['id']})"]
    assert not list((conda_dirs.store / "git-queue").iterdir())


def _waits_for_lock(pid: int, inode: int) -> bool:
    """Does process `pid` wait for a flock on the file `inode` (a `->` line of /proc/locks:
    `2: -> FLOCK ADVISORY WRITE PID MAJOR:MINOR:INODE 0 EOF`)?"""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if (
            "->" in fields
            and len(fields) >= 7
            and fields[5] == str(pid)
            and fields[6].rsplit(":", 1)[-1] == str(inode)
        ):
            return True
    return False
