"""What others can write is read as untrusted: the team's git history (a server others push
to) and the trash beside a shared envs dir.

Each case is built as an attacker would build it: a commit pushed to the team's server (a
bare repo), or a trash another user could write (made group-writable, or chown'ed to another
uid: no second real user needed). Real git, real conda in child processes.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from envguard_testsupport.checks import (
    TRASH_DIRNAME,
    assert_same_tree,
    clean_error,
    git,
    ok,
    snapshots_of,
    trashed_envs_on_disk,
    tree,
)

from conda_envguard.testing.channel import PLATFORM_SUBDIR

pytestmark = pytest.mark.usefixtures("no_background_expiry")
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
needs_owners = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="no owner or mode bits")
AUTHOR = ("-c", "user.name=mallory", "-c", "user.email=mallory@example.com")
OTHER_UID = 12345


# --- the git history ------------------------------------------------------------------------


@pytest.fixture
def pushed(history, make_env, conda_run) -> str:
    """Env E snapshotted and pushed to the server; returns its folder in the history."""
    make_env("E", "beta")
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    ok(conda_run("envguard", "sync"))
    (folder,) = git(history, "ls-tree", "--name-only", "HEAD").split()
    return folder


def attacker_pushes(server: Path, tmp_path: Path, change) -> None:
    """Another member of the team (or whoever can push) commits `change(clone)` to the server."""
    clone = tmp_path / "mallory"
    subprocess.run(
        ["git", "clone", "-q", str(server), str(clone)], check=True, capture_output=True
    )
    change(clone)
    git(clone, "add", "-A")
    git(clone, *AUTHOR, "commit", "-qm", "innocent update")
    git(clone, "push", "-q", "origin", "HEAD")


@needs_git
def test_links_to_the_users_files_in_the_history_are_replaced_not_written_through(
    history, server, pushed, conda_run, conda_dirs, tmp_path
):
    folder = pushed
    bashrc = conda_dirs.home / ".bashrc"
    bashrc.write_bytes(b"export PS1='mine'\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "requirements.txt").write_bytes(b"numpy==1.0  # mine\n")
    before = tree(mine, with_root=True)

    def plant(clone: Path) -> None:
        (clone / folder / "environment.yml").unlink()
        (clone / folder / "environment.yml").symlink_to(bashrc)
        (clone / folder / "requirements.txt").symlink_to(mine / "requirements.txt")

    attacker_pushes(server, tmp_path, plant)
    ok(conda_run("envguard", "sync"))
    assert (history / folder / "environment.yml").is_symlink()  # the trap is in the tree

    snapped = ok(conda_run("envguard", "snapshot", "-n", "E", "--force"))

    assert bashrc.read_bytes() == b"export PS1='mine'\n"
    assert_same_tree(mine, before)
    written = history / folder / "environment.yml"
    assert not written.is_symlink() and b"dependencies:" in written.read_bytes()
    assert not os.path.lexists(history / folder / "requirements.txt")  # E has no pip packages
    assert f"in the git history {history}, {folder}/environment.yml (a symbolic link to " in (
        snapped.stderr
    )
    assert "is now a regular file" in snapped.stderr
    modes = git(history, "ls-tree", "HEAD", f"{folder}/").splitlines()
    assert all(line.startswith("100644 ") for line in modes), modes
    message = git(history, "log", "-1", "--format=%B")
    assert f"Replaced: {folder}/environment.yml (a symbolic link to '{bashrc}') is now" in message


@needs_git
def test_a_folder_linked_out_of_the_history_is_never_written_nor_deleted_in(
    history, server, pushed, conda_run, tmp_path
):
    folder = pushed
    some_dir = tmp_path / "some-dir"
    some_dir.mkdir()
    (some_dir / "requirements.txt").write_bytes(b"keep me\n")
    (some_dir / "notes.txt").write_bytes(b"mine\n")
    before = tree(some_dir, with_root=True)

    def plant(clone: Path) -> None:
        shutil.rmtree(clone / folder)
        (clone / folder).symlink_to(some_dir)

    attacker_pushes(server, tmp_path, plant)
    ok(conda_run("envguard", "sync"))
    assert (history / folder).is_symlink()

    snapped = ok(conda_run("envguard", "snapshot", "-n", "E", "--force"))
    synced = ok(conda_run("envguard", "sync"))

    assert_same_tree(some_dir, before)
    assert (history / folder).is_dir() and not (history / folder).is_symlink()
    assert (history / folder / "envguard-env.json").is_file()
    said = (
        f"in the git history {history}, {folder} (a symbolic link to '{some_dir}') is now a folder"
    )
    assert said in snapped.stderr
    assert "Traceback" not in synced.stderr
    assert git(server, "ls-tree", "HEAD", folder).startswith("040000 tree")


def _copy_folder(clone: Path, source: str, folder: str, identity: dict) -> None:
    """A folder as another machine's envguard writes one, with the identity given."""
    shutil.copytree(clone / source, clone / folder)
    (clone / folder / "envguard-env.json").write_text(json.dumps(identity))


