"""Snapshots: what they hold, that they hold no secret, and that a failed one never lists as good.

Snapshots are taken by real conda (`conda envguard snapshot`, or a real `conda env remove`)
and read back as a user would: the files in the store, `conda envguard list/show`, and
`conda create --file explicit.txt` rebuilding the env from the lock.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from envguard_testsupport.checks import (
    conda_records,
    listed_snapshots,
    snapshot_entries,
    tree_state,
)

from conda_envguard.testing.channel import add_pip_package

PIP_PACKAGES = {"my-pip-pkg": "1.2.3", "tiny-util": "0.5"}
SNAPSHOT_FILES = {
    "environment.yml",
    "explicit.txt",
    "history",
    "packages.json",
    "portable.json",
    "snapshot.json",
    "env-files.json",
}
SNAPSHOT_FILES |= {"manifest.json"}  # written last: the checksum of each file above


# --- helpers ------------------------------------------------------------------------------------


def take(conda_cli, *target: str | os.PathLike, force: bool = False) -> dict:
    """`conda envguard snapshot TARGET --json` in-process; the one snapshot taken."""
    out, err, code = conda_cli("envguard", "snapshot", *target, "--json", *(["--force"] * force))
    assert code == 0, err
    [taken] = json.loads(out)["taken"]
    return taken


def files_under(prefix: Path, sub: str) -> dict[str, bytes]:
    base = prefix / sub
    return {
        str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()
    }


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def pip_env(make_env) -> Path:
    """python (fake), pip, beta and alpha from conda; two packages installed by "pip"."""
    prefix = make_env("withpip", "python", "beta")
    for name, version in PIP_PACKAGES.items():
        add_pip_package(prefix, name, version)
    return prefix


@pytest.fixture
def pip_snapshot(pip_env, conda_cli) -> Path:
    return Path(take(conda_cli, "-n", "withpip")["path"])


# --- what a snapshot holds ----------------------------------------------------------------------


def test_environment_yml_pins_everything(pip_env, pip_snapshot, conda_cli, channel):
    text = (pip_snapshot / "environment.yml").read_text()
    data = yaml.safe_load(text)

    assert not re.search(r"^prefix:", text, re.MULTILINE), text
    assert data["name"] == "withpip"
    assert channel.url in data["channels"]
    conda_deps = [d for d in data["dependencies"] if isinstance(d, str)]
    [pip_section] = [d["pip"] for d in data["dependencies"] if isinstance(d, dict)]
    expected = {
        f"{r['name']}={r['version']}={r['build_string']}"
        for r in conda_records(conda_cli, pip_env)
        if r["channel"] != "pypi"
    }
    assert expected == {"alpha=2.0=0", "beta=1.0=0", "pip=24.0=0", "python=3.11.0=0"}
    assert set(conda_deps) == expected
    assert sorted(pip_section) == sorted(f"{n}=={v}" for n, v in PIP_PACKAGES.items())


def test_no_pip_section_without_pip_packages(make_env, conda_cli):
    make_env("condaonly", "python", "gamma")

    snap = Path(take(conda_cli, "-n", "condaonly")["path"])

    data = yaml.safe_load((snap / "environment.yml").read_text())
    assert all(isinstance(d, str) for d in data["dependencies"])
    assert "gamma=1.0=0" in data["dependencies"]
    assert not (snap / "pip.txt").exists()
    # env-files/: copies of the env's settings, e.g. conda's conda-meta/created_at
    assert {p.name for p in snap.iterdir()} - {"env-files"} == SNAPSHOT_FILES


def test_explicit_lock_has_url_and_sha256_of_every_conda_package(pip_env, pip_snapshot, channel):
    lines = (pip_snapshot / "explicit.txt").read_text().splitlines()
    body = [line for line in lines if line and not line.startswith("#")]

    assert body[0] == "@EXPLICIT"
    urls = body[1:]
    assert len(urls) == 4  # alpha beta pip python; pip-installed packages are not conda's
    names = set()
    for line in urls:
        url, _, digest = line.partition("#")
        assert url.startswith(channel.url + "/"), line
        archive = Path(unquote(urlsplit(url).path))
        assert digest == hashlib.sha256(archive.read_bytes()).hexdigest(), line
        names.add(archive.name.rsplit("-", 2)[0])
    assert names == {"alpha", "beta", "pip", "python"}


def test_explicit_lock_recreates_the_env_offline(pip_env, pip_snapshot, conda_run, conda_cli):
    new = pip_env.parent / "recreated"

    result = conda_run("create", "-p", new, "--file", pip_snapshot / "explicit.txt",
                       "--offline", "-y")  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr

    def key(r):
        return (r["name"], r["version"], r["build_string"], r["channel"])

    original = sorted(key(r) for r in conda_records(conda_cli, pip_env) if r["channel"] != "pypi")
    assert sorted(key(r) for r in conda_records(conda_cli, new)) == original
    assert files_under(new, "share") == files_under(pip_env, "share")


def test_pip_txt_lists_pip_packages(pip_snapshot):
    lines = (pip_snapshot / "pip.txt").read_text().splitlines()

    assert lines == sorted(f"{n}=={v}" for n, v in PIP_PACKAGES.items())


def test_history_is_copied(pip_env, pip_snapshot):
    history = (pip_snapshot / "history").read_bytes()

    assert history == (pip_env / "conda-meta" / "history").read_bytes()
    assert b"# cmd:" in history


def _assert_created_now(created: str, start: datetime, end: datetime) -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)", created), created
    when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    assert when.utcoffset() == timedelta(0)
    assert start - timedelta(seconds=1) <= when <= end + timedelta(seconds=1)


def test_metadata_of_a_manual_snapshot(pip_env, conda_cli):
    import conda
    from conda.base.context import context

    start = datetime.now(timezone.utc)
    taken = take(conda_cli, "-p", pip_env)
    end = datetime.now(timezone.utc)

    meta = json.loads((Path(taken["path"]) / "snapshot.json").read_text())
    assert meta["id"] == taken["id"] == Path(taken["path"]).name
    assert meta["env_name"] == "withpip"
    assert meta["prefix"] == str(pip_env)
    _assert_created_now(meta["created"], start, end)
    assert meta["conda_version"] == conda.__version__
    assert meta["platform"] == context.subdir
    assert meta["trigger"] == "manual"
    assert meta["command"] == "conda envguard snapshot"
    assert meta["counts"] == {"conda": 4, "pip": 2}
    # every file it lists is there, with the checksum it recorded
    assert SNAPSHOT_FILES - {"snapshot.json", "manifest.json"} | {"pip.txt"} <= set(meta["files"])
    for name, digest in meta["files"].items():
        assert hashlib.sha256((Path(taken["path"]) / name).read_bytes()).hexdigest() == digest
    [summary] = listed_snapshots(conda_cli)
    assert {
        k: summary[k] for k in ("id", "env_name", "prefix", "created", "trigger", "counts")
    } == {k: meta[k] for k in ("id", "env_name", "prefix", "created", "trigger", "counts")}


def test_metadata_of_a_snapshot_taken_by_removal(pip_env, conda_run, conda_dirs):
    start = datetime.now(timezone.utc)
    conda_run("env", "remove", "-n", "withpip", "-y", check=True)
    end = datetime.now(timezone.utc)

    [snap] = snapshot_entries(conda_dirs.store)
    meta = json.loads((snap / "snapshot.json").read_text())
    assert (meta["env_name"], meta["prefix"]) == ("withpip", str(pip_env))
    assert meta["trigger"] == "remove"
    assert meta["command"] == "conda env remove -n withpip -y"
    assert meta["counts"] == {"conda": 4, "pip": 2}
    _assert_created_now(meta["created"], start, end)
    assert SNAPSHOT_FILES | {"pip.txt"} <= {p.name for p in snap.iterdir()}


# --- credentials never reach the store ----------------------------------------------------------


def _secrets(server) -> list[str]:
    return [server.token, server.password, f"{server.user}:{server.password}"]


def _leaks(store: Path, secrets: list[str]) -> list[str]:
    leaks = []
    files = [p for p in store.rglob("*") if p.is_file()]
    assert files, f"nothing in {store}"
    for path in files:
        data = path.read_bytes()
        leaks += [f"{path.relative_to(store)}: {s!r}" for s in secrets if s.encode() in data]
    return leaks


def test_no_credentials_in_the_store(token_channel, conda_run, conda_dirs):
    conda_run("create", "-n", "private", "--override-channels", "-c", token_channel.url, "beta",
              "-y", check=True)  # fmt: skip
    prefix = conda_dirs.envs / "private"
    history = (prefix / "conda-meta" / "history").read_text()
    assert all(s in history for s in _secrets(token_channel))  # conda wrote them: a real test

    conda_run("envguard", "snapshot", "-n", "private", check=True)
    conda_run("env", "remove", "-n", "private", "-y", check=True)

    snaps = [p for p in snapshot_entries(conda_dirs.store) if not p.name.startswith(".")]
    assert len(snaps) == 2
    assert _leaks(conda_dirs.store, _secrets(token_channel)) == []
    plain_channel = f"http://127.0.0.1:{token_channel.port}/chan"
    for snap in snaps:
        # the lock keeps the channel's plain URL (usable again with configured credentials);
        # the history copy shows where a token was
        lock = (snap / "explicit.txt").read_text()
        assert f"{plain_channel}/noarch/beta-1.0-0.tar.bz2#" in lock
        assert "/t/<TOKEN>/chan" in (snap / "history").read_text()


def test_no_credentials_in_the_store_from_the_command_line(
    token_channel, make_env, conda_run, conda_dirs
):
    """The command that overwrites an env carries the token: it must not land in the store."""
    make_env("private", "alpha")

    conda_run("create", "-n", "private", "--override-channels", "-c", token_channel.url, "gamma",
              "-y", check=True)  # fmt: skip

    assert "noarch/gamma-1.0-0.tar.bz2" in token_channel.served
    assert _leaks(conda_dirs.store, _secrets(token_channel)) == []


# --- the store is private -----------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_is_private(make_env, conda_cli, conda_run, conda_dirs):
    make_env("one", "gamma")
    conda_dirs.store.mkdir(mode=0o755)  # made by someone else, too open
    os.chmod(conda_dirs.store, 0o755)

    taken = take(conda_cli, "-n", "one")
    conda_run("env", "remove", "-n", "one", "-y", check=True)

    store = conda_dirs.store
    assert _mode(store) == 0o700
    for directory in (store / "snapshots", Path(taken["path"]), store / "trash"):
        assert _mode(directory) == 0o700, directory
    for snap in snapshot_entries(store):
        assert _mode(snap) == 0o700, snap


# --- atomicity: a full disk, a killed process, a damaged snapshot ------------------------------


@pytest.fixture
def full_store(tmpfs, tmp_path) -> Path:
    """A store on a 64 KiB tmpfs that is already full: writes fail with ENOSPC."""
    mnt = tmpfs(tmp_path / "full-disk", size="64k")
    with open(mnt / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return mnt / "store"


@pytest.mark.parametrize(
    "argv",
    [
        ("env", "remove", "-n", "victim", "-y"),
        ("remove", "--all", "-n", "victim", "-y"),
        ("create", "-n", "victim", "--override-channels", "-c", "{channel}", "beta", "-y"),
    ],
    ids=["env-remove", "remove-all", "create-over"],
)
def test_full_disk_stops_the_command(argv, full_store, make_env, conda_run, conda_dirs, channel):
    prefix = make_env("victim", "alpha", "gamma")
    before = tree_state(prefix, with_root=False)
    argv = [a.format(channel=channel.url) for a in argv]
    on_full_disk = {"CONDA_PLUGINS_ENVGUARD_STORE": str(full_store)}

    result = conda_run(*argv, env=on_full_disk)

    assert result.returncode != 0
    assert f"SnapshotFailedError: envguard could not save a snapshot of {prefix}" in result.stderr
    assert "No space left on device" in result.stderr
    assert f"Snapshot store: {full_store}" in result.stderr
    assert f"CONDA_PLUGINS_ENVGUARD_REQUIRE_SNAPSHOT=false conda {' '.join(argv)}" in result.stderr
    assert tree_state(prefix, with_root=False) == before
    assert snapshot_entries(full_store) == []  # not even a temporary dir left behind
    assert not (conda_dirs.envs / ".envguard-trash").exists()
    listing = conda_run("envguard", "list", "--json", env=on_full_disk, check=True)
    assert json.loads(listing.stdout)["snapshots"] == []


def test_a_snapshot_bug_is_not_reported_as_a_disk_problem(make_env, conda_run):
    """A failure that is no OS error (here conda's own spec parser rejects a damaged record)
    says it is a bug, names the versions, and keeps the one-command way on."""
    import conda

    prefix = make_env("odd", "alpha")
    [record] = (prefix / "conda-meta").glob("alpha-*.json")
    record.write_text(json.dumps({**json.loads(record.read_text()), "version": "1.0=x"}))
    before = tree_state(prefix, with_root=False)

    result = conda_run("env", "remove", "-n", "odd", "-y")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "This is a bug, not a problem with your disk or permissions" in result.stderr
    assert "InvalidMatchSpec" in result.stderr
    assert f"(conda {conda.__version__}, conda-envguard " in result.stderr
    assert "free disk space" not in result.stderr
    assert "CONDA_PLUGINS_ENVGUARD_REQUIRE_SNAPSHOT=false conda env remove -n odd -y" in (
        result.stderr
    )
    assert tree_state(prefix, with_root=False) == before


def test_require_snapshot_false_is_a_one_shot_override(full_store, make_env, conda_run):
    first = make_env("broken", "alpha")
    second = make_env("broken-too", "alpha")
    on_full_disk = {"CONDA_PLUGINS_ENVGUARD_STORE": str(full_store)}

    result = conda_run(
        "env", "remove", "-n", "broken", "-y",
        env={**on_full_disk, "CONDA_PLUGINS_ENVGUARD_REQUIRE_SNAPSHOT": "false"},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert not first.exists()
    assert "no snapshot of broken" in result.stderr
    # the next command, without the variable, is guarded again
    again = conda_run("env", "remove", "-n", "broken-too", "-y", env=on_full_disk)
    assert again.returncode != 0 and "SnapshotFailedError" in again.stderr
    assert second.is_dir()


@pytest.mark.slow
def test_killed_snapshot_never_lists_as_good(make_env, conda_run, conda_dirs):
    prefix = make_env("huge", "python")
    for i in range(1000):  # conda reads every dist-info: a snapshot that takes a while
        add_pip_package(prefix, f"pkg{i:04d}", "1.0")
    snapshots = conda_dirs.store / "snapshots"

    with subprocess.Popen(
        [sys.executable, "-m", "conda", "envguard", "snapshot", "-n", "huge"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as child:
        deadline = time.monotonic() + 120
        tmp = []
        while not tmp and child.poll() is None and time.monotonic() < deadline:
            tmp = list(snapshots.glob(".tmp-*")) if snapshots.is_dir() else []
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert tmp, "the snapshot process ended before it started writing"
    assert child.returncode == -signal.SIGKILL
    if not tmp[0].exists():
        pytest.fail("the snapshot completed before SIGKILL: the env is too small to catch it")

    assert (
        json.loads(conda_run("envguard", "list", "--json", check=True).stdout)["snapshots"] == []
    )
    snap_id = tmp[0].name.removeprefix(".tmp-")
    shown = conda_run("envguard", "show", snap_id)
    assert shown.returncode != 0 and "Traceback" not in shown.stderr
    assert f"no snapshot matching '{snap_id}'" in shown.stderr
    # the killed attempt does not count: the next snapshot is taken, not skipped as unchanged
    conda_run("envguard", "snapshot", "-n", "huge", check=True)
    [good] = json.loads(conda_run("envguard", "list", "--json", check=True).stdout)["snapshots"]
    assert good["env_name"] == "huge" and good["counts"] == {"conda": 2, "pip": 1000}


@pytest.mark.parametrize(
    "damage",
    [b"", b'{"id": "trunc', b"\xff\xfe not json", b"[]"],
    ids=["empty", "truncated", "bytes", "not-a-dict"],
)
def test_damaged_snapshot_is_skipped_and_explained(damage, make_env, conda_cli, conda_run):
    make_env("one", "gamma")
    make_env("two", "alpha")
    bad = take(conda_cli, "-n", "one")
    good = take(conda_cli, "-n", "two")
    (Path(bad["path"]) / "snapshot.json").write_bytes(damage)

    assert [s["id"] for s in listed_snapshots(conda_cli)] == [good["id"]]
    text = conda_run("envguard", "list", check=True).stdout
    assert good["id"] in text and f"damaged, skipped: {bad['path']}" in text

    shown = conda_run("envguard", "show", bad["id"])
    assert shown.returncode == 1
    assert "Traceback" not in shown.stderr and "ERROR REPORT" not in shown.stderr
    assert f"The snapshot at {bad['path']} is damaged" in shown.stderr
    assert "Other snapshots are unaffected" in shown.stderr
    ok = conda_run("envguard", "show", good["id"], check=True)
    assert "alpha" in ok.stdout


# --- when snapshots are taken -------------------------------------------------------------------


def test_unchanged_env_is_skipped_unless_forced(pip_env, conda_cli, conda_run):
    first = take(conda_cli, "-n", "withpip")

    again = conda_run("envguard", "snapshot", "-n", "withpip", check=True)
    assert "unchanged since its last snapshot" in again.stderr
    out, _, _ = conda_cli("envguard", "snapshot", "-n", "withpip", "--json")
    assert json.loads(out) == {
        "taken": [],
        "skipped": [{"env_name": "withpip", "prefix": str(pip_env), "reason": "unchanged"}],
        "committed": None,
        "dry_run": False,
    }
    assert [s["id"] for s in listed_snapshots(conda_cli)] == [first["id"]]

    forced = take(conda_cli, "-n", "withpip", force=True)
    add_pip_package(pip_env, "late-addition", "2.0")  # a change pip made, not conda
    # a new process, as a user's next command is (in this one, conda caches what it read)
    result = conda_run("envguard", "snapshot", "-n", "withpip", "--json", check=True)
    [changed] = json.loads(result.stdout)["taken"]

    listed = {s["id"] for s in listed_snapshots(conda_cli)}
    assert listed == {first["id"], forced["id"], changed["id"]}
    assert "late-addition==2.0" in (Path(changed["path"]) / "pip.txt").read_text()


def test_list_is_newest_last(make_env, conda_cli):
    """Snapshots taken one after the other list in that order, also within one second."""
    make_env("busy", "gamma")

    taken = [take(conda_cli, "-n", "busy", force=True)["id"] for _ in range(8)]

    assert [s["id"] for s in listed_snapshots(conda_cli)] == taken


def test_unchanged_skip_needs_a_usable_snapshot(make_env, conda_cli):
    """A damaged latest snapshot does not describe the env: the next snapshot is taken."""
    make_env("one", "gamma")
    damaged = take(conda_cli, "-n", "one")
    (Path(damaged["path"]) / "snapshot.json").write_text("{")

    out, err, code = conda_cli("envguard", "snapshot", "-n", "one", "--json")

    assert code == 0, err
    assert len(json.loads(out)["taken"]) == 1
    assert len(listed_snapshots(conda_cli)) == 1


def test_snapshot_all(make_env, conda_cli, conda_dirs):
    prefixes = {str(make_env("a-env", "alpha")), str(make_env("b-env", "beta"))}

    def run(*extra) -> dict:
        out, err, code = conda_cli("envguard", "snapshot", "--all", "--json", *extra)
        assert code == 0, err
        return json.loads(out)

    first = run()
    assert {t["prefix"] for t in first["taken"]} >= prefixes
    second = run()
    assert not {t["prefix"] for t in second["taken"]} & prefixes
    assert {s["prefix"] for s in second["skipped"]} >= prefixes
    forced = run("--force")
    assert {t["prefix"] for t in forced["taken"]} >= prefixes

    ours = [s for s in listed_snapshots(conda_cli) if s["prefix"] in prefixes]
    assert len(ours) == 4
    assert {s["env_name"] for s in ours} == {"a-env", "b-env"}
    assert all(s["trigger"] == "manual" for s in ours)


@pytest.mark.parametrize("lock_usable", [True, False], ids=["lock", "yaml-fallback"])
def test_restore_from_a_private_channel_uses_the_configured_credentials(
    lock_usable, token_channel, conda_run, conda_dirs
):
    """No credential is stored, yet a restore that must download again gets through: the
    credentials come from the channel as conda is configured with it."""
    conda_run("create", "-n", "private", "--override-channels", "-c", token_channel.url, "beta",
              "-y", check=True)  # fmt: skip
    conda_run("env", "remove", "-n", "private", "-y", check=True)
    conda_run("envguard", "purge", "--all", "-y", check=True)
    for cached in conda_dirs.pkgs.iterdir():  # nothing left to restore offline from
        if cached.name.startswith(("alpha", "beta")):
            subprocess.run(["rm", "-rf", str(cached)], check=True)
    subprocess.run(["rm", "-rf", str(conda_dirs.store / "packages")], check=True)  # kept ones
    [snap] = snapshot_entries(conda_dirs.store)
    if not lock_usable:
        (snap / "explicit.txt").write_text("@EXPLICIT\n")
    conda_dirs.condarc.write_text(f"channels:\n  - {token_channel.url}\n")
    served_before = len(token_channel.served)

    # an edited lock is restored only on purpose
    result = conda_run("envguard", "restore", "private", "--ignore-damage", "-y", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["method"] == ("explicit" if lock_usable else "environment.yml")
    assert report["exact"] is True
    assert len(token_channel.served) > served_before  # really downloaded, with credentials
    assert _leaks(conda_dirs.store, _secrets(token_channel)) == []


def test_snapshot_without_a_target_names_every_way_to_give_one(conda_run):
    refused = conda_run("envguard", "snapshot")

    assert refused.returncode == 2, refused  # conda's exit status for a wrong argument
    assert "Traceback" not in refused.stderr
    assert "-n NAME or -p PREFIX, or snapshot every environment with --all" in refused.stderr
