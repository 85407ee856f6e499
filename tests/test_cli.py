"""`conda envguard` as a user types it: help, listings, JSON, errors, hostile input.

Most commands run in-process (`conda_cli`); those whose exit code, stderr or exact stdout bytes
matter run as `python -m conda` children. Expected values come from the files themselves
(an env's conda-meta, a snapshot's snapshot.json), not from envguard's reading of them.
"""

from __future__ import annotations

import json
import os
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from envguard_testsupport.checks import env_packages, set_created, take_snapshot

VERBS = (
    "list", "show", "status", "snapshot", "restore", "undo",
    "diff", "protect", "unprotect", "trash", "purge", "prune",
    "clean", "freeze", "unfreeze", "verify",
    "export", "import", "sync",
)  # fmt: skip

# What each verb's help must explain: a phrase of its description and its own options.
HELP = {
    "list": ("newest last", ["-n", "--json"]),
    "show": ("one snapshot", ["ID", "--json"]),
    "status": ("protects it", ["--json"]),
    "snapshot": ("exact state of an environment", ["-n", "-p", "--all", "--force", "--json"]),
    "restore": (
        "Recreate an environment",
        ["--snapshot", "--at", "--from-git", "--rev", "--force", "--dry-run", "-y"],
    ),
    "undo": ("most recently removed", ["ENV", "--force", "--dry-run", "-y"]),
    "diff": ("live environment", ["A", "B", "--json"]),
    "protect": ("Protect an environment", ["-n", "-p", "--reason", "--json"]),
    "unprotect": ("conda envguard protect", ["-n", "-p", "--json"]),
    "trash": ("envguard's trash", ["--json"]),
    "purge": ("freeing their space", ["ENV", "--all", "--older-than", "--expired", "-y"]),
    "prune": ("Delete old snapshots", ["-n", "--keep", "--older-than", "--dry-run", "-y"]),
    "clean": ("Remove temporary environments", ["--unused-for", "--dry-run", "-y", "--json"]),
    "freeze": ("EXTERNALLY-MANAGED", ["-n", "-p", "--reason", "--json"]),
    "unfreeze": ("conda envguard freeze", ["-n", "-p", "--json"]),
    "export": ("one file", ["ID_OR_ENV", "-o", "--with-packages", "--json"]),
    "import": ("never overwritten", ["FILE", "--json"]),
    "sync": ("rebase onto it and push", ["--json"]),
    "verify": ("against its manifest", ["ID", "--all", "--json"]),
}


# --- helpers -------------------------------------------------------------------------------


