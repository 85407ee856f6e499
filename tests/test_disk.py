"""`conda envguard disk`: what removing each env, purging the trash, releasing kept packages and
`conda clean --all` would free, checked against the filesystem, not against envguard's code.

Two independent checks of the "frees" figures:

* `du` counts a file with several links once over all the paths it is given. So what a tree
  frees is `du` of every tree minus `du` of every tree but that one: the blocks no other tree
  (package cache, other env, store) links to. Runs anywhere `du` does.
* Where a tmpfs can be mounted (root), envs and package cache live on a filesystem of their
  own, and each env is removed and purged for real: the free blocks `statvfs` reports before
  and after must differ by the figure.

Every env here is made by conda from the package cache (hard links), as users' envs are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

DAY = 86400
BIG = 3 * 1024 * 1024  # the bytes one env holds of its own

pytestmark = [
    pytest.mark.usefixtures("no_background_expiry"),
    pytest.mark.skipif(not shutil.which("du"), reason="needs du to check the figures against"),
]


def du(*paths: str | os.PathLike, apparent: bool = False) -> int:
    """du's total over `paths`, each inode once: allocated bytes, or apparent with `apparent`."""
    out = subprocess.run(
        ["du", "-sc", "-b" if apparent else "-B1", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.splitlines()[-1].split()[0])


def build_scene(cli, channel_args, envs: Path) -> dict[str, Path]:
    """Two envs sharing packages through the cache, one with a big file of its own (and a
    second link to it, inside the env), and one removed into the trash (its snapshot keeps
    its package archives in the store)."""
    made = {}
    for name, packages in (
        ("shared-a", ("alpha", "gamma")),
        ("shared-b", ("alpha", "gamma", "beta")),
        ("big", ("alpha",)),
        ("gone", ("alpha", "gamma")),
    ):
        cli("create", "-n", name, *channel_args, *packages, "--yes", "--quiet")
        made[name] = envs / name
    own = made["big"] / "data.bin"
    own.write_bytes(os.urandom(BIG))
    os.link(own, made["big"] / "data-again.bin")  # one inode: freed once
    cli("remove", "-n", "gone", "--all", "--yes")
    return made


def rows_of(report: dict) -> dict[tuple[str, str], dict]:
    return {(r["kind"], r["name"]): r for r in report["rows"]}


@pytest.fixture
def unowned_to_trash(monkeypatch):
    """The big file is no package's: let removals take it to the trash."""
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES", "trash")


@pytest.mark.usefixtures("unowned_to_trash")
def test_frees_and_totals_match_du(cli, conda_dirs, channel_args, conda_run):
    made = build_scene(cli, channel_args, conda_dirs.envs)
    # the cache loses one archive the store keeps: the store's link is then its only one
    kept = sorted((conda_dirs.store / "packages").glob("*/gamma-*"))
    assert kept, "the removal's snapshot kept no package archive"
    os.unlink(conda_dirs.pkgs / kept[0].name)

    report = cli.json("envguard", "disk")

    rows = rows_of(report)
    [trashed] = [r for r in report["rows"] if r["kind"] == "trash" and r["name"] == "gone"]
    trees = {
        **{name: prefix for name, prefix in made.items() if name != "gone"},
        "trash": Path(trashed["path"]),
        "kept": conda_dirs.store / "packages",
        "pkgs": conda_dirs.pkgs,
        # the rest of the store: the store's own row leaves its kept packages to theirs
        **{f"store/{p.name}": p for p in conda_dirs.store.iterdir() if p.name != "packages"},
    }
    everything = du(*trees.values())
    for key, tree_name in (
        (("env", "shared-a"), "shared-a"),
        (("env", "shared-b"), "shared-b"),
        (("env", "big"), "big"),
        (("kept", "kept packages"), "kept"),
    ):
        others = [p for name, p in trees.items() if name != tree_name]
        assert rows[key]["frees_bytes"] == everything - du(*others), key
        assert rows[key]["size_bytes"] == du(trees[tree_name], apparent=True), key
        assert rows[key]["on_disk_bytes"] == du(trees[tree_name]), key
    others = [p for name, p in trees.items() if name != "trash"]
    assert trashed["frees_bytes"] == everything - du(*others)
    # what the figures say, in plain terms: shared files free (almost) nothing, own ones do
    assert rows[("env", "big")]["frees_bytes"] >= BIG
    assert rows[("env", "big")]["frees_bytes"] < 2 * BIG  # its second link counted once
    assert rows[("env", "shared-a")]["frees_bytes"] < rows[("env", "shared-a")]["on_disk_bytes"]
    assert rows[("kept", "kept packages")]["frees_bytes"] >= kept[0].stat().st_size
    # the package cache: conda's own count of what `conda clean --all` removes
    clean = json.loads(conda_run("clean", "--all", "--dry-run", "--json").stdout)
    conda_counts = clean["tarballs"]["total_size"] + clean["packages"]["total_size"]
    cache = rows[("cache", "package cache")]
    assert cache["conda_clean_reports_bytes"] == conda_counts
    # totals: every row's tree, each inode once, as du counts them
    paths = [r["path"] for r in report["rows"] if r["kind"] != "kept"]  # inside the store's
    assert report["totals"]["size_bytes"] == du(*paths, apparent=True)
    assert report["totals"]["on_disk_bytes"] == du(*paths)
    assert report["totals"]["frees_bytes"] == sum(r["frees_bytes"] or 0 for r in report["rows"])
    # and the cache's figure is what its deletion takes off du
    before = du(conda_dirs.pkgs)
    cli("clean", "--all", "--yes")
    assert before - du(conda_dirs.pkgs) == cache["frees_bytes"]


@pytest.mark.usefixtures("unowned_to_trash")
def test_frees_match_what_the_filesystem_frees(cli, conda_dirs, channel_args, tmpfs, monkeypatch):
    """On a filesystem of their own, envs and cache are removed for real; statvfs's free
    blocks before and after each removal (and purge) are compared with the report. The store
    stays elsewhere: the snapshots a removal writes do not blur the figure."""
    from conda.base.context import reset_context

    disk = tmpfs(conda_dirs.root / "fs", size="64M")
    monkeypatch.setenv("CONDA_ENVS_DIRS", str(disk / "envs"))
    monkeypatch.setenv("CONDA_PKGS_DIRS", str(disk / "pkgs"))
    reset_context()
    made = build_scene(cli, channel_args, disk / "envs")

    def free() -> int:
        fs = os.statvfs(disk)
        return fs.f_bfree * fs.f_frsize

    page = os.statvfs(disk).f_frsize
    report = rows_of(cli.json("envguard", "disk"))
    for name in ("big", "shared-a", "shared-b"):
        before = free()
        cli("remove", "-n", name, "--all", "--yes")
        cli("envguard", "purge", name, "--yes")
        assert not made[name].exists()
        freed = free() - before
        # tmpfs counts whole pages, as st_blocks shows them: equal but for a stray page
        assert abs(freed - report[("env", name)]["frees_bytes"]) <= page, name
    [trashed] = [r for (kind, _), r in report.items() if kind == "trash"]
    before = free()
    cli("envguard", "purge", "gone", "--yes")
    assert abs(free() - before - trashed["frees_bytes"]) <= page
    # with the envs gone, the cache's files have no other link: conda clean takes them
    cache = rows_of(cli.json("envguard", "disk"))[("cache", "package cache")]
    assert cache["frees_bytes"] > 0
    before = free()
    cli("clean", "--all", "--yes")
    assert abs(free() - before - cache["frees_bytes"]) <= page


def test_disk_text_lists_biggest_first_with_bars_and_progress(make_env, conda_run):
    small = make_env("small-tmp", "alpha")
    large = make_env("large", "alpha")
    (large / "weights.bin").write_bytes(os.urandom(BIG))

    result = conda_run("envguard", "disk")
    assert result.returncode == 0, result.stderr

    lines = result.stdout.splitlines()
    large_line = next(line for line in lines if line.startswith("large "))
    small_line = next(line for line in lines if line.startswith("small-tmp "))
    assert lines.index(large_line) < lines.index(small_line)
    assert "#" * 20 in large_line and "#" * 20 not in small_line  # the biggest, longest bar
    assert "temporary" in small_line
    assert any(line.startswith("total ") for line in lines)
    assert f"scanning {'large'}" in result.stderr  # progress, on stderr only
    assert "scanning" not in conda_run("envguard", "disk", "-q").stderr
    quiet = conda_run("envguard", "disk", "--json")
    assert "scanning" not in quiet.stderr
    data = json.loads(quiet.stdout)
    [row] = [r for r in data["rows"] if r["path"] == str(small)]
    assert row["temporary"] and not row["protected"] and not row["frozen"]
    assert row["last_change"] and row["files"] > 0


# --- clean --unchanged-for -----------------------------------------------------------------


def age(prefix: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(prefix / "conda-meta" / "history", (then, then))


@pytest.mark.usefixtures("unowned_to_trash")
def test_clean_unchanged_for_takes_old_envs_of_any_name_and_says_what_they_free(
    make_env, cli, conda_dirs, conda_run
):
    old = make_env("thesis-2024", "alpha")
    (old / "results.bin").write_bytes(os.urandom(BIG))
    os.link(old / "results.bin", old / "results-latest.bin")  # two links, both inside: freed
    recent = make_env("thesis-2026", "alpha")
    guarded = make_env("paper-final", "alpha")
    frozen = make_env("team-base", "alpha")
    busy = make_env("server-prod-old", "alpha")
    for prefix in (old, recent, guarded, frozen, busy):
        age(prefix, 5 if prefix == recent else 400)
    cli("envguard", "protect", "-n", "paper-final")
    cli("envguard", "freeze", "-n", "team-base")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], cwd=busy) as p:
        try:
            # without the flag, only temporary names are clean's business
            plain = cli.json("envguard", "clean", "--dry-run")
            assert plain["removed"] == [] and plain["kept"] == []

            dry = cli.json("envguard", "clean", "--unchanged-for", "365", "--dry-run")
            text = ok_run(conda_run, "envguard", "clean", "--unchanged-for", "365", "--dry-run")
            frees = {r["path"]: r["frees_bytes"] for r in cli.json("envguard", "disk")["rows"]}
            assert old.is_dir()  # a dry run changes nothing

            cleaned = ok_run(conda_run, "envguard", "clean", "--unchanged-for", "365", "-y")
        finally:
            p.kill()
    assert [r["prefix"] for r in dry["removed"]] == [str(old)]
    assert dry["removed"][0]["size_bytes"] == frees[str(old)] >= BIG
    kept = {r["env_name"]: r["kept_because"] for r in dry["kept"]}
    assert set(kept) == {"paper-final", "team-base", "server-prod-old"}
    assert kept["paper-final"].startswith("protected by 'conda envguard protect'")
    assert kept["team-base"].startswith("protected by 'conda envguard freeze'")
    assert kept["server-prod-old"].startswith("in use by process")
    assert "thesis-2024  (frees 3.0 MB, unchanged 400 days)" in text
    assert "conda envguard purge" in text and "expires in 7 day(s)" in text
    assert "thesis-2026" not in text

    assert not old.exists()
    assert recent.is_dir() and guarded.is_dir() and frozen.is_dir() and busy.is_dir()
    assert "Removed 1 env(s), 3.0 MB." in cleaned
    assert "1 of them (3.0 MB) are in envguard's trash, their disk space held until" in cleaned
    [entry] = cli.json("envguard", "trash")["entries"]
    assert entry["prefix"] == str(old)  # in the trash: snapshot first, undo brings it back


