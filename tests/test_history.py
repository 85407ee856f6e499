"""History: the state an env had before each change, and what can be done with it.

`conda install`, `update`, `remove PKG` and `env update` first record the env's state as a
snapshot (only when it changed since the last one); `diff` compares states, `restore` goes
back to one (`--snapshot`, `--at`), `prune` and the automatic retention drop old ones,
`conda doctor` reports on them, and conda's own "environment not found" error points at
`undo` / `restore`.

Everything runs real conda on the suite's local channel. Expectations are read from the files
themselves (the env's `conda-meta/*.json`, a snapshot's `snapshot.json`, `packages.json` and
`explicit.txt`), not from envguard's own reading of them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from envguard_testsupport.checks import env_packages, set_created, take_snapshot

from conda_envguard.testing.channel import Pkg, build_channel, channel_url

# --- helpers -------------------------------------------------------------------------------


def env_files(prefix: Path) -> set[str]:
    """The package archives the env holds, e.g. {'alpha-1.0-0'}."""
    return {p.stem for p in (prefix / "conda-meta").glob("*.json")}


def snapshots(store: Path, env: str | None = None) -> list[dict]:
    """Every snapshot in the store (its snapshot.json, plus `path`), oldest first."""
    root = store / "snapshots"
    out = []
    for path in sorted(root.iterdir()) if root.is_dir() else ():
        if path.name.startswith(".") or not (path / "snapshot.json").is_file():
            continue
        meta = json.loads((path / "snapshot.json").read_text())
        meta["path"] = path
        if env is None or meta["env_name"] == env:
            out.append(meta)
    return sorted(out, key=lambda m: m["created"])


def snapshot_ids(store: Path, env: str | None = None) -> set[str]:
    return {m["id"] for m in snapshots(store, env)}


def snap_packages(store: Path, snap_id: str) -> dict[str, str]:
    data = json.loads((store / "snapshots" / snap_id / "packages.json").read_text())
    return {p["name"]: p["version"] for p in data["packages"]}


def snap_lock(store: Path, snap_id: str) -> set[str]:
    """The package archives an explicit lock names, e.g. {'alpha-1.0-0'}."""
    text = (store / "snapshots" / snap_id / "explicit.txt").read_text()
    names = set()
    for line in text.splitlines():
        if line.startswith(("#", "@")) or not line.strip():
            continue
        names.add(line.split("#")[0].rsplit("/", 1)[-1].removesuffix(".tar.bz2"))
    return names


def seed(cli, store: Path, name: str, ages_days: list[float]) -> list[str]:
    """Snapshots of env `name` taken `ages_days` ago (oldest first in the list given)."""
    now = datetime.now(timezone.utc)
    ids = []
    for age in ages_days:
        snap_id = take_snapshot(cli, "-n", name)
        set_created(store, snap_id, now - timedelta(days=age))
        ids.append(snap_id)
    return ids


def history_snapshot(store: Path, env: str) -> dict:
    found = snapshots(store, env)
    assert len(found) == 1, f"expected one snapshot of {env}, found {found}"
    return found[0]


# --- recording the state before a change --------------------------------------------------


@pytest.mark.parametrize("target", ["name", "prefix"])
def test_install_records_the_state_before_it(cli, make_env, channel_args, conda_dirs, target):
    prefix = make_env("inst", "alpha=1.0")
    before = env_files(prefix)
    where = ("-n", "inst") if target == "name" else ("-p", str(prefix))

    cli("install", *where, *channel_args, "gamma", "-y")

    assert env_packages(prefix) == {"alpha": "1.0", "gamma": "1.0"}  # the install happened
    snap = history_snapshot(conda_dirs.store, "inst")
    assert snap["trigger"] == "install"
    assert snap["prefix"] == str(prefix)
    assert snap_packages(conda_dirs.store, snap["id"]) == {"alpha": "1.0"}
    assert snap_lock(conda_dirs.store, snap["id"]) == before
    assert snap["counts"] == {"conda": 1, "pip": 0}


def test_update_records_the_state_before_it(cli, make_env, channel_args, conda_dirs):
    prefix = make_env("upd", "alpha=1.0", "gamma")

    cli("update", "-n", "upd", *channel_args, "alpha", "-y")

    assert env_packages(prefix) == {"alpha": "2.0", "gamma": "1.0"}
    snap = history_snapshot(conda_dirs.store, "upd")
    assert snap["trigger"] == "update"
    assert snap_packages(conda_dirs.store, snap["id"]) == {"alpha": "1.0", "gamma": "1.0"}
    assert snap_lock(conda_dirs.store, snap["id"]) == {"alpha-1.0-0", "gamma-1.0-0"}


def test_removing_a_package_records_the_state_before_it(cli, make_env, conda_dirs):
    prefix = make_env("rmpkg", "alpha", "gamma")

    cli("remove", "-n", "rmpkg", "gamma", "-y")

    assert env_packages(prefix) == {"alpha": "2.0"}
    snap = history_snapshot(conda_dirs.store, "rmpkg")
    assert snap["trigger"] == "remove"
    assert snap_packages(conda_dirs.store, snap["id"]) == {"alpha": "2.0", "gamma": "1.0"}
    # removing a package is a change, not a removal of the env: nothing went to the trash
    assert not (conda_dirs.envs / ".envguard-trash").exists()
    assert not list((conda_dirs.store / "trash").glob("*.json"))


@pytest.mark.parametrize("how", ["-n", "-p", "name in file"])
def test_env_update_records_the_state_before_it(cli, make_env, channel, conda_dirs, tmp_path, how):
    prefix = make_env("envupd", "alpha=1.0")
    header = "name: envupd\n" if how == "name in file" else ""
    env_file = tmp_path / "environment.yml"
    env_file.write_text(
        header + f"channels:\n  - {channel.url}\n  - nodefaults\n"
        "dependencies:\n  - alpha=1.0\n  - gamma\n"
    )

    args = {"-n": ("-n", "envupd"), "-p": ("-p", str(prefix)), "name in file": ()}[how]
    cli("env", "update", *args, "-f", str(env_file))

    assert env_packages(prefix) == {"alpha": "1.0", "gamma": "1.0"}
    snap = history_snapshot(conda_dirs.store, "envupd")
    assert snap["trigger"] == "env update"
    assert snap_packages(conda_dirs.store, snap["id"]) == {"alpha": "1.0"}


def test_each_change_records_the_state_it_replaced(cli, make_env, channel_args, conda_dirs):
    prefix = make_env("steps", "alpha=1.0")

    cli("install", "-n", "steps", *channel_args, "alpha=2.0", "-y")
    cli("install", "-n", "steps", *channel_args, "gamma", "-y")

    assert env_packages(prefix) == {"alpha": "2.0", "gamma": "1.0"}
    states = sorted(
        (snap_packages(conda_dirs.store, s["id"]) for s in snapshots(conda_dirs.store, "steps")),
        key=len,
    )
    assert states == [{"alpha": "1.0"}, {"alpha": "2.0"}]


def test_an_unchanged_env_is_not_snapshotted_again(cli, make_env, channel_args, conda_dirs):
    prefix = make_env("same", "alpha", "gamma")
    before = env_packages(prefix)

    # gamma is installed already: these commands change nothing
    out, _ = cli("install", "-n", "same", *channel_args, "gamma", "-y")
    assert "already installed" in out
    first = snapshot_ids(conda_dirs.store, "same")
    cli("install", "-n", "same", *channel_args, "gamma", "-y")
    cli("update", "-n", "same", *channel_args, "alpha", "-y")

    assert len(first) == 1
    assert snapshot_ids(conda_dirs.store, "same") == first
    assert snap_packages(conda_dirs.store, first.pop()) == before == env_packages(prefix)


def test_a_manual_snapshot_counts_as_the_latest_state(cli, make_env, channel_args, conda_dirs):
    make_env("manual", "alpha=1.0")
    manual = take_snapshot(cli, "-n", "manual")

    cli("install", "-n", "manual", *channel_args, "gamma", "-y")

    # the env had not changed since the manual snapshot: that one already records it
    assert snapshot_ids(conda_dirs.store, "manual") == {manual}


def test_dry_run_takes_no_snapshot(cli, make_env, channel_args, conda_dirs):
    from conda.exceptions import DryRunExit

    prefix = make_env("dry", "alpha=1.0")

    cli("install", "-n", "dry", *channel_args, "gamma", "--dry-run", raises=DryRunExit)
    cli("remove", "-n", "dry", "alpha", "--dry-run", raises=DryRunExit)

    assert env_packages(prefix) == {"alpha": "1.0"}
    assert snapshots(conda_dirs.store) == []


@pytest.mark.parametrize("where", ["variable", ".condarc"])
def test_history_can_be_turned_off(cli, make_env, channel_args, conda_dirs, monkeypatch, where):
    prefix = make_env("nohist", "alpha=1.0")
    if where == "variable":
        monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_HISTORY", "false")
    else:
        conda_dirs.condarc.write_text("plugins:\n  envguard_history: false\n")

    cli("install", "-n", "nohist", *channel_args, "gamma", "-y")
    cli("remove", "-n", "nohist", "gamma", "-y")

    assert env_packages(prefix) == {"alpha": "1.0"}
    assert snapshots(conda_dirs.store) == []


def test_a_failed_install_leaves_no_false_state(cli, make_env, channel_args, conda_dirs):
    from conda.exceptions import PackagesNotFoundError

    prefix = make_env("failing", "alpha=1.0")
    before = env_packages(prefix)

    cli(
        "install",
        "-n",
        "failing",
        *channel_args,
        "no-such-package",
        "-y",
        raises=PackagesNotFoundError,
    )
    assert env_packages(prefix) == before
    for snap in snapshots(conda_dirs.store, "failing"):  # if one was taken, it is the truth
        assert snap_packages(conda_dirs.store, snap["id"]) == before

    cli("install", "-n", "failing", *channel_args, "gamma", "-y")

    # whatever the failed command did, the history holds one state before gamma: the real one
    snap = history_snapshot(conda_dirs.store, "failing")
    assert snap_packages(conda_dirs.store, snap["id"]) == before
    assert snap_lock(conda_dirs.store, snap["id"]) == {"alpha-1.0-0"}


@pytest.fixture(scope="module")
def broken_channel(tmp_path_factory) -> str:
    """A channel with `broken`, whose post-link script fails: conda rolls the install back."""
    pkg = Pkg(
        "broken",
        "1.0",
        files={
            "bin/.broken-post-link.sh": b"#!/bin/sh\nexit 1\n",
            "share/broken/broken.txt": b"broken\n",
        },
    )
    return channel_url(build_channel(tmp_path_factory.mktemp("broken-channel"), [pkg]))


def test_a_rolled_back_install_leaves_no_false_state(
    cli, make_env, channel, broken_channel, conda_dirs
):
    from conda import CondaError

    prefix = make_env("rollback", "alpha=1.0")
    before = env_packages(prefix)

    cli(
        "install",
        "-n",
        "rollback",
        "--override-channels",
        "-c",
        broken_channel,
        "-c",
        channel.url,
        "broken",
        "-y",
        raises=CondaError,
    )

    assert env_packages(prefix) == before  # conda rolled it back
    for snap in snapshots(conda_dirs.store, "rollback"):
        assert snap_packages(conda_dirs.store, snap["id"]) == before
    if not (prefix / "conda-meta" / "history").exists():
        # conda 25.11 to 26.5 delete conda-meta/history when they roll an install back (with
        # or without plugins): the env is no longer an env to conda, so there is no next
        # install to try. The snapshots above are what envguard answers for.
        return
    cli("install", "-n", "rollback", "--override-channels", "-c", channel.url, "gamma", "-y")
    for snap in snapshots(conda_dirs.store, "rollback"):
        assert snap_packages(conda_dirs.store, snap["id"]) == before
    assert len(snapshots(conda_dirs.store, "rollback")) == 1


def test_history_leaves_the_env_dir_clean(cli, make_env, channel_args):
    """Recording history writes nothing into the env itself."""
    prefix = make_env("clean", "alpha=1.0")
    before = sorted(os.listdir(prefix / "conda-meta"))

    cli("install", "-n", "clean", *channel_args, "gamma", "-y")

    assert sorted(os.listdir(prefix / "conda-meta")) == sorted([*before, "gamma-1.0-0.json"])


# --- diff ----------------------------------------------------------------------------------


@pytest.fixture
def two_states(cli, make_env, channel_args, conda_dirs, monkeypatch):
    """Env `d`: snapshot A (alpha 1.0, gamma 1.0), then B (alpha 2.0, beta 1.0), live as B."""
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_HISTORY", "false")  # only the snapshots below
    prefix = make_env("d", "alpha=1.0", "gamma")
    a = take_snapshot(cli, "-n", "d")
    cli("install", "-n", "d", *channel_args, "alpha=2.0", "beta", "-y")
    cli("remove", "-n", "d", "gamma", "-y")
    b = take_snapshot(cli, "-n", "d")
    assert env_packages(prefix) == {"alpha": "2.0", "beta": "1.0"}
    return a, b


def _names(packages: list[dict]) -> list[tuple[str, str]]:
    return [(p["name"], p["version"]) for p in packages]


def _check_diff(data: dict) -> None:
    assert _names(data["added"]) == [("beta", "1.0")]
    assert _names(data["removed"]) == [("gamma", "1.0")]
    assert len(data["changed"]) == 1
    change = data["changed"][0]
    assert change["name"] == "alpha"
    assert change["old"]["version"] == "1.0"
    assert change["new"]["version"] == "2.0"
    assert "version" in change["fields"]


def test_diff_two_snapshots(cli, two_states):
    a, b = two_states

    data = cli.json("envguard", "diff", a, b)

    assert (data["a"]["id"], data["b"]["id"]) == (a, b)
    assert data["a"]["kind"] == data["b"]["kind"] == "snapshot"
    _check_diff(data)
    backwards = cli.json("envguard", "diff", b, a)
    assert _names(backwards["added"]) == [("gamma", "1.0")]
    assert _names(backwards["removed"]) == [("beta", "1.0")]
    assert backwards["changed"][0]["new"]["version"] == "1.0"


def test_diff_with_the_live_env(cli, two_states, conda_dirs):
    a, b = two_states

    data = cli.json("envguard", "diff", a)

    assert data["b"] == {"kind": "live", "id": None, "prefix": str(conda_dirs.envs / "d")}
    _check_diff(data)
    same = cli.json("envguard", "diff", b)
    assert same["added"] == same["removed"] == same["changed"] == []


def test_diff_text_output(cli, two_states):
    a, b = two_states

    out, _ = cli("envguard", "diff", a, b)

    lines = out.splitlines()
    assert lines[0] == f"--- {a}"
    assert lines[1] == f"+++ {b}"
    assert "+ beta 1.0 0" in lines
    assert "- gamma 1.0 0" in lines
    assert "~ alpha 1.0 -> 2.0" in lines
    assert len(lines) == 5
    out, _ = cli("envguard", "diff", b)
    assert "(no differences)" in out


def test_diff_sees_pip_packages_like_conda_does(cli, make_env, conda_dirs):
    from conda_envguard.testing.channel import add_pip_package

    prefix = make_env("pipdiff", "python")
    add_pip_package(prefix, "Some_Pip.Pkg", "1.0")
    a = take_snapshot(cli, "-n", "pipdiff")

    unchanged = cli.json("envguard", "diff", a)
    add_pip_package(prefix, "another-one", "0.3")
    changed = cli.json("envguard", "diff", a)

    assert unchanged["added"] == unchanged["removed"] == unchanged["changed"] == []
    assert _names(changed["added"]) == [("another-one", "0.3")]
    assert changed["added"][0]["kind"] == "pypi"
    assert changed["removed"] == changed["changed"] == []


def test_diff_of_an_unknown_snapshot_is_a_clear_error(conda_run):
    result = conda_run("envguard", "diff", "20990101-no-such")

    assert result.returncode == 1
    assert "no snapshot matching '20990101-no-such'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# --- restore -------------------------------------------------------------------------------


@pytest.fixture
def changed_env(cli, make_env, channel_args, conda_dirs):
    """Env `back`: alpha 1.0, then alpha 2.0, then alpha 2.0 + gamma (live).

    The two installs record snapshots: S1 = {alpha 1.0}, S2 = {alpha 2.0}.
    """
    prefix = make_env("back", "alpha=1.0")
    cli("install", "-n", "back", *channel_args, "alpha=2.0", "-y")
    cli("install", "-n", "back", *channel_args, "gamma", "-y")
    by_state = {
        tuple(sorted(snap_packages(conda_dirs.store, s["id"]).items())): s["id"]
        for s in snapshots(conda_dirs.store, "back")
    }
    s1 = by_state[(("alpha", "1.0"),)]
    s2 = by_state[(("alpha", "2.0"),)]
    assert len(by_state) == 2
    assert env_packages(prefix) == {"alpha": "2.0", "gamma": "1.0"}
    return prefix, s1, s2


def test_restore_a_snapshot_over_the_live_env(cli, changed_env, conda_dirs):
    prefix, s1, _ = changed_env
    before = snapshot_ids(conda_dirs.store, "back")

    cli("envguard", "restore", "back", "--snapshot", s1, "--force", "-y")

    assert env_packages(prefix) == snap_packages(conda_dirs.store, s1) == {"alpha": "1.0"}
    assert (prefix / "share" / "alpha" / "alpha.txt").read_text() == "alpha 1.0 0\n"
    assert not (prefix / "share" / "gamma").exists()
    # the state it replaced was saved first
    new = [s for s in snapshots(conda_dirs.store, "back") if s["id"] not in before]
    assert len(new) == 1
    assert snap_packages(conda_dirs.store, new[0]["id"]) == {"alpha": "2.0", "gamma": "1.0"}
    assert "restore" in new[0]["trigger"]


def test_restore_reports_an_exact_match(conda_run, changed_env, conda_dirs):
    """The comparison that ends a restore describes the env as restored (as a user runs it:
    one conda process)."""
    prefix, s1, _ = changed_env

    result = conda_run(
        "envguard", "restore", "back", "--snapshot", s1, "--force", "-y", "--json", check=True
    )
    report = json.loads(result.stdout)

    assert env_packages(prefix) == {"alpha": "1.0"}
    assert (report["missing"], report["extra"], report["changed"]) == ([], [], [])
    assert report["exact"] is True


def test_restore_without_force_refuses_to_overwrite(cli, changed_env, conda_dirs):
    from conda_envguard.exceptions import TargetExistsError

    prefix, s1, _ = changed_env
    before = snapshot_ids(conda_dirs.store)

    cli("envguard", "restore", "back", "--snapshot", s1, "-y", raises=TargetExistsError)

    assert env_packages(prefix) == {"alpha": "2.0", "gamma": "1.0"}
    assert snapshot_ids(conda_dirs.store) == before


def _planned(cli, *args) -> str:
    plan = cli.json("envguard", "restore", "back", *args, "--force", "--dry-run")
    assert plan["dry_run"] is True
    return plan["snapshot"]


def test_restore_at_picks_the_first_snapshot_taken_after_the_time(cli, changed_env, conda_dirs):
    prefix, s1, s2 = changed_env
    now = datetime.now(timezone.utc).replace(microsecond=0)
    t1, t2 = now - timedelta(days=3), now - timedelta(days=1)
    set_created(conda_dirs.store, s1, t1)
    set_created(conda_dirs.store, s2, t2)

    # S1 holds the state until t1, S2 the state from t1 until t2
    assert _planned(cli, "--at", "4d") == s1
    assert _planned(cli, "--at", "2d") == s2
    assert _planned(cli, "--at", "36h") == s2
    assert _planned(cli, "--at", (t1 - timedelta(minutes=1)).isoformat()) == s1
    assert _planned(cli, "--at", t1.isoformat()) == s1
    assert _planned(cli, "--at", (t1 + timedelta(seconds=1)).isoformat()) == s2
    assert _planned(cli, "--at", (t2 - timedelta(hours=1)).isoformat()) == s2
    assert _planned(cli, "--at", (t1 - timedelta(days=1)).date().isoformat()) == s1
    assert env_packages(prefix) == {"alpha": "2.0", "gamma": "1.0"}  # dry runs

    cli("envguard", "restore", "back", "--at", "2d", "--force", "-y")

    assert env_packages(prefix) == {"alpha": "2.0"}


def test_restore_at_reads_a_time_without_zone_as_local_time(conda_run, changed_env, conda_dirs):
    _, s1, s2 = changed_env
    day = (datetime.now(timezone.utc) - timedelta(days=5)).date()
    set_created(
        conda_dirs.store, s1, datetime(day.year, day.month, day.day, 8, 50, tzinfo=timezone.utc)
    )
    set_created(
        conda_dirs.store, s2, datetime(day.year, day.month, day.day, 9, 10, tzinfo=timezone.utc)
    )

    # 14:30 at UTC+05:30 is 09:00 UTC: after S1, before S2
    result = conda_run(
        "envguard",
        "restore",
        "back",
        "--at",
        f"{day.isoformat()}T14:30",
        "--force",
        "--dry-run",
        "--json",
        env={"TZ": "IST-5:30"},
        check=True,
    )

    assert json.loads(result.stdout)["snapshot"] == s2


def test_restore_at_after_the_last_snapshot_says_so(conda_run, changed_env, conda_dirs):
    prefix, s1, s2 = changed_env
    now = datetime.now(timezone.utc)
    set_created(conda_dirs.store, s1, now - timedelta(days=3))
    set_created(conda_dirs.store, s2, now - timedelta(days=1))

    result = conda_run("envguard", "restore", "back", "--at", "12h", "--force", "-y")

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "'back' has not changed" in message
    assert "since 12h" in message
    assert "conda envguard list -n back" in message
    assert env_packages(prefix) == {"alpha": "2.0", "gamma": "1.0"}


# --- retention -----------------------------------------------------------------------------


def test_prune_keep_leaves_the_newest(cli, make_env, conda_dirs):
    make_env("many", "gamma")
    make_env("other", "gamma")
    many = seed(cli, conda_dirs.store, "many", [4, 3, 2, 1])
    other = seed(cli, conda_dirs.store, "other", [3, 2, 1])

    result = cli.json("envguard", "prune", "-n", "many", "--keep", "2", "-y")

    assert sorted(result["pruned"]) == sorted(many[:2])
    assert [s["id"] for s in snapshots(conda_dirs.store, "many")] == many[2:]
    assert [s["id"] for s in snapshots(conda_dirs.store, "other")] == other  # not named

    cli("envguard", "prune", "--keep", "2", "-y")

    assert [s["id"] for s in snapshots(conda_dirs.store, "many")] == many[2:]
    assert [s["id"] for s in snapshots(conda_dirs.store, "other")] == other[1:]


def test_prune_older_than(cli, make_env, conda_dirs):
    make_env("aged", "gamma")
    ids = seed(cli, conda_dirs.store, "aged", [10, 8, 1])

    result = cli.json("envguard", "prune", "-n", "aged", "--older-than", "5", "-y")

    assert sorted(result["pruned"]) == sorted(ids[:2])
    assert [s["id"] for s in snapshots(conda_dirs.store, "aged")] == ids[2:]
    assert not (conda_dirs.store / "snapshots" / ids[0]).exists()


def test_prune_dry_run_deletes_nothing(cli, make_env, conda_dirs):
    make_env("dryprune", "gamma")
    ids = seed(cli, conda_dirs.store, "dryprune", [3, 2, 1])

    result = cli.json("envguard", "prune", "--keep", "1", "--dry-run")
    out, _ = cli("envguard", "prune", "--older-than", "0", "--dry-run")

    assert result["dry_run"] is True
    assert sorted(result["pruned"]) == sorted(ids[:2])
    assert "Would delete 2 snapshot(s)" in out  # an age alone keeps the newest of each env
    assert [s["id"] for s in snapshots(conda_dirs.store)] == ids


def test_prune_keeps_the_last_snapshot_of_a_removed_env(cli, make_env, conda_dirs):
    gone = make_env("gone", "gamma")
    make_env("here", "gamma")
    gone_ids = seed(cli, conda_dirs.store, "gone", [3, 2, 1])
    seed(cli, conda_dirs.store, "here", [2, 1])
    shutil.rmtree(gone)  # removed behind envguard's back: the snapshot is its only way back

    cli("envguard", "prune", "--keep", "0", "-y")
    cli("envguard", "prune", "--older-than", "0", "-y")

    assert [s["id"] for s in snapshots(conda_dirs.store, "gone")] == gone_ids[-1:]
    assert snapshots(conda_dirs.store, "here") == []  # an existing env: the user's choice

    cli("envguard", "prune", "-n", "gone", "--keep", "0", "-y")  # named: on purpose

    assert snapshots(conda_dirs.store) == []


def test_prune_keeps_the_snapshot_of_an_env_in_the_trash(cli, make_env, conda_dirs):
    make_env("trashed", "gamma")
    seed(cli, conda_dirs.store, "trashed", [3, 2])
    cli("env", "remove", "-n", "trashed", "-y")
    entry = json.loads(next((conda_dirs.store / "trash").glob("*.json")).read_text())

    cli("envguard", "prune", "-n", "trashed", "--keep", "0", "-y")

    assert snapshot_ids(conda_dirs.store, "trashed") == {entry["snapshot_id"]}


def test_automatic_retention_keeps_envguard_keep_per_env(cli, make_env, conda_dirs, monkeypatch):
    make_env("five", "gamma")
    make_env("two", "gamma")
    gone = make_env("gone4", "gamma")
    five = seed(cli, conda_dirs.store, "five", [5, 4, 3, 2, 1])
    two = seed(cli, conda_dirs.store, "two", [2, 1])
    gone4 = seed(cli, conda_dirs.store, "gone4", [4, 3, 2, 1])
    shutil.rmtree(gone)
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_KEEP", "3")

    cli("envguard", "purge", "--expired", "-y")

    assert [s["id"] for s in snapshots(conda_dirs.store, "five")] == five[-3:]
    assert [s["id"] for s in snapshots(conda_dirs.store, "two")] == two
    assert [s["id"] for s in snapshots(conda_dirs.store, "gone4")] == gone4[-3:]


# --- conda doctor --------------------------------------------------------------------------


@pytest.fixture
def doctor(cli, monkeypatch, tmp_path):
    """`conda doctor -n NAME` in-process; returns its output.

    Offline: conda's REQUESTS_CA_BUNDLE check would try the internet. Jupyter's user dir is
    the test's own.
    """
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))

    def run(name: str) -> str:
        out, err = cli("doctor", "-n", name)
        assert "Error running health check" not in err
        return out

    return run


def test_doctor_without_a_snapshot(doctor, make_env):
    prefix = make_env("nosnap", "gamma")

    out = doctor("nosnap")

    assert "envguard has no snapshot of this environment" in out
    assert f"conda envguard snapshot -p {prefix}" in out


def test_doctor_with_a_recent_snapshot(doctor, cli, make_env):
    make_env("fresh", "gamma")
    snap_id = take_snapshot(cli, "-n", "fresh")

    out = doctor("fresh")

    assert f"envguard snapshot {snap_id} is recent" in out
    assert "no snapshot" not in out and "older than" not in out


@pytest.mark.parametrize(
    ("age_days", "stale_days", "old"),
    [(40, None, True), (20, None, False), (10, "5", True), (40, "60", False)],
)
def test_doctor_with_an_old_snapshot(
    doctor, cli, make_env, conda_dirs, monkeypatch, age_days, stale_days, old
):
    prefix = make_env("aging", "gamma")
    snap_id = take_snapshot(cli, "-n", "aging")
    created = datetime.now(timezone.utc) - timedelta(days=age_days)
    set_created(conda_dirs.store, snap_id, created)
    if stale_days:
        monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_STALE_DAYS", stale_days)

    out = doctor("aging")

    limit = stale_days or "30"
    if old:
        assert f"latest snapshot of this environment is older than {limit} days" in out
        assert created.date().isoformat() in out
        assert f"conda envguard snapshot -p {prefix}" in out
    else:
        assert f"envguard snapshot {snap_id} is recent" in out


def test_doctor_reports_a_kernel_whose_program_is_gone(doctor, make_env, tmp_path):
    make_env("kern", "gamma")
    kernels = tmp_path / "jupyter" / "kernels"
    missing = tmp_path / "removed-env" / "bin" / "python"
    for name, program in (("stale-kernel", missing), ("live-kernel", Path(sys.executable))):
        (kernels / name).mkdir(parents=True)
        (kernels / name / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [str(program), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": name,
                }
            )
        )

    out = doctor("kern")

    assert "Jupyter kernels point at programs that no longer exist" in out
    assert f"stale-kernel: {missing}" in out
    assert "live-kernel" not in out


def test_doctor_reports_the_trash(doctor, cli, make_env):
    make_env("keep", "gamma")
    make_env("dropped", "bigpkg")
    assert "trash" not in doctor("keep")

    cli("env", "remove", "-n", "dropped", "-y")
    out = doctor("keep")

    assert "envguard's trash holds 1 removed env(s)" in out
    assert "conda envguard trash" in out


# --- hints on conda's own errors -----------------------------------------------------------


def _error_hints_supported() -> bool:
    from conda.plugins.hookspec import CondaSpecs

    return hasattr(CondaSpecs, "conda_error_hints")


needs_error_hints = pytest.mark.skipif(
    not _error_hints_supported(), reason="this conda has no conda_error_hints hook"
)


@needs_error_hints
def test_conda_error_on_a_removed_env_points_at_undo_then_restore(
    cli, conda_run, make_env, conda_dirs
):
    prefix = make_env("lost", "gamma")
    cli("env", "remove", "-n", "lost", "-y")

    in_trash = conda_run("list", "-n", "lost")

    assert in_trash.returncode != 0
    assert "EnvironmentLocationNotFound" in in_trash.stderr  # conda's own error
    assert "conda envguard undo lost" in in_trash.stderr
    assert "Traceback" not in in_trash.stderr

    cli("envguard", "purge", "lost", "-y")
    purged = conda_run("list", "-n", "lost")

    assert purged.returncode != 0
    assert "EnvironmentLocationNotFound" in purged.stderr
    assert "conda envguard restore lost" in purged.stderr
    assert "conda envguard undo" not in purged.stderr
    # and the hint is right: restore brings it back
    cli("envguard", "restore", "lost", "-y")
    assert env_packages(prefix) == {"gamma": "1.0"}


@needs_error_hints
def test_conda_error_hint_by_prefix_and_in_json(cli, conda_run, make_env):
    prefix = make_env("lost2", "gamma")
    cli("env", "remove", "-p", str(prefix), "-y")

    result = conda_run("list", "-p", str(prefix), "--json")

    data = json.loads(result.stdout)
    assert data["exception_name"] == "EnvironmentLocationNotFound"
    texts = [h["text"] for h in data["guidance"]["hints"]]
    assert any("conda envguard undo lost2" in t for t in texts)


@needs_error_hints
def test_no_envguard_hint_for_an_env_it_never_saw(conda_run):
    result = conda_run("list", "-n", "never-existed")

    assert result.returncode != 0
    assert "envguard" not in result.stdout + result.stderr
