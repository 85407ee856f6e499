"""What envguard says and does is true: a dry run changes nothing, a reader never turns a
removal into a deletion, a fallback that deletes says so first and never takes the user's own
files, and a report states only what happened.

Every check drives real conda in child processes (`python -m conda`), as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from envguard_testsupport.checks import (
    TRASH_DIRNAME,
    assert_same_tree,
    ok,
    remove,
    snapshots_of,
    trashed_envs_on_disk,
    tree,
    tree_state,
)

pytestmark = pytest.mark.usefixtures("no_background_expiry")

DAY = 86400


def age(prefix: Path, days: float) -> None:
    """Make the env look unchanged for `days` days (see test_clean)."""
    then = time.time() - days * DAY
    os.utime(prefix / "conda-meta" / "history", (then, then))


def trash_json(conda_run) -> dict:
    return json.loads(ok(conda_run("envguard", "trash", "--json")).stdout)


def record_of(conda_dirs, env_dir: Path) -> Path:
    return conda_dirs.store / "trash" / f"{env_dir.parent.name}.json"


def edit_record(record: Path, **fields) -> None:
    data = json.loads(record.read_text())
    data.update(fields)
    record.write_text(json.dumps(data))


# --- 1. a dry run changes nothing ------------------------------------------------------------


def test_purge_expired_dry_run_deletes_no_snapshot_and_lists_what_a_real_run_would(
    make_env, conda_run, conda_dirs
):
    """`purge --expired` also applies envguard_keep: a dry run lists those snapshots too,
    and deletes none of them."""
    make_env("E", "alpha")
    for _ in range(4):
        ok(conda_run("envguard", "snapshot", "-n", "E", "--force"))
    keep2 = {"CONDA_PLUGINS_ENVGUARD_KEEP": "2"}
    ids = [s["id"] for s in snapshots_of(conda_run, "E")]
    ok(conda_run("envguard", "list"))  # the store's listing cache is written by any reader
    store_before = tree_state(conda_dirs.store)

    result = ok(conda_run("envguard", "purge", "--expired", "--dry-run", env=keep2))

    assert [s["id"] for s in snapshots_of(conda_run, "E")] == ids
    assert tree_state(conda_dirs.store) == store_before
    assert "Nothing to purge" not in result.stdout
    assert "Would delete 2 snapshot(s) beyond envguard_keep" in result.stdout
    assert ids[0] in result.stdout and ids[1] in result.stdout and ids[2] not in result.stdout

    dry = json.loads(
        ok(conda_run("envguard", "purge", "--expired", "--dry-run", "--json", env=keep2)).stdout
    )
    assert dry["dry_run"] is True and dry["pruned"] == ids[:2]

    real = json.loads(
        ok(conda_run("envguard", "purge", "--expired", "-y", "--json", env=keep2)).stdout
    )
    assert real["pruned"] == ids[:2]
    assert [s["id"] for s in snapshots_of(conda_run, "E")] == ids[2:]


@pytest.fixture
def scene(make_env, conda_run, conda_dirs):
    """Envs for every verb: E (with snapshots), R in the trash, an old temporary env."""
    make_env("E", "alpha")
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    ok(conda_run("envguard", "snapshot", "-n", "E", "--force"))
    make_env("R", "gamma")
    remove(conda_run, "R")
    age(make_env("old-tmp", "alpha"), 30)
    # a record of a killed move (dead process): only a real run may tidy it away
    moving = conda_dirs.envs / TRASH_DIRNAME / "20200101-000000-E-dead"
    moving.mkdir()
    record = {
        "id": moving.name,
        "prefix": str(conda_dirs.envs / "E"),
        "env_name": "E",
        "location": str(moving),
        "trashed_at": "2020-01-01T00:00:00+00:00",
        "expires_at": "2020-01-08T00:00:00+00:00",
        "state": "moving",
        "pid": 2**22 + 1,  # above any pid Linux gives out
    }
    (conda_dirs.store / "trash" / f"{moving.name}.json").write_text(json.dumps(record))
    ok(conda_run("envguard", "list"))  # the store's listing cache, written by any reader
    return conda_dirs


DRY_RUNS = {
    "purge --all": ("envguard", "purge", "--all"),
    "purge ENV": ("envguard", "purge", "R"),
    "purge --expired": ("envguard", "purge", "--expired"),
    "purge --older-than": ("envguard", "purge", "--older-than", "0"),
    "prune": ("envguard", "prune", "--keep", "1"),
    "clean": ("envguard", "clean"),
    "undo": ("envguard", "undo", "R"),
    "undo --force": ("envguard", "undo", "R", "--force"),
    "restore -n NEW": ("envguard", "restore", "E", "-n", "E2"),
    "restore --force": ("envguard", "restore", "E", "--force"),
    "conda remove --all": ("remove", "-n", "E", "--all"),
    "conda env remove": ("env", "remove", "-n", "E"),
    "conda install": ("install", "-n", "E", "gamma"),
    "conda remove PKG": ("remove", "-n", "E", "alpha"),
    "conda update": ("update", "-n", "E", "alpha"),
    "conda create NEW": ("create", "-n", "N", "gamma"),
    "conda create over E": ("create", "-n", "E", "gamma"),
    "conda rename": ("rename", "-n", "E", "E3"),
    "snapshot --all --force": ("envguard", "snapshot", "--all", "--force"),
    "protect": ("envguard", "protect", "-n", "E", "--reason", "r"),
    "unprotect": ("envguard", "unprotect", "-n", "E"),
    "freeze": ("envguard", "freeze", "-n", "E", "--reason", "r"),
    "unfreeze": ("envguard", "unfreeze", "-n", "E"),
    "export": ("envguard", "export", "E", "-o", "{home}/E.envguard", "--with-packages"),
    "import": ("envguard", "import", "{home}/E-copy.envguard"),
    "sync": ("envguard", "sync"),
}


@pytest.mark.parametrize("case", DRY_RUNS, ids=list(DRY_RUNS))
def test_every_dry_run_writes_and_deletes_nothing(case, scene, conda_run, channel_args):
    """Not an env, not the store (snapshots, trash records, locks), not conda's registry."""
    args = DRY_RUNS[case]
    if args[0] in ("install", "update", "create"):
        args = (*args, *channel_args)
    if args[:2] == ("envguard", "undo") and "--force" in args:
        # an env occupies R's place, so --force has something to replace
        shutil.copytree(scene.envs / "E", scene.envs / "R", symlinks=True)
    args = tuple(str(a).replace("{home}", str(scene.home)) for a in args)
    env = {}
    if args[:2] == ("envguard", "import"):  # a bundle of another store's snapshot
        other = {"CONDA_PLUGINS_ENVGUARD_STORE": str(scene.root / "other-store")}
        ok(conda_run("envguard", "snapshot", "-n", "E", "--force", env=other))
        ok(conda_run("envguard", "export", "E", "-o", args[2], env=other))
    if args[:2] == ("envguard", "sync"):  # a history set up after E's snapshots: all to commit
        subprocess.run(["git", "init", "-q", str(scene.home / "history")], check=True)
        env = {"CONDA_PLUGINS_ENVGUARD_GIT": str(scene.home / "history")}
    watched = {"envs": scene.envs, "store": scene.store, "home": scene.home}

    def state(name: str) -> dict:
        """Every path's type, mode, mtime and content: a file rewritten as it was shows too.
        A dir's own mtime is left out (what changed in it shows by name), and so is what
        conda itself writes on a dry run: its notices cache and its envs-dir write test."""
        found = tree_state(watched[name], with_root=False)
        return {
            k: (v[:2] if v[0] == "dir" else v)
            for k, v in found.items()
            if not k.startswith(".cache") and k != ".conda_envs_dir_test"
        }

    before = {name: state(name) for name in watched}

    result = conda_run(*args, "--dry-run", "-y", env=env)

    assert "Traceback" not in result.stderr, result.stderr
    if args[0] == "envguard":  # a dry run the verb knows, not a refusal of the option
        assert result.returncode == 0, result.stderr
    for name in watched:
        after = state(name)
        changed = sorted(
            k for k in before[name].keys() | after.keys() if before[name].get(k) != after.get(k)
        )
        assert not changed, f"{name} changed by `{' '.join(args)} --dry-run`: {changed[:8]}"