@needs_git
def test_restore_from_git_never_reads_through_a_link(
    history, server, pushed, conda_run, conda_dirs, tmp_path
):
    lock = f"explicit-{PLATFORM_SUBDIR}.txt"

    def plant(clone: Path) -> None:
        lab2 = {"env_name": "E", "prefix": "/opt/envs/E", "host": "lab-2", "user": "bob"}
        _copy_folder(clone, pushed, "E--1ab2", lab2)
        (clone / "E--1ab2" / lock).unlink()
        (clone / "E--1ab2" / lock).symlink_to("/etc/passwd")
        _copy_folder(clone, pushed, "E--3cd4", {**lab2, "host": "lab-3"})
        (clone / "E--3cd4" / "envguard-env.json").unlink()
        (clone / "E--3cd4" / "envguard-env.json").symlink_to("/etc/passwd")

    attacker_pushes(server, tmp_path, plant)
    ok(conda_run("envguard", "sync"))

    linked_lock = conda_run("envguard", "restore", "E--1ab2", "--from-git", "-n", "E2", "-y")
    clean_error(linked_lock, f"E--1ab2/{lock}", "is not a regular file", "does not read it")
    linked_meta = conda_run("envguard", "restore", "E--3cd4", "--from-git", "-n", "E3", "-y")
    clean_error(
        linked_meta,
        "holds no env 'E--3cd4'",
        "E--3cd4: its envguard-env.json is not a regular file",
    )
    assert not (conda_dirs.envs / "E2").exists() and not (conda_dirs.envs / "E3").exists()


@needs_git
@pytest.mark.parametrize(
    "field, value, says",
    [
        ("env_name", "ELSEWHERE", "names no env"),  # an absolute path: restored outside envs
        ("env_name", "../E-up", "names no env"),
        ("host", "lab; touch ~/owned", "names no host"),  # pasted from the hint into a shell
        ("prefix", "/opt/\x1b]0;owned\x07E", "control characters"),  # rewrites the terminal
        ("env_name", ["E"], "has no valid 'env_name'"),
    ],
)
def test_what_the_history_says_of_an_env_is_checked_as_untrusted(
    field, value, says, history, server, pushed, conda_run, conda_dirs, tmp_path
):
    elsewhere = tmp_path / "elsewhere"
    value = str(elsewhere) if value == "ELSEWHERE" else value
    identity = {"env_name": "E", "prefix": "/opt/envs/E", "host": "lab-2", "user": "bob"}
    attacker_pushes(
        server, tmp_path, lambda c: _copy_folder(c, pushed, "E--5ef6", {**identity, field: value})
    )
    ok(conda_run("envguard", "sync"))

    refused = conda_run("envguard", "restore", "E--5ef6", "--from-git", "-y")

    clean_error(refused, "holds no env 'E--5ef6'", "E--5ef6: its envguard-env.json", says)
    assert not elsewhere.exists() and not (tmp_path / "E-up").exists()
    assert "\x1b" not in refused.stdout + refused.stderr


@needs_git
@pytest.mark.parametrize(
    "name, data",
    [
        ("environment.yml", b"dependencies: [beta\n  {: oops"),
        ("environment.yml", b"- just\n- a list\n"),
        ("environment.yml", b"[" * 5000),
        ("requirements.txt", b"\xff\xfe not text\n"),
    ],
)
def test_files_of_the_history_that_envguard_did_not_write_are_refused_cleanly(
    name, data, history, server, pushed, conda_run, conda_dirs, tmp_path
):
    lock = f"explicit-{PLATFORM_SUBDIR}.txt"

    def plant(clone: Path) -> None:
        (clone / pushed / name).write_bytes(data)
        (clone / pushed / lock).unlink()

    attacker_pushes(server, tmp_path, plant)
    ok(conda_run("envguard", "sync"))

    refused = conda_run("envguard", "restore", "E", "--from-git", "-n", "E2", "-y")

    clean_error(refused, f"The files of {pushed} in {history} at HEAD are not what envguard")
    assert not (conda_dirs.envs / "E2").exists()


# --- the trash beside a shared envs dir -----------------------------------------------------


def _trash(conda_dirs) -> Path:
    return conda_dirs.envs / TRASH_DIRNAME


