"""The trash: a removed or overwritten env is moved aside, never lost, and `undo` brings it back.

Every test drives real conda in child processes (`python -m conda`), as a user would: the guard
keeps per-process state (envs moved aside whose command has not completed) and puts them back
when the process ends, so only a process of its own shows what a user sees. The checks are the
user's: the env's files (path, content, mode), `conda list`, `conda env list`, conda's registry,
and what `conda envguard trash` / `undo` / `purge` say.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from envguard_testsupport.checks import (
    TRASH_DIRNAME,
    assert_same_tree,
    clean_error,
    conda_list,
    listed_envs,
    ok,
    registered,
    remove,
    snapshots_of,
    trashed_envs_on_disk,
    tree,
    tree_state,
)

pytestmark = pytest.mark.usefixtures("no_background_expiry")

SHELL_MARKER = Path("conda-meta", "envguard-shell")


# --- helpers -------------------------------------------------------------------------------


def conda_meta(prefix: Path) -> dict[str, bytes]:
    """conda-meta's files (package records and history), byte for byte."""
    return {p.name: p.read_bytes() for p in sorted((prefix / "conda-meta").iterdir())}


def trash_entries(conda_run) -> list[dict]:
    """What `conda envguard trash --json` lists."""
    return json.loads(ok(conda_run("envguard", "trash", "--json")).stdout)["entries"]


def trash_record(conda_dirs, env_dir: Path) -> Path:
    """The store's record of the trash entry holding `env_dir`."""
    return conda_dirs.store / "trash" / f"{env_dir.parent.name}.json"


def assert_trash_empty(conda_run, conda_dirs) -> None:
    assert trashed_envs_on_disk(conda_dirs) == []
    assert trash_entries(conda_run) == []


@pytest.fixture
def big_env(make_env, conda_dirs):
    """env E with bigpkg (2,000 files) and beta/alpha, registered as conda registers it."""
    prefix = make_env("E", "bigpkg", "beta")
    assert str(prefix) in registered(conda_dirs)
    return prefix


# --- remove, then undo ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("env", "remove", "-n", "E", "-y"), ("remove", "-n", "E", "--all", "-y")],
    ids=["env-remove", "remove-all"],
)
def test_remove_then_undo_gives_back_the_identical_env(command, big_env, conda_run, conda_dirs):
    before = tree(big_env, with_root=True)
    meta_before = conda_meta(big_env)
    packages_before = conda_list(conda_run, "E")
    assert {p["name"] for p in packages_before} == {"alpha", "beta", "bigpkg"}

    removed = ok(conda_run(*command))

    assert not big_env.exists()
    assert str(big_env) not in listed_envs(conda_run)
    assert str(big_env) not in registered(conda_dirs)
    assert "'E' is in the trash until" in removed.stderr
    assert "conda envguard undo E" in removed.stderr
    (held,) = trashed_envs_on_disk(conda_dirs)

    dry = ok(conda_run("envguard", "undo", "E", "--dry-run"))
    assert f"Would put 'E' back at {big_env}" in dry.stdout
    assert not big_env.exists() and trashed_envs_on_disk(conda_dirs) == [held]

    undone = ok(conda_run("envguard", "undo", "E", "-y"))

    assert f"'E' is back at {big_env}" in undone.stdout
    assert_same_tree(big_env, before)
    assert conda_meta(big_env) == meta_before
    assert str(big_env) in registered(conda_dirs)
    assert str(big_env) in listed_envs(conda_run)
    assert conda_list(conda_run, "E") == packages_before
    assert_trash_empty(conda_run, conda_dirs)