# --- 4. a reader never turns a removal into a deletion ---------------------------------------

# A removal's first half, as `Trash.move_in` does it: the entry's directory, then the record
# (state "moving"); then it waits for a line on stdin before the rename that finishes it.
# Between the two, any reader may run.
MOVER = """
import os, sys
from datetime import datetime, timezone
from pathlib import Path
from conda_envguard.trash import Trash, TrashEntry, process_start

prefix, store, entry_id = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
location = prefix.parent / ".envguard-trash" / entry_id
now = datetime.now(timezone.utc).isoformat(timespec="seconds")
entry = TrashEntry(
    id=entry_id, prefix=str(prefix), env_name=prefix.name, location=str(location),
    trashed_at=now, expires_at=now, pid=os.getpid(), pid_start=process_start(os.getpid()),
)
location.mkdir(mode=0o700, parents=True)
Trash(store).save(entry)
print("saved", flush=True)
sys.stdin.readline()
os.rename(prefix, entry.env_dir)
print("moved", flush=True)
sys.stdin.readline()
"""


def test_readers_leave_a_live_removal_between_its_record_and_its_rename_alone(
    make_env, conda_run, conda_dirs
):
    prefix = make_env("E", "alpha")
    before = tree(prefix, with_root=True)
    other = make_env("O", "alpha")
    entry_id = "20261201-120000-E-beef"
    mover = subprocess.Popen(
        [sys.executable, "-c", MOVER, str(prefix), str(conda_dirs.store), entry_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert mover.stdout.readline().strip() == "saved"
        # every reader of the trash, as users (and the daily job) run them
        for reader in (
            ("envguard", "trash"),
            ("envguard", "status"),
            ("envguard", "verify", "--all"),
            ("envguard", "purge", "--all", "-y"),
            ("envguard", "purge", "--expired", "-y"),
            ("envguard", "prune", "-y"),
            ("doctor", "-p", str(other)),
        ):
            result = conda_run(*reader)
            assert "Traceback" not in result.stderr, result.stderr
            assert record_of(
                conda_dirs, prefix.parent / TRASH_DIRNAME / entry_id / "env"
            ).is_file(), reader
            assert (prefix.parent / TRASH_DIRNAME / entry_id).is_dir(), reader
        mover.stdin.write("\n")
        mover.stdin.flush()
        assert mover.stdout.readline().strip() == "moved"  # the rename worked
    finally:
        mover.stdin.close()
        mover.wait(timeout=60)
    assert mover.returncode == 0

    # the mover is gone: its entry is an interrupted removal, and undo puts the env back
    ok(conda_run("envguard", "undo", "E", "-y"))
    assert_same_tree(prefix, before)


def test_a_killed_removal_whose_pid_went_to_another_program_is_not_in_use(
    make_env, conda_run, conda_dirs, tmp_path
):
    """A removal killed at conda's question; the system then gives its pid to some other
    program. envguard must not take that program for the removal."""
    prefix = make_env("E", "alpha")
    before = tree(prefix, with_root=True)
    _killed_at_question(tmp_path)
    (held,) = trashed_envs_on_disk(conda_dirs)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        edit_record(record_of(conda_dirs, held), pid=other.pid)  # the pid, re-used

        listing = ok(conda_run("envguard", "trash")).stdout
        assert "interrupted" in listing and "being removed" not in listing
        purge = ok(conda_run("envguard", "purge", "E", "--dry-run"))
        assert "removing it right now" not in purge.stderr
        assert "Would purge" in purge.stdout
        ok(conda_run("envguard", "undo", "E", "-y"))
    finally:
        other.kill()
        other.wait()
    assert_same_tree(prefix, before)


# --- 6. a fallback that deletes says so first, and never takes the user's own files ---------


@pytest.fixture
def env_on_its_own_filesystem(tmpfs, conda_dirs, conda_run, channel_args) -> Path:
    """`<envs>/E` on a tmpfs of its own (it can't be renamed into the trash), snapshotted."""
    prefix = tmpfs(conda_dirs.envs / "E")
    ok(conda_run("create", "-p", prefix, "-y", *channel_args, "beta"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    return prefix


@pytest.mark.slow
def test_restore_force_says_it_deletes_an_env_it_cant_trash(env_on_its_own_filesystem, conda_run):
    prefix = env_on_its_own_filesystem

    result = ok(conda_run("envguard", "restore", "E", "--force", "-y"))

    said = result.stderr
    assert f"envguard: deleting {prefix}, as it can't be moved to the trash" in said, said
    assert "moved it to envguard's trash" not in said
    assert (prefix / "conda-meta").is_dir()  # and the restore went on


@pytest.mark.slow
def test_restore_force_never_deletes_the_users_own_files_it_cant_trash(
    env_on_its_own_filesystem, conda_run
):
    """envguard_unowned_files=trash lets them go *to the trash*: when the env can't go there,
    they must not be deleted instead."""
    prefix = env_on_its_own_filesystem
    (prefix / "notes.txt").write_text("three weeks of results\n")
    before = tree(prefix, with_root=True)

    result = conda_run(
        "envguard",
        "restore",
        "E",
        "--force",
        "-y",
        env={"CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES": "trash"},
    )

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "notes.txt" in result.stderr and "Nothing was deleted" in result.stderr
    assert_same_tree(prefix, before)


@pytest.mark.slow
def test_a_removal_that_cant_use_the_trash_never_deletes_the_users_own_files(
    env_on_its_own_filesystem, conda_run
):
    """conda's own removal, the same fallback: files let go *to the trash* are not deleted
    when the env can't go there."""
    prefix = env_on_its_own_filesystem
    (prefix / "notes.txt").write_text("three weeks of results\n")
    before = tree(prefix, with_root=True)

    result = conda_run(
        "env", "remove", "-n", "E", "-y", env={"CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES": "trash"}
    )

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "notes.txt" in result.stderr and "Nothing was changed" in result.stderr
    assert_same_tree(prefix, before)


@pytest.mark.parametrize("trash_days", ["7", "0"])
def test_clean_stops_at_files_no_package_installed(trash_days, make_env, conda_run):
    """`clean` is a removal like any other: envguard_unowned_files (block) applies to it,
    whether the env would go to the trash or, with the trash off, be deleted."""
    prefix = make_env("old-tmp", "alpha")
    (prefix / "thesis").mkdir()
    (prefix / "thesis" / "chapter1.tex").write_text("\\chapter{One}\n")
    age(prefix, 30)
    before = tree(prefix, with_root=True)
    days = {"CONDA_PLUGINS_ENVGUARD_TRASH_DAYS": trash_days}

    dry = ok(conda_run("envguard", "clean", "--dry-run", env=days))
    result = ok(conda_run("envguard", "clean", "-y", env=days))

    for said in (dry.stdout, result.stdout):  # the dry run says what the real run does
        assert "Nothing to clean" in said and "old-tmp, it holds 1 file(s)" in said, said
        assert "thesis/chapter1.tex" in said
    assert_same_tree(prefix, before)

    if trash_days == "7":  # let them go to the trash, on purpose: undo brings them back
        let_go = {**days, "CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES": "trash"}
        ok(conda_run("envguard", "clean", "-y", env=let_go))
        assert not prefix.exists()
        ok(conda_run("envguard", "undo", "old-tmp", "-y"))
        assert_same_tree(prefix, before)


# --- 7. reports state only what happened -----------------------------------------------------


def test_an_env_clean_removed_and_purge_deleted_is_not_lost(make_env, conda_run):
    """`status` and `conda doctor` report envs "deleted behind conda's back": one that
    envguard itself removed (clean) and purged is not one."""
    age(make_env("old-tmp", "alpha"), 30)
    other = make_env("O", "gamma")  # not alpha: an env with its very packages is taken for it
    ok(conda_run("envguard", "clean", "-y"))
    ok(conda_run("envguard", "purge", "old-tmp", "-y"))

    assert json.loads(ok(conda_run("envguard", "status", "--json")).stdout)["lost"] == []
    doctor = conda_run("doctor", "-p", str(other))
    assert "old-tmp" not in doctor.stdout + doctor.stderr


@pytest.fixture
def undeletable(conda_dirs):
    """`undeletable(path)`: make a file immutable (chattr +i: even root can't delete it),
    undone after the test. Skips where that can't be done."""
    made = []

    def make(path: Path) -> None:
        if shutil.which("chattr") is None:
            pytest.skip("no chattr to make a file undeletable with")
        result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot make a file immutable here: {result.stderr.strip()}")
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_purge_counts_only_what_it_deleted_and_says_what_it_could_not(
    make_env, conda_run, conda_dirs, undeletable
):
    make_env("E", "bigpkg")
    remove(conda_run, "E")
    (held,) = trashed_envs_on_disk(conda_dirs)
    stuck = held / "share" / "results.bin"
    stuck.write_bytes(os.urandom(256 * 1024))
    undeletable(stuck)
    size = trash_json(conda_run)["entries"][0]["size_bytes"] or 0

    result = conda_run("envguard", "purge", "E", "-y", "--json")

    assert result.returncode == 1 and "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["purged"] == []
    (left,) = report["not_purged"]
    assert left["left_bytes"] >= 256 * 1024
    assert report["freed_bytes"] <= size - 256 * 1024
    assert stuck.exists()
    # the trash still shows it, as what it is now
    (entry,) = trash_json(conda_run)["entries"]
    assert entry["state"] == "purging"
    assert "partly purged" in ok(conda_run("envguard", "trash")).stdout
    again = conda_run("envguard", "purge", "E", "-y")
    assert again.returncode == 1
    assert "Could not delete all of 'E'" in again.stdout and str(held.parent) in again.stdout
    assert "Freed 0 B." in again.stdout  # what was left is what is still there


HOLDER = """
import sys, time
from conda_envguard.locks import hold
with hold(sys.argv[1], "sequence", "test"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""

TAKER = """
import sys
from conda_envguard.order import next_stamp
print(*[next_stamp(sys.argv[1]) for _ in range(int(sys.argv[2]))])
"""


@pytest.mark.slow
def test_stamps_never_tie_nor_go_back_while_the_sequence_is_busy(conda_dirs):
    """Many processes take stamps while another holds the store's sequence for longer than
    envguard used to wait, after the clock was set back an hour (the last stamp is ahead
    of it): every stamp still differs from every other and follows the last one."""
    store = conda_dirs.store
    store.mkdir(parents=True, exist_ok=True)
    ahead = time.time_ns() + 3600 * 10**9
    (store / "sequence").write_text(f"{ahead}\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store), "12"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    takers = [
        subprocess.Popen(
            [sys.executable, "-c", TAKER, str(store), "50"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    runs = [list(map(int, p.communicate(timeout=120)[0].split())) for p in takers]
    holder.wait(timeout=60)

    assert all(p.returncode == 0 for p in takers)
    assert all(run == sorted(run) and len(run) == 50 for run in runs)
    every = [stamp for run in runs for stamp in run]
    assert len(set(every)) == len(every)
    assert min(every) > ahead


# --- sweep: what undo can't put back is kept, and said --------------------------------------


def test_undo_keeps_a_kernelspec_it_cant_put_back_and_says_where(make_env, conda_run):
    lab = make_env("lab", "alpha")  # the env Jupyter runs from
    work = make_env("work", "gamma")  # the env the kernel starts
    kernels = lab / "share" / "jupyter" / "kernels"
    (kernels / "work").mkdir(parents=True)
    spec = {"argv": [f"{work}/bin/python", "-m", "ipykernel_launcher"], "display_name": "work"}
    (kernels / "work" / "kernel.json").write_text(json.dumps(spec))
    ok(conda_run("env", "remove", "-n", "work", "-y"))
    shutil.rmtree(kernels)
    kernels.write_text("not a directory\n")  # where the kernelspec went, something else is

    undone = ok(conda_run("envguard", "undo", "work", "-y"))

    assert (work / "conda-meta").is_dir()
    said = [line for line in undone.stderr.splitlines() if "kernelspecs could not" in line]
    assert len(said) == 1, undone.stderr
    held = Path(said[0].rsplit(" is in ", 1)[1].strip())
    (kept,) = held.glob("*/kernel.json")
    assert json.loads(kept.read_text()) == spec


def _error_hints_supported() -> bool:
    from conda.plugins.hookspec import CondaSpecs

    return hasattr(CondaSpecs, "conda_error_hints")


@pytest.mark.skipif(not _error_hints_supported(), reason="this conda has no conda_error_hints")
def test_conda_error_hint_never_points_at_an_undo_that_would_refuse(
    make_env, conda_run, conda_dirs
):
    """A partly purged entry can't be undone (undo says so): conda's error on the missing
    env points at restore instead."""
    make_env("E", "gamma")
    remove(conda_run, "E")
    (held,) = trashed_envs_on_disk(conda_dirs)
    edit_record(record_of(conda_dirs, held), state="purging")
    assert conda_run("envguard", "undo", "E", "-y").returncode != 0

    result = conda_run("list", "-n", "E")

    assert "conda envguard undo" not in result.stderr
    assert "conda envguard restore E" in result.stderr


@pytest.mark.slow
def test_purge_on_a_full_store_says_so_and_keeps_the_entry(tmpfs, make_env, conda_run, conda_dirs):
    store = tmpfs(conda_dirs.store, size="2M")
    store.chmod(0o700)  # a tmpfs root is 1777: a store others could write is refused
    (store / ".last-expiry").touch()  # no background job races this test
    make_env("E", "gamma")
    remove(conda_run, "E")
    (held,) = trashed_envs_on_disk(conda_dirs)
    before = tree(held, with_root=True)
    with open(store / "filler", "wb") as f:  # the store's disk, full
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass

    result = conda_run("envguard", "purge", "E", "-y")

    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "purging 'E' failed: No space left on device" in result.stderr
    assert "Freed 0 B." in result.stdout and "Could not delete all of 'E'" in result.stdout
    assert_same_tree(held, before)
    (store / "filler").unlink()
    ok(conda_run("envguard", "undo", "E", "-y"))


def _killed_at_question(tmp_path: Path) -> None:
    """`conda env remove -n E`, killed while it asks: the env in the trash, a shell at E."""
    with open(tmp_path / "remove.out", "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conda", "env", "remove", "-n", "E"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 120
        while "Proceed" not in (tmp_path / "remove.out").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, "conda never asked"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdin.close()


def test_undo_keeps_files_put_into_the_stand_in_of_a_killed_removal(
    make_env, conda_run, conda_dirs, tmp_path
):
    prefix = make_env("E", "alpha")
    _killed_at_question(tmp_path)
    (prefix / "saved-while-it-was-gone.txt").write_text("mine\n")

    undone = ok(conda_run("envguard", "undo", "E", "-y"))

    kept = list(conda_dirs.envs.glob(".E.envguard-shell-*/saved-while-it-was-gone.txt"))
    assert [p.read_text() for p in kept] == ["mine\n"]
    assert "saved-while-it-was-gone.txt" in undone.stderr and str(kept[0].parent) in undone.stderr
    assert (prefix / "conda-meta").is_dir()
    assert not (kept[0].parent / "conda-meta").exists()  # no env for conda to list there


@pytest.mark.parametrize("trash_days", ["7", "0"])
def test_a_force_plan_says_whether_the_env_it_replaces_is_trashed_or_deleted(
    trash_days, make_env, conda_run, conda_dirs
):
    make_env("E", "alpha")
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    days = {"CONDA_PLUGINS_ENVGUARD_TRASH_DAYS": trash_days}
    make_env("R", "gamma")
    remove(conda_run, "R")
    shutil.copytree(conda_dirs.envs / "E", conda_dirs.envs / "R", symlinks=True)

    restore = ok(conda_run("envguard", "restore", "E", "--force", "--dry-run", env=days))
    undo = ok(conda_run("envguard", "undo", "R", "--force", "--dry-run", env=days))

    for said in (restore.stdout, undo.stdout):
        if trash_days == "0":
            assert "then deleted, as envguard's trash is off" in said, said
            assert "moved to the trash" not in said
        else:
            assert "snapshotted and moved to the trash first" in said, said


def test_unreadable_trash_records_are_not_an_empty_trash(make_env, conda_run, conda_dirs):
    make_env("E", "alpha")
    remove(conda_run, "E")
    records = conda_dirs.store / "trash"
    shutil.move(records, conda_dirs.root / "records-aside")
    records.write_text("not a directory\n")
    records.chmod(0o600)

    listing = ok(conda_run("envguard", "trash"))
    verify = conda_run("envguard", "verify", "--all")

    assert "The trash is empty" not in listing.stdout
    assert "can read" in listing.stdout and str(records) in listing.stdout
    assert verify.returncode == 1 and str(records) in verify.stdout