def ok_run(conda_run, *args: str) -> str:
    result = conda_run(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- conda doctor ----------------------------------------------------------------------------


def test_doctor_warns_when_the_trash_holds_much_of_the_free_disk(
    cli, conda_dirs, make_env, tmpfs, monkeypatch, tmp_path
):
    from conda.base.context import reset_context

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)  # conda's own check goes online
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    disk = tmpfs(conda_dirs.root / "fs", size="8M")
    envs = disk / "envs"
    monkeypatch.setenv("CONDA_ENVS_DIRS", str(envs))
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES", "trash")
    reset_context()
    for name in ("here", "work"):
        shutil.copytree(make_env(name, "alpha"), envs / name, symlinks=True)
    (envs / "work" / "cache.bin").write_bytes(os.urandom(BIG))  # 3 of the 8 MB
    cli("remove", "-n", "work", "--all", "--yes")

    def doctor() -> str:
        out, err = cli("doctor", "-n", "here")
        assert "Error running health check" not in err
        return out

    warned = doctor()
    assert "envguard's trash holds 3.0 MB on the disk of" in warned
    assert "more than 25% of the" in warned
    assert "conda envguard purge --all -y" in warned

    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_TRASH_WARN_PERCENT", "300")
    reset_context()
    assert "envguard's trash holds 1 removed env(s), 3.0 MB" in doctor()

    # a value that can't be read never turns the warning off: it reads as the default
    monkeypatch.delenv("CONDA_PLUGINS_ENVGUARD_TRASH_WARN_PERCENT")
    conda_dirs.condarc.write_text("plugins:\n  envguard_trash_warn_percent: -5\n")
    reset_context()
    unread = doctor()
    assert "more than 25% of the" in unread
    assert f"envguard_trash_warn_percent in {conda_dirs.condarc} is -5" in unread