def test_the_trash_lists_a_removed_env_with_its_size_and_expiry(big_env, conda_run, conda_dirs):
    remove(conda_run, "E")
    (held,) = trashed_envs_on_disk(conda_dirs)
    own_bytes = sum(
        p.stat().st_size for p in held.rglob("*") if p.is_file() and p.stat().st_nlink == 1
    )

    (entry,) = trash_entries(conda_run)

    assert entry["env_name"] == "E"
    assert entry["prefix"] == str(big_env)
    assert entry["state"] == "trashed"
    assert entry["size_bytes"] >= own_bytes > 2000 * 10
    trashed = datetime.fromisoformat(entry["trashed_at"])
    expires = datetime.fromisoformat(entry["expires_at"])
    assert abs(datetime.now(timezone.utc) - trashed) < timedelta(minutes=5)
    assert expires - trashed == timedelta(days=7)  # envguard_trash_days' default
    listing = ok(conda_run("envguard", "trash")).stdout
    (row,) = [line for line in listing.splitlines() if str(big_env) in line]
    assert row.split()[0] == "E" or row.split()[1] == "E", row
    assert expires.strftime("%Y-%m-%d") in row
    assert "conda envguard undo" in listing and "conda envguard purge" in listing


def test_env_outside_the_envs_dirs_is_trashed_beside_it_and_undone_by_path(
    conda_run, conda_dirs, channel_args, tmp_path
):
    prefix = tmp_path / "project" / "env"
    ok(conda_run("create", "-p", prefix, "-y", *channel_args, "beta"))
    assert str(prefix) in registered(conda_dirs)
    before = tree(prefix, with_root=True)

    ok(conda_run("env", "remove", "-p", prefix, "-y"))

    assert not prefix.exists()
    assert len(list((prefix.parent / TRASH_DIRNAME).glob("*/env"))) == 1
    assert str(prefix) not in registered(conda_dirs)

    ok(conda_run("envguard", "undo", prefix, "-y"))

    assert_same_tree(prefix, before)
    assert str(prefix) in registered(conda_dirs)
    assert list((prefix.parent / TRASH_DIRNAME).glob("*/env")) == []


def test_undo_without_a_name_brings_back_the_most_recently_removed(
    make_env, conda_run, conda_dirs
):
    first, second = make_env("A", "gamma"), make_env("B", "beta")
    trees = {first: tree(first, with_root=True), second: tree(second, with_root=True)}
    remove(conda_run, "A")
    remove(conda_run, "B")

    undone = json.loads(ok(conda_run("envguard", "undo", "-y", "--json")).stdout)

    assert undone["env_name"] == "B" and undone["restored"] is True
    assert_same_tree(second, trees[second])
    assert not first.exists()

    ok(conda_run("envguard", "undo", "-y"))

    assert_same_tree(first, trees[first])
    assert trashed_envs_on_disk(conda_dirs) == []


def test_undo_of_an_env_not_in_the_trash_says_so(conda_run):
    result = conda_run("envguard", "undo", "nosuch", "-y")

    clean_error(result, "holds no removed environment for 'nosuch'", "conda envguard trash")


# --- overwritten by create / env create / rename, then undo ---------------------------------


def _overwrite(kind: str, conda_run, make_env, channel, tmp_path: Path) -> None:
    if kind == "create":
        ok(conda_run("create", "-n", "E", "-y", *channel.args, "gamma"))
    elif kind == "env-create":
        yml = tmp_path / "environment.yml"
        yml.write_text(f"name: E\nchannels:\n  - {channel.url}\ndependencies:\n  - gamma\n")
        ok(conda_run("env", "create", "-f", yml, "--yes"))  # conda < 26.7 replaces only so
    else:
        make_env("O", "gamma")
        ok(conda_run("rename", "-n", "O", "E", "--yes"))


@pytest.mark.parametrize("kind", ["create", "env-create", "rename"])
def test_overwritten_env_goes_to_the_trash_and_comes_back(
    kind, make_env, conda_run, conda_dirs, channel, tmp_path
):
    old = make_env("E", "beta")
    before = tree(old, with_root=True)
    packages_before = conda_list(conda_run, "E")

    _overwrite(kind, conda_run, make_env, channel, tmp_path)

    assert {p["name"] for p in conda_list(conda_run, "E")} == {"gamma"}
    if kind == "rename":
        assert not (conda_dirs.envs / "O").exists()
    (held,) = trashed_envs_on_disk(conda_dirs)
    assert_same_tree(held, before)
    new_tree = tree(old, with_root=True)

    # E is occupied: undo without --force refuses and changes nothing
    refused = conda_run("envguard", "undo", "E", "-y")
    clean_error(refused, f"Another environment now occupies {old}", "undo E --force")
    assert_same_tree(old, new_tree)
    assert trashed_envs_on_disk(conda_dirs) == [held]
    assert_same_tree(held, before)

    ok(conda_run("envguard", "undo", "E", "--force", "-y"))

    assert_same_tree(old, before)
    assert conda_list(conda_run, "E") == packages_before
    assert str(old) in registered(conda_dirs)
    # the env that was there is snapshotted and trashed first, not lost
    (replaced,) = trashed_envs_on_disk(conda_dirs)
    assert_same_tree(replaced, new_tree)
    assert "undo --force" in [s["trigger"] for s in snapshots_of(conda_run, "E")]