def _make_unsafe(path: Path, how: str) -> None:
    if how == "group-writable":
        os.chmod(path, 0o777)
    elif how == "another-owner":
        os.chown(path, OTHER_UID, -1)
    else:  # a link to a directory of another user's
        theirs = path.with_name("theirs")
        path.rename(theirs)
        path.symlink_to(theirs)


@needs_owners
def test_the_trash_is_private_whatever_the_umask(make_env, conda_run, conda_dirs):
    make_env("E", "beta")
    umask = os.umask(0o002)  # a shared machine's usual umask: new dirs group-writable
    try:
        ok(conda_run("env", "remove", "-n", "E", "-y"))
    finally:
        os.umask(umask)

    (entry,) = trashed_envs_on_disk(conda_dirs)
    assert stat.S_IMODE(_trash(conda_dirs).stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700


@needs_owners
@pytest.mark.parametrize("how", ["group-writable", "another-owner", "a link"])
def test_a_removal_never_goes_into_a_trash_another_user_can_write(
    how, make_env, conda_run, conda_dirs
):
    make_env("E", "beta")
    trash = _trash(conda_dirs)
    trash.mkdir(mode=0o700)
    _make_unsafe(trash, how)

    removed = ok(conda_run("env", "remove", "-n", "E", "-y"))

    assert list(trash.iterdir()) == []
    (snapshot,) = snapshots_of(conda_run, "E")
    reason, fix = {
        "group-writable": ("other users can write to it", f"chmod 700 '{trash}'"),
        "another-owner": ("another user", f"chown {os.geteuid()} '{trash}'"),
        "a link": ("it is a symbolic link", f"rm '{trash}'"),
    }[how]
    (line,) = [x for x in removed.stderr.splitlines() if "can't be moved to the trash" in x]
    assert reason in line and fix in line and snapshot["id"] in line, removed.stderr
    assert not (conda_dirs.envs / "E" / "conda-meta").exists()  # conda removed it as usual


@needs_owners
def test_files_of_the_users_are_never_deleted_for_an_unsafe_trash(make_env, conda_run, conda_dirs):
    prefix = make_env("E", "beta")
    (prefix / "results.csv").write_bytes(b"a,b\n1,2\n")
    before = tree(prefix, with_root=True)
    trash = _trash(conda_dirs)
    trash.mkdir(mode=0o700)
    _make_unsafe(trash, "group-writable")

    # the user lets them go to the trash: the trash is the only thing that could keep them
    let_go = {"CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES": "trash"}
    stopped = conda_run("env", "remove", "-n", "E", "-y", env=let_go)

    clean_error(stopped, "results.csv", "other users can write to it")
    assert_same_tree(prefix, before)
    assert list(trash.iterdir()) == []


def _swap_in_attackers_env(entry: Path) -> None:
    """What another user with write access to the trash did: the victim's entry renamed away,
    one of their own in its place, with a `bin/python` of theirs."""
    entry.rename(entry.with_name(entry.name + ".moved"))
    (entry / "env" / "conda-meta").mkdir(parents=True)
    (entry / "env" / "conda-meta" / "history").touch()
    python = entry / "env" / "bin" / "python"
    python.parent.mkdir()
    python.write_text("#!/bin/sh\necho owned\n")
    python.chmod(0o755)
    for root, dirs, files in os.walk(entry):
        for name in [".", *dirs, *files]:
            os.chown(os.path.join(root, name), OTHER_UID, -1)


@needs_owners
@pytest.mark.parametrize("command", ["undo", "restore"])
@pytest.mark.parametrize("how", ["trash group-writable", "entry of another owner", "swapped"])
def test_undo_and_restore_refuse_an_env_another_user_could_have_swapped(
    command, how, make_env, conda_run, conda_dirs
):
    prefix = make_env("E", "beta")
    ok(conda_run("env", "remove", "-n", "E", "-y"))
    (env_dir,) = trashed_envs_on_disk(conda_dirs)
    entry, trash = env_dir.parent, _trash(conda_dirs)
    if how == "trash group-writable":
        _make_unsafe(trash, "group-writable")
        unsafe, fix = trash, f"chmod 700 '{trash}'"
    elif how == "entry of another owner":
        _make_unsafe(entry, "another-owner")
        unsafe, fix = entry, f"chown {os.geteuid()} '{entry}'"
    else:
        _swap_in_attackers_env(entry)
        unsafe, fix = entry, f"chown {os.geteuid()} '{entry}'"
    held = tree(trash, with_root=True)

    refused = conda_run("envguard", command, "E", "-y")

    clean_error(refused, "will not bring back 'E' from the trash", str(unsafe), fix)
    assert not (prefix / "bin" / "python").exists()
    assert not (prefix / "conda-meta").exists()
    assert_same_tree(trash, held)