def tree(*roots: Path, store: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every path under `roots` with its size and mtime: to show that nothing was written.

    Inside envguard's `store`, only the snapshots and trash records count: a read may
    refresh an index or cache there."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                if store is not None and path.is_relative_to(store):
                    relative = path.relative_to(store).parts
                    if not relative or relative[0] not in ("snapshots", "trash"):
                        continue
                st = path.lstat()
                out[str(path)] = (st.st_size, st.st_mtime_ns)
    return out


def common_prefix(a: str, b: str) -> str:
    """The characters two snapshot ids start with."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def assert_clean_error(result, *phrases: str) -> None:
    """A failed child `conda` run: exit 1, conda's clean error, no traceback anywhere."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "ERROR REPORT" not in output, output
    flat = " ".join(result.stderr.split())
    for phrase in phrases:
        assert phrase in flat, result.stderr


# --- help ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_explains_itself(conda_cli, verb, flag):
    out, _err, excinfo = conda_cli("envguard", verb, flag, raises=SystemExit)

    assert excinfo.value.code in (0, None)
    text = " ".join(out.split())
    assert f"usage: conda envguard {verb}" in text
    phrase, options = HELP[verb]
    assert phrase in text
    for option in options:
        assert option in text, f"{verb} {flag} does not mention {option}"


def test_envguard_help_lists_every_verb(conda_cli, conda_run):
    out, _err, excinfo = conda_cli("envguard", "--help", raises=SystemExit)

    assert excinfo.value.code in (0, None)
    for verb in VERBS:
        assert f"    {verb} " in out or f"    {verb}\n" in out, f"{verb} missing from:\n{out}"
    child = conda_run("envguard", "-h")
    assert child.returncode == 0, child.stderr
    assert "Protect conda environments" in child.stdout
    assert "Traceback" not in child.stderr


# --- list ----------------------------------------------------------------------------------


@pytest.fixture
def listed(cli, make_env, conda_dirs):
    """Envs `one` and `two`; snapshots one (3 days ago), two (2 days ago), one (1 day ago)."""
    make_env("one", "alpha=1.0")
    make_env("two", "gamma")
    now = datetime.now(timezone.utc)
    ids = []
    for name, age in (("one", 3), ("two", 2), ("one", 1)):
        snap_id = take_snapshot(cli, "-n", name)
        set_created(conda_dirs.store, snap_id, now - timedelta(days=age))
        ids.append(snap_id)
    return ids


def test_list_json(cli, listed, conda_dirs):
    data = cli.json("envguard", "list")["snapshots"]

    assert [s["id"] for s in data] == listed  # newest last
    for item, (name, age) in zip(data, (("one", 3), ("two", 2), ("one", 1)), strict=True):
        assert item["env_name"] == name
        assert item["prefix"] == str(conda_dirs.envs / name)
        assert item["trigger"] == "manual"
        created = datetime.fromisoformat(item["created"])
        assert created.utcoffset() == timedelta(0)  # ISO 8601, UTC
        assert abs(datetime.now(timezone.utc) - timedelta(days=age) - created) < timedelta(
            minutes=5
        )
        path = Path(item["path"])
        assert path.is_dir() and path == conda_dirs.store / "snapshots" / item["id"]
        assert (path / "snapshot.json").is_file()
    assert data[0]["counts"] == {"conda": 1, "pip": 0}


def test_list_is_newest_last_within_one_second(cli, make_env):
    make_env("quick", "gamma")
    taken = [take_snapshot(cli, "-n", "quick") for _ in range(8)]

    assert [s["id"] for s in cli.json("envguard", "list")["snapshots"]] == taken


def test_list_filters_by_env(cli, listed, conda_dirs):
    by_name = cli.json("envguard", "list", "-n", "one")["snapshots"]
    by_prefix = cli.json("envguard", "list", "-n", str(conda_dirs.envs / "two"))["snapshots"]
    none = cli.json("envguard", "list", "-n", "three")["snapshots"]
    out, _ = cli("envguard", "list", "-n", "three")

    assert [s["id"] for s in by_name] == [listed[0], listed[2]]
    assert [s["id"] for s in by_prefix] == [listed[1]]
    assert none == []
    assert "No snapshots of 'three' yet" in out


def test_list_text_table(cli, listed, conda_dirs):
    out, _ = cli("envguard", "list")

    lines = out.splitlines()
    assert lines[0].split() == ["ID", "ENV", "WHEN", "TRIGGER", "PACKAGES"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    rows = lines[2:5]
    for row, snap_id, name in zip(rows, listed, ("one", "two", "one"), strict=True):
        created = json.loads(
            (conda_dirs.store / "snapshots" / snap_id / "snapshot.json").read_text()
        )["created"]
        when = datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
        assert row.split()[:2] == [snap_id, name]
        assert when in row
        assert row.split()[-3:] == ["manual", "1", "conda"]


def test_bare_envguard_lists(cli, listed):
    bare, _ = cli("envguard")
    listing, _ = cli("envguard", "list")

    assert bare == listing
    assert all(snap_id in bare for snap_id in listed)


def test_list_of_an_empty_store(cli, conda_dirs):
    out, _ = cli("envguard", "list")
    bare, _ = cli("envguard")

    assert "No snapshots yet" in out
    assert "conda envguard snapshot" in out
    assert bare == out
    assert cli.json("envguard", "list")["snapshots"] == []
    assert not conda_dirs.store.exists() or not any((conda_dirs.store / "snapshots").glob("*"))


# --- show ----------------------------------------------------------------------------------


def test_show_json_has_everything(cli, make_env, conda_dirs):
    prefix = make_env("shown", "alpha=1.0", "gamma")
    snap_id = take_snapshot(cli, "-n", "shown")

    data = cli.json("envguard", "show", snap_id)

    on_disk = json.loads((conda_dirs.store / "snapshots" / snap_id / "snapshot.json").read_text())
    for key, value in on_disk.items():
        assert data[key] == value, key
    assert data["path"] == str(conda_dirs.store / "snapshots" / snap_id)
    assert data["env_name"] == "shown" and data["prefix"] == str(prefix)
    assert data["trigger"] == "manual"
    assert {"environment.yml", "explicit.txt", "packages.json"} <= set(data["files"])
    assert {(p["name"], p["version"], p["kind"]) for p in data["packages"]} == {
        ("alpha", "1.0", "conda"),
        ("gamma", "1.0", "conda"),
    }
    assert data["damaged_files"] == []


def test_show_text(cli, make_env):
    make_env("shown", "alpha=1.0")
    snap_id = take_snapshot(cli, "-n", "shown")

    out, _ = cli("envguard", "show", snap_id)

    assert f"Snapshot  {snap_id}" in out
    assert "shown" in out
    assert any(line.split()[:3] == ["alpha", "1.0", "0"] for line in out.splitlines())


def test_show_by_unique_prefix_of_the_id(cli, make_env):
    make_env("pfx", "gamma")
    a, b = take_snapshot(cli, "-n", "pfx"), take_snapshot(cli, "-n", "pfx")
    common = len(common_prefix(a, b))

    assert cli.json("envguard", "show", a[: common + 1])["id"] == a
    assert cli.json("envguard", "show", b[: common + 1])["id"] == b


def test_show_ambiguous_or_unknown_id_is_a_clear_error(cli, make_env, conda_run):
    make_env("amb", "gamma")
    a, b = take_snapshot(cli, "-n", "amb"), take_snapshot(cli, "-n", "amb")
    common = common_prefix(a, b)
    assert common

    ambiguous = conda_run("envguard", "show", common)
    unknown = conda_run("envguard", "show", "19990101-000000-nothing")

    assert_clean_error(ambiguous, f"'{common}' matches 2 snapshots", a, b)
    assert_clean_error(unknown, "no snapshot matching '19990101-000000-nothing'")
    as_json = conda_run("envguard", "show", "19990101-000000-nothing", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["exception_name"] == "SnapshotNotFoundError"


# --- status --------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern_from", ["variable", ".condarc"])
def test_status_shows_protection_and_latest_snapshot(
    cli, make_env, conda_dirs, monkeypatch, pattern_from
):
    plain = make_env("plain", "gamma")
    marked = make_env("marked", "gamma")
    prod = make_env("web-prod", "gamma")
    never = make_env("never", "gamma")
    if pattern_from == "variable":
        monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_PROTECT", "*-prod")
    else:
        conda_dirs.condarc.write_text('plugins:\n  envguard_protect:\n    - "*-prod"\n')
    old = take_snapshot(cli, "-n", "plain")
    set_created(conda_dirs.store, old, datetime.now(timezone.utc) - timedelta(days=3, hours=1))
    cli("envguard", "protect", "-n", "marked", "--reason", "paper results")

    data = cli.json("envguard", "status")

    envs = {e["prefix"]: e for e in data["environments"]}
    assert {str(p) for p in (plain, marked, prod, never)} <= set(envs)
    assert envs[str(plain)]["protected"] is False and envs[str(plain)]["protection"] is None
    assert envs[str(plain)]["latest_snapshot"] == old
    assert envs[str(plain)]["latest_snapshot_created"].startswith(
        (datetime.now(timezone.utc) - timedelta(days=3, hours=1)).date().isoformat()
    )
    marker = envs[str(marked)]["protection"]
    assert envs[str(marked)]["protected"] is True and marker["kind"] == "marker"
    assert "conda envguard protect" in marker["rule"] and "paper results" in marker["rule"]
    assert "conda envguard unprotect -n marked" in marker["how_to"]
    pattern = envs[str(prod)]["protection"]
    assert envs[str(prod)]["protected"] is True and pattern["kind"] == "pattern"
    assert "'*-prod'" in pattern["rule"]
    where = "CONDA_PLUGINS_ENVGUARD_PROTECT" if pattern_from == "variable" else conda_dirs.condarc
    assert str(where) in pattern["rule"]
    assert envs[str(never)]["latest_snapshot"] is None
    assert envs[str(never)]["name"] == "never"

    out, _ = cli("envguard", "status")
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert "3d ago" in rows["plain"] and " - " in rows["plain"]
    assert "marker" in rows["marked"] and "never" in rows["marked"]
    assert "pattern" in rows["web-prod"]


def test_status_counts_the_trash(cli, make_env):
    make_env("kept", "gamma")
    make_env("binned", "gamma")
    cli("env", "remove", "-n", "binned", "-y")

    data = cli.json("envguard", "status")
    out, _ = cli("envguard", "status")

    assert data["trash"] == 1
    assert "binned" not in {e["name"] for e in data["environments"]}
    assert "1 removed env(s) in the trash: conda envguard trash" in out


# --- protect / unprotect -------------------------------------------------------------------


def test_protect_and_unprotect_json(cli, make_env, conda_dirs, monkeypatch):
    prefix = make_env("guarded", "gamma")
    marker = prefix / "conda-meta" / "envguard-protected"

    data = cli.json("envguard", "protect", "-n", "guarded", "--reason", "paper results")

    assert data["env_name"] == "guarded" and data["prefix"] == str(prefix)
    assert data["protected"] is True and data["reason"] == "paper results"
    assert data["by"] and datetime.fromisoformat(data["at"]).utcoffset() == timedelta(0)
    assert json.loads(marker.read_text())["reason"] == "paper results"

    data = cli.json("envguard", "unprotect", "-p", str(prefix))

    assert data == {
        "env_name": "guarded",
        "prefix": str(prefix),
        "marker_removed": True,
        "protected": False,
        "protection": None,
        "dry_run": False,
    }
    assert not marker.exists()
    assert cli.json("envguard", "unprotect", "-n", "guarded")["marker_removed"] is False

    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_PROTECT", "guard*")
    still = cli.json("envguard", "unprotect", "-n", "guarded")
    assert still["protected"] is True and still["protection"]["kind"] == "pattern"
    out, _ = cli("envguard", "unprotect", "-n", "guarded")
    assert "still protected by pattern 'guard*'" in out


def test_protect_text_names_the_way_back(cli, make_env):
    make_env("guarded", "gamma")

    out, _ = cli("envguard", "protect", "-n", "guarded")

    assert "Protected 'guarded'. Undo with: conda envguard unprotect -n guarded" in out


def test_protect_of_a_missing_env_is_a_clear_error(conda_run, conda_dirs):
    result = conda_run("envguard", "protect", "-n", "missing")

    assert_clean_error(result, "There is no conda environment 'missing'")
    as_json = conda_run("envguard", "protect", "-n", "missing", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["exception_name"] == "EnvironmentNotFoundError"
    assert not (conda_dirs.envs / "missing").exists()


def test_protect_needs_an_env(conda_run):
    result = conda_run("envguard", "protect")

    assert result.returncode != 0
    assert "-n" in result.stderr and "Traceback" not in result.stderr


# --- hostile names and paths ---------------------------------------------------------------


HOSTILE_NAMES = ["my env", "énv-名", "--", "-x", "it's"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_protect_works_on_envs_with_hostile_names(cli, make_env, conda_dirs, name):
    prefix = make_env(name, "gamma")

    data = cli.json("envguard", "protect", "-p", str(prefix))
    status = cli.json("envguard", "status")
    snap = take_snapshot(cli, "-p", str(prefix))
    listed = cli.json("envguard", "list", "-n", str(prefix))["snapshots"]

    assert data["prefix"] == str(prefix) and data["env_name"] == name
    assert (prefix / "conda-meta" / "envguard-protected").is_file()
    assert {e["prefix"]: e["protected"] for e in status["environments"]}[str(prefix)] is True
    assert [s["id"] for s in listed] == [snap]
    assert (conda_dirs.store / "snapshots" / snap).parent == conda_dirs.store / "snapshots"


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_unprotect_command_printed_by_protect_works(cli, make_env, name):
    """`protect` says how to undo it: that command, typed as shown, must do it."""
    prefix = make_env(name, "gamma")
    out, _ = cli("envguard", "protect", "-p", str(prefix))
    command = out.split("Undo with: ", 1)[1].strip()

    try:
        argv = shlex.split(command)
        assert argv[:3] == ["conda", "envguard", "unprotect"]
        cli(*argv[1:])
    except (Exception, SystemExit) as e:
        pytest.fail(f"protect printed `{command}`, which fails: {type(e).__name__}: {e}")

    assert not (prefix / "conda-meta" / "envguard-protected").exists()


@pytest.mark.parametrize("name", ["--", "-x"])
def test_the_undo_command_printed_for_a_removed_env_brings_that_env_back(cli, make_env, name):
    """After a removal envguard prints `Bring it back: conda envguard undo NAME`."""
    prefix = make_env(name, "gamma")
    other = make_env("other", "alpha")
    _out, err = cli("env", "remove", "-p", str(prefix), "-y")
    cli("env", "remove", "-p", str(other), "-y")  # removed later: the most recent one
    command = err.split("Bring it back:", 1)[1].splitlines()[0].strip()
    argv = shlex.split(command)
    assert argv[:3] == ["conda", "envguard", "undo"]

    try:
        cli("envguard", "undo", "-y", *argv[3:])
    except SystemExit as e:
        pytest.fail(f"envguard printed `{command}`, which conda cannot parse (exit {e.code})")

    assert not other.exists(), f"`{command}` brought back 'other', not {name!r}"
    assert env_packages(prefix) == {"gamma": "1.0"}


@pytest.fixture
def bystander(tmp_path, conda_dirs):
    """A directory that is not an env but looks a bit like one, beside the envs dir."""
    victim = conda_dirs.root / "victim"
    (victim / "conda-meta").mkdir(parents=True)
    (victim / "precious.txt").write_text("not an environment\n")
    return victim


HOSTILE_ARGS = [
    ("protect", "-n", "no such env"),
    ("protect", "-n", "なし"),
    ("protect", "-n", ".."),
    ("protect", "-n", "../victim"),
    ("protect", "-p", "{envs}/../victim"),
    ("protect", "-p", "../victim"),
    ("unprotect", "-p", "../victim"),
    ("protect", "-p", "{envs}/../../../victim"),
    ("unprotect", "-p", "{envs}/../victim"),
    ("unprotect", "-n", ".."),
    ("snapshot", "-p", "{envs}/../victim"),
    ("snapshot", "-n", "."),
    ("show", "../victim"),
    ("show", ".."),
    ("show", "../../etc/passwd"),
    ("diff", "../victim"),
    ("diff", "{snap}", "../victim"),
    ("restore", "../victim", "--dry-run"),
    ("restore", "--snapshot", "../victim", "-n", "new", "--dry-run"),
    ("restore", "--snapshot", "{snap}", "-n", "../victim", "--dry-run"),
    ("restore", "--snapshot", "{snap}", "-n", "a b", "--dry-run"),
    ("undo", ".."),
    ("undo", "../victim"),
]


@pytest.mark.parametrize("args", HOSTILE_ARGS, ids=lambda a: " ".join(a))
def test_hostile_input_is_a_conda_error_and_writes_nothing(
    cli, make_env, conda_dirs, tmp_path, bystander, monkeypatch, args
):
    from conda import CondaError

    make_env("real", "gamma")
    snap = take_snapshot(cli, "-n", "real")
    argv = [a.format(envs=conda_dirs.envs, snap=snap) for a in args]
    monkeypatch.chdir(conda_dirs.envs)  # relative paths lead to the bystander, not the repo
    before = tree(conda_dirs.root, tmp_path, store=conda_dirs.store)

    excinfo = cli("envguard", *argv, raises=CondaError)

    assert str(excinfo.value).strip()
    assert tree(conda_dirs.root, tmp_path, store=conda_dirs.store) == before


@pytest.mark.parametrize(
    "args", [HOSTILE_ARGS[3], HOSTILE_ARGS[10], HOSTILE_ARGS[15]], ids=lambda a: " ".join(a)
)
def test_hostile_input_fails_cleanly_in_a_real_process(conda_run, conda_dirs, args):
    argv = [a.format(envs=conda_dirs.envs, snap="x") for a in args]

    result = conda_run("envguard", *argv)

    assert_clean_error(result)


@pytest.mark.parametrize(
    "target",
    [("-n", ".."), ("-n", ".")],
    ids=["-n ..", "-n ."],
)
def test_restore_never_takes_dot_names_as_envs(cli, make_env, conda_dirs, target):
    """`-n ..` is the directory holding the envs dir (for a default install, `<root>/envs/..`
    is base itself), `-n .` the envs dir with every env in it: neither is an env named by -n,
    and --force must not offer to snapshot and move it to the trash."""
    from conda import CondaError

    make_env("real", "gamma")
    snap = take_snapshot(cli, "-n", "real")
    before = tree(conda_dirs.root, store=conda_dirs.store)

    try:  # a dry run: safe to try even when envguard gets it wrong
        out, _ = cli("envguard", "restore", "--snapshot", snap, *target, "--force", "--dry-run",
                     "--json")  # fmt: skip
    except CondaError:
        pass
    else:
        plan = json.loads(out)
        pytest.fail(
            f"restore {' '.join(target)} --force would replace {plan['target']} "
            f"(= {os.path.normpath(plan['target'])}; replaces_existing="
            f"{plan['replaces_existing']}) instead of refusing the name"
        )

    assert tree(conda_dirs.root, store=conda_dirs.store) == before


# --- --json is JSON, and only JSON ---------------------------------------------------------


@pytest.fixture
def populated(cli, make_env, conda_dirs, channel_args):
    """Env `js` with snapshots A and B (gamma added between), env `binned` in the trash."""
    make_env("js", "alpha=1.0")
    make_env("binned", "gamma")
    a = take_snapshot(cli, "-n", "js")
    cli("install", "-n", "js", *channel_args, "gamma", "-y")
    b = take_snapshot(cli, "-n", "js")
    cli("env", "remove", "-n", "binned", "-y")
    return a, b


REPORTING = [
    ("list",),
    ("list", "-n", "js"),
    ("show", "{a}"),
    ("status",),
    ("snapshot", "-n", "js", "--force"),
    ("snapshot", "-n", "js"),
    ("diff", "{a}"),
    ("diff", "{a}", "{b}"),
    ("protect", "-n", "js", "--reason", "because"),
    ("unprotect", "-n", "js"),
    ("trash",),
    ("purge", "--all", "--dry-run"),
    ("prune", "--keep", "1", "--dry-run"),
    ("undo", "--dry-run"),
    ("restore", "js", "--force", "--dry-run"),
    ("restore", "binned", "-n", "binned-copy", "--dry-run"),
]


@pytest.mark.parametrize("args", REPORTING, ids=lambda a: " ".join(a))
def test_json_output_is_json(cli, populated, args):
    a, b = populated
    argv = [x.format(a=a, b=b) for x in args]

    out, _ = cli("envguard", *argv, "--json")

    json.loads(out)  # all of stdout, nothing else in it


def test_json_output_is_json_in_real_processes(conda_run, cli, populated, conda_dirs):
    """The verbs that also talk (progress, notes) do it on stderr, never on stdout."""
    a, _ = populated
    for argv in (
        ("snapshot", "-n", "js", "--force"),
        ("protect", "-n", "js"),
        ("unprotect", "-n", "js"),
        ("restore", "js", "--snapshot", a, "-n", "js-copy", "-y"),
        ("undo", "binned", "-y"),
        ("prune", "-n", "js", "--keep", "1", "-y"),
        ("purge", "--all", "-y"),
        ("list",),
        ("trash",),
    ):
        result = conda_run("envguard", *argv, "--json")
        assert result.returncode == 0, result.stderr
        json.loads(result.stdout)
    assert env_packages(conda_dirs.envs / "js-copy") == {"alpha": "1.0"}
    assert env_packages(conda_dirs.envs / "binned") == {"gamma": "1.0"}


def test_text_output_of_every_reporting_verb(cli, populated):
    """Without --json: words for people, and no JSON."""
    a, b = populated
    for argv in (("list",), ("show", a), ("status",), ("diff", a, b), ("trash",)):
        out, _ = cli("envguard", *argv)
        assert out.strip(), argv
        assert not out.lstrip().startswith(("{", "[")), argv
    out, _ = cli("envguard", "trash")
    assert "binned" in out and "conda envguard undo" in out