# --- commands that do not complete lose nothing ---------------------------------------------

INCOMPLETE = {
    # id: (conda arguments after `conda`, stdin, what conda asked or said)
    "remove-no": (("remove", "-n", "E", "--all"), "n\n", "Proceed ([y]/n)?"),
    "remove-yes-then-no": (
        ("remove", "-n", "E", "--all"),
        "y\nn\n",
        "Do you wish to continue?",
    ),
    "env-remove-no": (("env", "remove", "-n", "E"), "n\n", "Proceed ([y]/n)?"),
    "env-remove-yes-then-no": (("env", "remove", "-n", "E"), "y\nn\n", "Do you wish to continue?"),
    "create-over-it-no": (("create", "-n", "E", "gamma"), "n\n", "Remove existing environment?"),
    "create-dry-run": (("create", "-n", "E", "gamma", "--dry-run"), None, ""),
    "env-remove-dry-run": (("env", "remove", "-n", "E", "--dry-run"), None, ""),
    "rename-without-yes": (("rename", "-n", "O", "E"), None, "already exists"),
}


@pytest.mark.parametrize("case", INCOMPLETE, ids=list(INCOMPLETE))
def test_a_command_that_does_not_complete_loses_nothing(
    case, big_env, make_env, conda_run, conda_dirs, channel_args
):
    args, answers, asked = INCOMPLETE[case]
    if "gamma" in args:
        args = (*args, *channel_args)
    if case == "rename-without-yes":
        make_env("O", "gamma")
    before = tree(big_env, with_root=True)

    result = conda_run(*args, input=answers)

    assert asked in result.stdout + result.stderr, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert_same_tree(big_env, before)
    assert str(big_env) in registered(conda_dirs)
    assert str(big_env) in listed_envs(conda_run)
    assert_trash_empty(conda_run, conda_dirs)


def _files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.is_dir() else set()


@pytest.mark.parametrize(
    "args",
    [("remove", "-n", "E", "--all", "--dry-run"), ("env", "remove", "-n", "E", "--dry-run")],
    ids=["remove-all", "env-remove"],
)
def test_a_dry_run_removal_writes_nothing(args, make_env, conda_run, conda_dirs):
    """Not only the same env at the end: no snapshot, no trash record, no move and back (the
    env's directory keeps its inode and every time stamp)."""
    prefix = make_env("E", "alpha")
    before = tree_state(prefix, with_root=True)
    store_before = _files_under(conda_dirs.store)
    envs_before = sorted(os.listdir(conda_dirs.envs))

    result = ok(conda_run(*args))

    assert "DryRunExit" in result.stdout + result.stderr, result.stdout + result.stderr
    assert tree_state(prefix, with_root=True) == before
    assert sorted(os.listdir(conda_dirs.envs)) == envs_before  # no trash dir made beside it
    assert _files_under(conda_dirs.store) - store_before == set()  # no record, no snapshot
    assert snapshots_of(conda_run, "E") == []


# --- conda refuses: nothing lost, and left to conda -----------------------------------------

REFUSALS = {
    # id: (extra environment, what conda says)
    "active-env": (
        {"CONDA_PREFIX": "{prefix}", "CONDA_DEFAULT_ENV": "E", "CONDA_SHLVL": "1"},
        "Cannot remove current environment",
    ),
    "current-env-by-name": ({"CONDA_DEFAULT_ENV": "E"}, "Cannot remove current environment"),
    "default-activation-env-variable": (
        {"CONDA_DEFAULT_ACTIVATION_ENV": "E"},
        "configured as `default_activation_env`",
    ),
    "default-activation-env-condarc": ({}, "configured as `default_activation_env`"),
}


