"""Env history in git: snapshots committed to `envguard_git`, pushed by `sync` to a bare repo
standing for the team's server, and restored on a second machine with `restore --from-git`.

Real git, real conda in child processes; the second machine is a second conda root.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from envguard_testsupport.checks import clean_error, conda_list, git, ok

from conda_envguard.testing.channel import PLATFORM_SUBDIR

pytestmark = [
    pytest.mark.usefixtures("no_background_expiry"),
    pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command"),
]


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


def folder_of(repo: Path, prefix: Path, rev: str = "HEAD") -> str:
    """The history's folder of the env at `prefix` on this machine, as its
    `envguard-env.json` says; fails when there is none, or more than one."""
    found = []
    for path in git(repo, "ls-tree", "-r", "--name-only", rev).split():
        if path.endswith("/envguard-env.json"):
            identity = json.loads(git(repo, "show", f"{rev}:{path}"))
            if identity["prefix"] == str(prefix) and identity["host"] == socket.gethostname():
                found.append(path.split("/")[0])
    assert len(found) == 1, f"{len(found)} folders for {prefix} in the history"
    return found[0]


def test_snapshots_land_in_git_and_sync_pushes_them(
    history, server, conda_run, conda_dirs, env_templates
):
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "alpha=1.0"))
    installed = ok(conda_run("install", "-n", "E", "-y", *args, "gamma"))
    (snap,) = json.loads(ok(conda_run("envguard", "list", "-n", "E", "--json")).stdout)[
        "snapshots"
    ]

    synced = json.loads(ok(conda_run("envguard", "sync", "--json")).stdout)

    assert synced["pushed"] is True and synced["remote"] == "origin"
    assert "Traceback" not in installed.stderr
    (subject,) = commits(server)
    assert subject == f"E: install ({snap['id']})"
    message = git(server, "log", "-1", "--format=%B")
    assert "Command: conda install -n E -y" in message and f"Snapshot: {snap['id']}" in message
    files = sorted(git(server, "ls-tree", "-r", "--name-only", "HEAD").split())
    platform = PLATFORM_SUBDIR
    folder = folder_of(server, conda_dirs.envs / "E")
    assert folder.startswith("E--")
    assert files == [
        f"{folder}/envguard-env.json",
        f"{folder}/environment.yml",
        f"{folder}/explicit-{platform}.txt",
        f"{folder}/portable.json",
    ]
    identity = json.loads(git(server, "show", f"HEAD:{folder}/envguard-env.json"))
    assert identity == {
        "env_name": "E",
        "prefix": str(conda_dirs.envs / "E"),
        "host": socket.gethostname(),
        "user": getpass.getuser(),
    }
    lock = git(server, "show", f"HEAD:{folder}/explicit-{platform}.txt")
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
    history, conda_run, conda_dirs, env_templates, tmp_path
):
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "beta"))
    packages = conda_list(conda_run, "E")
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    ok(conda_run("envguard", "sync"))
    # as if the env had been committed from another platform, before snapshots kept portable
    # specs (with them, restore solves those: tests/test_portable.py)
    folder = folder_of(history, conda_dirs.envs / "E")
    git(history, "mv", f"{folder}/explicit-{PLATFORM_SUBDIR}.txt", f"{folder}/explicit-win-64.txt")
    git(history, "rm", "-q", f"{folder}/portable.json")
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


def test_envs_of_one_name_in_two_envs_dirs_keep_their_own_history(
    history, conda_run, conda_dirs, env_templates, tmp_path
):
    args = env_templates.channel.args
    second = tmp_path / "envs2"
    dirs = {"CONDA_ENVS_DIRS": f"{conda_dirs.envs}{os.pathsep}{second}"}
    ok(conda_run("create", "-n", "E", "-y", *args, "alpha=1.0", env=dirs))
    ok(conda_run("create", "-p", second / "E", "-y", *args, "gamma", env=dirs))
    ok(conda_run("envguard", "snapshot", "-n", "E", env=dirs))
    ok(conda_run("envguard", "snapshot", "-p", second / "E", env=dirs))
    ok(conda_run("envguard", "sync", env=dirs))

    mine, other = folder_of(history, conda_dirs.envs / "E"), folder_of(history, second / "E")
    assert mine != other
    lock = f"explicit-{PLATFORM_SUBDIR}.txt"
    assert "/alpha-1.0-0" in git(history, "show", f"HEAD:{mine}/{lock}")
    assert "/gamma-1.0-0" in git(history, "show", f"HEAD:{other}/{lock}")
    assert "/alpha-" not in git(history, "show", f"HEAD:{other}/{lock}")

    restored = ok(
        conda_run("envguard", "restore", "E", "--from-git", "-n", "E-copy", "-y", env=dirs)
    )
    assert "E-copy" in restored.stdout
    copy = {r["name"] for r in conda_list(conda_run, "E-copy")}
    assert copy == {"alpha"}  # the env of the default envs dir, as `-n E` means
    ok(conda_run("envguard", "restore", other, "--from-git", "-n", "G-copy", "-y", env=dirs))
    assert {r["name"] for r in conda_list(conda_run, "G-copy")} == {"gamma"}


def _as_if_from(history: Path, source: str, folder: str, **identity: str) -> None:
    """Copy an env folder under another name and identity, as another machine's envguard
    would have written it (one machine cannot change its host name for a test)."""
    for name in git(history, "ls-tree", "--name-only", "HEAD", f"{source}/").split():
        data = git(history, "show", f"HEAD:{name}")
        (history / folder).mkdir(exist_ok=True)
        (history / folder / Path(name).name).write_text(data)
    (history / folder / "envguard-env.json").write_text(json.dumps(identity))
    git(history, "add", folder)


def test_an_env_name_from_two_other_machines_is_listed_then_chosen(
    history, conda_run, conda_dirs, env_templates, tmp_path
):
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "alpha=1.0"))
    ok(conda_run("create", "-n", "G", "-y", *args, "gamma"))
    ok(conda_run("envguard", "snapshot", "--all"))
    ok(conda_run("envguard", "sync"))
    mine = folder_of(history, conda_dirs.envs / "E")
    _as_if_from(history, mine, "E--1ab2", env_name="E", prefix="/opt/envs/E", host="lab-2")
    theirs = folder_of(history, conda_dirs.envs / "G")
    _as_if_from(history, theirs, "E--3cd4", env_name="E", prefix="/home/bob/E", host="lab-3")
    author = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    git(history, *author, "commit", "-qm", "two other machines")

    here = ok(conda_run("envguard", "restore", "E", "--from-git", "-n", "E1", "-y"))
    assert "E1" in here.stdout
    assert {r["name"] for r in conda_list(conda_run, "E1")} == {"alpha"}  # this machine's

    git(history, "rm", "-rq", mine)
    git(history, *author, "commit", "-qm", "this machine's E gone")
    ambiguous = conda_run("envguard", "restore", "E", "--from-git", "-n", "E2", "-y")
    text = clean_error(
        ambiguous,
        "holds 2 envs named 'E' at HEAD:",
        "E--1ab2: host lab-2, /opt/envs/E",
        "E--3cd4: host lab-3, /home/bob/E",
        "conda envguard restore E --from-git --host lab-2",
        "conda envguard restore E--1ab2 --from-git",
    )
    assert not (conda_dirs.envs / "E2").exists(), text

    ok(conda_run("envguard", "restore", "E", "--from-git", "--host", "lab-3", "-n", "E3", "-y"))
    assert {r["name"] for r in conda_list(conda_run, "E3")} == {"gamma"}
    ok(conda_run("envguard", "restore", "E--1ab2", "--from-git", "-n", "E4", "-y"))
    assert {r["name"] for r in conda_list(conda_run, "E4")} == {"alpha"}
    clean_error(
        conda_run("envguard", "restore", "E", "--from-git", "--host", "lab-9", "-y"),
        "holds no env 'E' from host 'lab-9'",
    )


def test_a_history_in_the_old_layout_still_restores(history, conda_run, conda_dirs, env_templates):
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "alpha=1.0"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    ok(conda_run("envguard", "sync"))
    folder = folder_of(history, conda_dirs.envs / "E")
    git(history, "mv", folder, "E")  # <env>/ as envguard wrote it before hosts
    git(history, "rm", "-qf", "E/envguard-env.json")
    git(history, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "old")

    ok(conda_run("envguard", "restore", "E", "--from-git", "-n", "E-old", "-y"))

    assert {r["name"] for r in conda_list(conda_run, "E-old")} == {"alpha"}


def test_a_damaged_queued_snapshot_is_held_not_lost(
    history, conda_run, conda_dirs, env_templates, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    broken = {"CONDA_PLUGINS_ENVGUARD_GIT": str(blocker / "repo")}  # the commits fail: queued
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "alpha=1.0"))
    ok(conda_run("create", "-n", "F", "-y", *args, "gamma"))
    for env in ("E", "F"):  # an explicit snapshot commits itself: saved, queued, and it says so
        failed = conda_run("envguard", "snapshot", "-n", env, env=broken)
        assert failed.returncode == 1 and "GitSyncError" in failed.stderr, failed.stderr
        assert "still queued for git" in failed.stderr
    (e_snap,) = json.loads(ok(conda_run("envguard", "list", "-n", "E", "--json")).stdout)[
        "snapshots"
    ]
    queue = conda_dirs.store / "git-queue"
    assert sorted(p.name for p in queue.iterdir()) == sorted(
        s["id"]
        for s in json.loads(ok(conda_run("envguard", "list", "--json")).stdout)["snapshots"]
    )
    (conda_dirs.store / "snapshots" / e_snap["id"] / "snapshot.json").write_text("garbage")

    synced = ok(conda_run("envguard", "sync"))

    assert [s.split(":")[0] for s in commits(history)] == ["F"]
    assert "1 queued snapshot(s) could not be committed" in synced.stdout
    assert f"{e_snap['id']}: it cannot be read" in synced.stdout
    status = json.loads(ok(conda_run("envguard", "status", "--json")).stdout)
    assert [h["id"] for h in status["git_held"]] == [e_snap["id"]]
    assert "Snapshots held out of the git history" in ok(conda_run("envguard", "status")).stdout
    still = ok(conda_run("envguard", "sync")).stdout
    assert "has every snapshot already" not in still and "Committed nothing new" in still
    assert f"{e_snap['id']}: it cannot be read" in still  # tried again, held again

    shutil.rmtree(conda_dirs.store / "snapshots" / e_snap["id"])  # gone for good
    again = json.loads(ok(conda_run("envguard", "sync", "--json")).stdout)
    assert [d["id"] for d in again["dropped"]] == [e_snap["id"]] and again["held"] == []


def test_a_rebase_refused_for_another_reason_says_that_reason(
    history, server, conda_run, env_templates, tmp_path
):
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "gamma"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    ok(conda_run("envguard", "sync"))
    author = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    other = tmp_path / "other-clone"
    subprocess.run(["git", "clone", "-q", str(server), str(other)], check=True)
    (other / "README").write_text("team envs\n")
    git(other, "add", "README")
    git(other, *author, "commit", "-qm", "readme")
    git(other, "push", "-q")
    (history / "notes.txt").write_text("mine\n")
    git(history, "add", "notes.txt")
    git(history, *author, "commit", "-qm", "notes")
    (history / "notes.txt").write_text("mine, edited, not committed\n")

    synced = conda_run("envguard", "sync")

    text = clean_error(synced, "could not sync its git history", "cannot rebase")
    assert "changed the same env files" not in text


def test_a_git_worktree_as_the_history(history, conda_run, env_templates, tmp_path):
    """`.git` is a file in a worktree (and a submodule): commits land all the same."""
    author = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    git(history, *author, "commit", "-q", "--allow-empty", "-m", "start")
    worktree = tmp_path / "history-worktree"
    git(history, "worktree", "add", "-q", "-b", "envs", str(worktree))
    assert (worktree / ".git").is_file()
    here = {"CONDA_PLUGINS_ENVGUARD_GIT": str(worktree)}
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "gamma", env=here))
    ok(conda_run("envguard", "snapshot", "-n", "E", env=here))

    ok(conda_run("envguard", "sync", env=here))  # commits what the detached committer left

    assert commits(worktree)[0].startswith("E: manual")