# --- trash and purge -------------------------------------------------------------------------


@pytest.mark.usefixtures("unowned_to_trash")
def test_trash_and_purge_say_what_disk_says_purging_frees(make_env, cli):
    """A trashed env with a file of its own linked twice inside it: trash, purge's plan and
    its result give the figure `disk` gives (every link inside the entry: freed, once)."""
    prefix = make_env("results", "alpha")
    (prefix / "data.bin").write_bytes(os.urandom(BIG))
    os.link(prefix / "data.bin", prefix / "data-again.bin")
    cli("remove", "-n", "results", "--all", "--yes")

    [row] = [r for r in cli.json("envguard", "disk")["rows"] if r["kind"] == "trash"]
    assert BIG <= row["frees_bytes"] < 2 * BIG
    [entry] = cli.json("envguard", "trash")["entries"]
    assert entry["size_bytes"] == row["frees_bytes"]
    assert (
        cli.json("envguard", "purge", "results", "--dry-run")["freed_bytes"] == row["frees_bytes"]
    )
    assert cli.json("envguard", "purge", "results", "-y")["freed_bytes"] == row["frees_bytes"]


def test_a_base_holding_its_envs_dir_counts_what_else_is_in_it(
    cli, make_env, conda_dirs, monkeypatch
):
    """The Miniforge layout: envs live in base/envs. A half-removed env there is no env's, so
    it is base's (as `du` counts it); the totals are `du`'s over the rows' paths."""
    from conda.base.context import reset_context

    base = conda_dirs.root / "base"
    (base / "conda-meta").mkdir(parents=True)
    (base / "conda-meta" / "history").touch()
    monkeypatch.setenv("CONDA_ROOT_PREFIX", str(base))
    monkeypatch.setenv("CONDA_ENVS_DIRS", str(base / "envs"))
    reset_context()
    shutil.copytree(make_env("work", "alpha"), base / "envs" / "work", symlinks=True)
    (base / "envs" / "half-removed").mkdir()
    (base / "envs" / "half-removed" / "lib.so").write_bytes(os.urandom(BIG))

    report = cli.json("envguard", "disk")

    rows = rows_of(report)
    assert rows[("env", "base")]["frees_bytes"] >= BIG
    paths = [r["path"] for r in report["rows"] if r["kind"] != "kept"]  # inside the store's
    assert report["totals"]["on_disk_bytes"] == du(*paths)
    assert report["totals"]["size_bytes"] == du(*paths, apparent=True)