def _refuse(case: str, prefix: Path, conda_dirs, conda_run) -> subprocess.CompletedProcess:
    extra, said = REFUSALS[case]
    if case == "default-activation-env-condarc":
        conda_dirs.condarc.write_text("default_activation_env: E\n")
    env = {name: value.format(prefix=prefix) for name, value in extra.items()}
    result = conda_run("env", "remove", "-n", "E", "-y", env=env)
    if case.startswith("default-activation") and not _conda_refuses_default_activation_env():
        # conda 25.7 removes the default activation env like any other: so does envguard,
        # snapshot and trash first, and undo brings it back
        assert result.returncode == 0, result.stderr
        assert "envguard: saved snapshot" in result.stderr
        ok(conda_run("envguard", "undo", "E", "-y"))
        pytest.skip("this conda does not refuse to remove the default activation env")
    assert result.returncode != 0, result.stdout + result.stderr
    assert said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    return result


def _conda_refuses_default_activation_env() -> bool:
    from conda.base.context import context

    return hasattr(type(context), "default_activation_prefix")  # conda 25.9+


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_conda_refusing_to_remove_loses_nothing(case, big_env, conda_run, conda_dirs):
    before = tree(big_env, with_root=True)

    _refuse(case, big_env, conda_dirs, conda_run)

    assert_same_tree(big_env, before)
    assert str(big_env) in registered(conda_dirs)
    assert_trash_empty(conda_run, conda_dirs)


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_an_env_conda_refuses_to_remove_is_left_to_conda(case, make_env, conda_run, conda_dirs):
    """README: "Envs conda itself refuses to remove (base, the active env, the default
    activation env) are left to conda": no snapshot, no move, no envguard message."""
    prefix = make_env("E", "gamma")

    result = _refuse(case, prefix, conda_dirs, conda_run)

    assert "envguard" not in result.stderr, result.stderr
    assert snapshots_of(conda_run, "E") == []


# --- killed at any moment: the env is in place, or undo brings it back ----------------------


def _popen_conda(args, tmp_path: Path, name: str) -> subprocess.Popen:
    """`python -m conda ARGS` with stdin left open and never written: it waits at questions."""
    with open(tmp_path / f"{name}.out", "w") as out, open(tmp_path / f"{name}.err", "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "conda", *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=tmp_path,
        )


def _kill(proc: subprocess.Popen) -> None:
    try:
        proc.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)
    proc.stdin.close()


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 60, poll: float = 0.001):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            _kill(proc)
            pytest.fail("the condition never came true")
        time.sleep(poll)
    return True


def _assert_recoverable(prefix: Path, before: dict, conda_run, conda_dirs) -> str:
    """The env is intact in place (and not also in the trash), or `undo` gives it back."""
    if prefix.is_dir() and tree(prefix, with_root=True) == before:
        assert_trash_empty(conda_run, conda_dirs)
        state = "in place"
    else:
        assert trashed_envs_on_disk(conda_dirs), f"{prefix} is neither in place nor in the trash"
        undone = conda_run("envguard", "undo", prefix.name, "-y")
        assert undone.returncode == 0, undone.stdout + undone.stderr
        assert_same_tree(prefix, before)
        state = "in the trash"
    assert str(prefix) in registered(conda_dirs)
    assert str(prefix) in listed_envs(conda_run)
    return state


QUESTIONS = {
    # id: (conda arguments, answers written at once, the question to be killed at)
    "remove-first-question": (("env", "remove", "-n", "E"), b"", "Proceed ([y]/n)?"),
    "remove-second-question": (("env", "remove", "-n", "E"), b"y\n", "Do you wish to continue?"),
    "create-over-it-question": (
        ("create", "-n", "E", "gamma"),
        b"",
        "Remove existing environment?",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", QUESTIONS, ids=list(QUESTIONS))
def test_killed_while_conda_asks(case, big_env, conda_run, conda_dirs, channel_args, tmp_path):
    args, answers, question = QUESTIONS[case]
    if "gamma" in args:
        args = (*args, *channel_args)
    before = tree(big_env, with_root=True)
    out = tmp_path / f"{case}.out"

    proc = _popen_conda(args, tmp_path, case)
    try:
        if answers:
            proc.stdin.write(answers)
            proc.stdin.flush()
        asked = _wait_for(lambda: question in out.read_text(), proc, poll=0.01)
        assert asked, f"conda ended before it asked {question!r}:\n{out.read_text()}"
        time.sleep(0.1)  # conda is blocked on its question
    finally:
        _kill(proc)

    assert (big_env / SHELL_MARKER).is_file()  # a shell stood in its place
    assert not (big_env / "share").exists()
    assert _assert_recoverable(big_env, before, conda_run, conda_dirs) == "in the trash"


@pytest.mark.slow
def test_a_killed_removal_is_listed_as_interrupted(big_env, conda_run, conda_dirs, tmp_path):
    proc = _popen_conda(("env", "remove", "-n", "E"), tmp_path, "remove")
    try:
        assert _wait_for((big_env / SHELL_MARKER).is_file, proc), "conda ended before it asked"
    finally:
        _kill(proc)

    (entry,) = trash_entries(conda_run)
    assert entry["env_name"] == "E" and entry["state"] != "trashed"
    listing = ok(conda_run("envguard", "trash")).stdout
    assert "interrupted" in listing and "undo" in listing


@pytest.mark.slow
def test_purge_while_a_removal_waits_at_its_question_loses_nothing_on_no(
    big_env, conda_run, conda_dirs, tmp_path
):
    """`conda envguard purge --all` in another shell while `conda env remove` still asks:
    answering "n" there must still leave the env as it was."""
    before = tree(big_env, with_root=True)
    out = tmp_path / "remove.out"
    proc = _popen_conda(("env", "remove", "-n", "E"), tmp_path, "remove")
    try:
        asked = _wait_for(lambda: "Proceed ([y]/n)?" in out.read_text(), proc, poll=0.01)
        assert asked, out.read_text()
        conda_run("envguard", "purge", "--all", "-y")
        proc.stdin.write(b"n\n")
        proc.stdin.flush()
        proc.wait(timeout=120)
    finally:
        _kill(proc)
    said = (tmp_path / "remove.err").read_text()

    assert proc.returncode == 0, said
    assert_same_tree(big_env, before, context=f"after answering n (conda said: {said!r}): ")


@pytest.mark.slow
def test_a_killed_purge_is_not_undone_as_if_whole(make_env, conda_run, conda_dirs, tmp_path):
    """A purge killed halfway leaves part of the env in the trash: `undo` must not put that
    back as if it were the env (it may refuse, or give back the whole env)."""
    for attempt, delay in enumerate((0.005, 0.01, 0.02, 0.04, 0.06, 0.1)):
        name = f"P{attempt}"
        prefix = make_env(name, "bigpkg")
        before = tree(prefix, with_root=True)
        remove(conda_run, name)
        (held,) = trashed_envs_on_disk(conda_dirs)
        record = trash_record(conda_dirs, held)

        def purging(record=record) -> bool:
            try:
                return '"purging"' in record.read_text()
            except OSError:
                return False

        proc = _popen_conda(("envguard", "purge", name, "-y"), tmp_path, f"purge{attempt}")
        try:
            _wait_for(purging, proc, poll=0.0002)
            time.sleep(delay)
        finally:
            _kill(proc)
        if held.is_dir() and tree(held, with_root=True) != before:
            break  # killed halfway through the deletion
        ok(conda_run("envguard", "purge", "--all", "-y"))
    else:
        pytest.skip("could not kill a purge halfway through its deletion")

    undone = conda_run("envguard", "undo", name, "-y")

    if undone.returncode == 0:
        assert_same_tree(
            prefix, before, context="undo said the env is back after a killed purge: "
        )
    else:
        clean_error(undone, "purge")


def _lock_taken(conda_dirs, prefix: Path) -> bool:
    return any(p.stat().st_size for p in (conda_dirs.store / "locks").glob("env-*.lock"))


def _snapshot_started(conda_dirs, prefix: Path) -> bool:
    return any((conda_dirs.store / "snapshots").glob(".tmp-*"))


def _trash_record_written(conda_dirs, prefix: Path) -> bool:
    return any((conda_dirs.store / "trash").glob("*.json"))


def _env_moved(conda_dirs, prefix: Path) -> bool:
    return any(conda_dirs.envs.glob(f"{TRASH_DIRNAME}/*/env"))


def _shell_in_place(conda_dirs, prefix: Path) -> bool:
    return (prefix / SHELL_MARKER).is_file()


# Each step of a removal, in order, and where a kill right after it leaves the env: in place,
# in the trash (undo brings it back), or either (the next step may have run before the kill).
KILL_POINTS = {
    "lock-taken": (_lock_taken, "in place"),
    "snapshot-being-written": (_snapshot_started, "in place"),
    "trash-record-written": (_trash_record_written, None),
    "env-moved": (_env_moved, "in the trash"),
    "shell-in-place": (_shell_in_place, "in the trash"),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS, ids=list(KILL_POINTS))
def test_killed_at_any_moment_of_a_removal(point, big_env, conda_run, conda_dirs, tmp_path):
    before = tree(big_env, with_root=True)
    reached, expected = KILL_POINTS[point]

    proc = _popen_conda(("env", "remove", "-n", "E", "-y"), tmp_path, "remove")
    try:
        came = _wait_for(lambda: reached(conda_dirs, big_env), proc, poll=0.0005)
    finally:
        _kill(proc)

    assert came and proc.returncode == -signal.SIGKILL, (tmp_path / "remove.err").read_text()
    state = _assert_recoverable(big_env, before, conda_run, conda_dirs)
    if expected:
        assert state == expected


# Runs conda with an audit hook that watches for the rename of the env (argv[1]) into the
# trash: it notes the trash records as they are at that moment (into argv[2]), and kills the
# process with SIGKILL at its next step, right after the rename.
KILLED_RIGHT_AFTER_THE_MOVE = """
import json, os, runpy, signal, sys
prefix, seen, records = sys.argv[1], sys.argv[2], sys.argv[3]
sys.argv = ["conda", *sys.argv[4:]]
state = "before"

def hook(event, args):
    global state
    if state == "moved":
        state = "killed"
        os.kill(os.getpid(), signal.SIGKILL)
    elif state == "before" and event == "os.rename" and os.fspath(args[0]) == prefix:
        state = "noting"
        found = {}
        for name in sorted(os.listdir(records)) if os.path.isdir(records) else ():
            if name.endswith(".json"):
                with open(os.path.join(records, name)) as f:
                    found[name] = json.load(f)
        with open(seen, "w") as f:
            json.dump(found, f)
        state = "moved"

sys.addaudithook(hook)
runpy.run_module("conda", run_name="__main__", alter_sys=True)
"""


def test_the_trash_record_is_written_before_the_env_moves(
    make_env, conda_run, conda_dirs, tmp_path
):
    """A kill right after the rename into the trash: the record, written before it in the
    `moving` state, keeps track of the env, and undo brings it back."""
    prefix = make_env("E", "alpha")
    before = tree(prefix, with_root=True)
    seen = tmp_path / "records-at-the-rename.json"

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RIGHT_AFTER_THE_MOVE, str(prefix), str(seen),
         str(conda_dirs.store / "trash"), "env", "remove", "-n", "E", "-y"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip

    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert not prefix.exists()
    (record,) = json.loads(seen.read_text()).values()
    assert (record["prefix"], record["state"]) == (str(prefix), "moving")
    (entry,) = trash_entries(conda_run)
    assert entry["env_name"] == "E"
    ok(conda_run("envguard", "undo", "E", "-y"))
    assert_same_tree(prefix, before)


# --- another filesystem: conda removes as usual, the snapshot remains -----------------------


@pytest.fixture
def mounted_prefix(tmpfs, conda_dirs):
    """`<envs>/E` as a tmpfs of its own: the env can't be renamed out of it."""
    return tmpfs(conda_dirs.envs / "E")


@pytest.mark.slow
def test_env_on_its_own_filesystem_is_removed_as_conda_does(
    mounted_prefix, conda_run, conda_dirs, channel_args
):
    prefix = mounted_prefix
    ok(conda_run("create", "-p", prefix, "-y", *channel_args, "beta"))
    assert os.stat(prefix).st_dev != os.stat(prefix.parent).st_dev
    packages_before = conda_list(conda_run, "E")

    removed = conda_run("env", "remove", "-n", "E", "-y")

    ok(removed)
    lines = [line for line in removed.stderr.splitlines() if "can't be moved to the trash" in line]
    assert len(lines) == 1, removed.stderr
    (snapshot,) = snapshots_of(conda_run, "E")
    assert str(prefix) in lines[0] and snapshot["id"] in lines[0]
    assert snapshot["trigger"] == "remove"
    # conda removed it as usual: nothing of the env is left, nothing is held
    assert not (prefix / "conda-meta").exists() and not (prefix / "share").exists()
    assert str(prefix) not in listed_envs(conda_run)
    assert_trash_empty(conda_run, conda_dirs)
    # and, as the line says, the snapshot can restore it
    report = json.loads(ok(conda_run("envguard", "restore", "E", "-y", "--json")).stdout)
    assert report["method"] == "explicit" and report["exact"] is True
    assert conda_list(conda_run, "E") == packages_before


# --- envguard_trash_days = 0: snapshots only -------------------------------------------------


@pytest.mark.parametrize("how", ["variable", "condarc"])
def test_trash_days_zero_keeps_a_snapshot_and_no_trash(how, make_env, conda_run, conda_dirs):
    prefix = make_env("E", "beta")
    env = {}
    if how == "variable":
        env["CONDA_PLUGINS_ENVGUARD_TRASH_DAYS"] = "0"
    else:
        ok(conda_run("config", "--set", "plugins.envguard_trash_days", "0"))

    removed = ok(conda_run("env", "remove", "-n", "E", "-y", env=env))

    assert not prefix.exists()
    assert "in the trash" not in removed.stderr
    assert not (conda_dirs.envs / TRASH_DIRNAME).exists()
    assert_trash_empty(conda_run, conda_dirs)
    (snapshot,) = snapshots_of(conda_run, "E")
    assert snapshot["trigger"] == "remove" and snapshot["counts"]["conda"] == 2
    clean_error(conda_run("envguard", "undo", "E", "-y"), "holds no removed environment")


# --- purge and expiry ------------------------------------------------------------------------


@pytest.fixture
def two_trashed(make_env, conda_run, conda_dirs) -> dict[str, Path]:
    """envs A and B, removed: each held in the trash. Returns name -> its env dir in the trash."""
    held = {}
    for name in ("A", "B"):
        make_env(name, "gamma")
        remove(conda_run, name)
        (new,) = set(trashed_envs_on_disk(conda_dirs)) - set(held.values())
        held[name] = new
    return held


def _edit_record(conda_dirs, env_dir: Path, **fields) -> None:
    record = trash_record(conda_dirs, env_dir)
    data = json.loads(record.read_text())
    data.update(fields)
    record.write_text(json.dumps(data))


def _days_ago(days: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")


def _assert_purged(conda_dirs, env_dir: Path) -> None:
    assert not env_dir.parent.exists(), f"{env_dir.parent} still holds its space"
    assert not trash_record(conda_dirs, env_dir).exists()


def test_purge_one_env(two_trashed, conda_run, conda_dirs):
    result = ok(conda_run("envguard", "purge", "A", "-y", "--json"))

    report = json.loads(result.stdout)
    assert [e["env_name"] for e in report["purged"]] == ["A"]
    assert report["freed_bytes"] > 0
    _assert_purged(conda_dirs, two_trashed["A"])
    assert trashed_envs_on_disk(conda_dirs) == [two_trashed["B"]]
    clean_error(conda_run("envguard", "undo", "A", "-y"), "holds no removed environment")
    # the snapshot stays: purge frees the trash only
    assert [s["trigger"] for s in snapshots_of(conda_run, "A")] == ["remove"]


def test_purge_all(two_trashed, conda_run, conda_dirs):
    ok(conda_run("envguard", "purge", "--all", "-y"))

    for env_dir in two_trashed.values():
        _assert_purged(conda_dirs, env_dir)
    assert_trash_empty(conda_run, conda_dirs)
    assert len(snapshots_of(conda_run, "A")) == len(snapshots_of(conda_run, "B")) == 1


def test_purge_older_than(two_trashed, conda_run, conda_dirs):
    _edit_record(conda_dirs, two_trashed["A"], trashed_at=_days_ago(5))

    ok(conda_run("envguard", "purge", "--older-than", "3", "-y"))

    _assert_purged(conda_dirs, two_trashed["A"])
    assert trashed_envs_on_disk(conda_dirs) == [two_trashed["B"]]


def test_purge_dry_run_changes_nothing(two_trashed, conda_run, conda_dirs):
    before = {name: tree(env_dir, with_root=True) for name, env_dir in two_trashed.items()}
    records = {p.name: p.read_bytes() for p in (conda_dirs.store / "trash").iterdir()}

    result = ok(conda_run("envguard", "purge", "--all", "--dry-run"))

    assert "Would purge" in result.stdout
    assert "A" in result.stdout and "B" in result.stdout
    for name, env_dir in two_trashed.items():
        assert_same_tree(env_dir, before[name])
    assert {p.name: p.read_bytes() for p in (conda_dirs.store / "trash").iterdir()} == records
    ok(conda_run("envguard", "undo", "A", "-y"))  # still undoable


def test_purge_without_a_target_says_what_to_give(two_trashed, conda_run, conda_dirs):
    result = conda_run("envguard", "purge", "-y")

    assert result.returncode != 0
    assert "--all" in result.stderr and "Traceback" not in result.stderr
    assert len(trashed_envs_on_disk(conda_dirs)) == 2


def test_purge_expired(two_trashed, conda_run, conda_dirs):
    _edit_record(conda_dirs, two_trashed["A"], expires_at=_days_ago(1 / 24))

    ok(conda_run("envguard", "purge", "--expired", "-y"))

    _assert_purged(conda_dirs, two_trashed["A"])
    assert trashed_envs_on_disk(conda_dirs) == [two_trashed["B"]]


@pytest.mark.slow
def test_expired_entries_are_purged_in_the_background_once_a_day(
    two_trashed, make_env, conda_run, conda_dirs, channel_args
):
    _edit_record(conda_dirs, two_trashed["A"], expires_at=_days_ago(1))
    stamp = conda_dirs.store / ".last-expiry"
    two_days_ago = time.time() - 2 * 86400
    os.utime(stamp, (two_days_ago, two_days_ago))

    # any guarded command that completes starts the daily job
    ok(conda_run("create", "-n", "C", "-y", *channel_args, "gamma"))

    deadline = time.monotonic() + 60
    while two_trashed["A"].parent.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    _assert_purged(conda_dirs, two_trashed["A"])
    assert trashed_envs_on_disk(conda_dirs) == [two_trashed["B"]]
    assert stamp.stat().st_mtime > two_days_ago + 86400


# --- the trash is out of conda's sight -------------------------------------------------------


def test_trashed_envs_never_show_and_their_name_is_free(
    make_env, conda_run, conda_dirs, channel_args
):
    old = make_env("E", "beta")
    before = tree(old, with_root=True)
    remove(conda_run, "E")

    def in_sight() -> list[str]:
        text = ok(conda_run("env", "list")).stdout + json.dumps(listed_envs(conda_run))
        mine = str(conda_dirs.envs)
        return [line for line in text.splitlines() if TRASH_DIRNAME in line or mine in line]

    assert in_sight() == []

    ok(conda_run("create", "-n", "E", "-y", *channel_args, "gamma"))

    assert {p["name"] for p in conda_list(conda_run, "E")} == {"gamma"}
    assert str(old) in listed_envs(conda_run)
    assert not any(TRASH_DIRNAME in p for p in listed_envs(conda_run))
    # the old E is still held, untouched
    (held,) = trashed_envs_on_disk(conda_dirs)
    assert_same_tree(held, before)
