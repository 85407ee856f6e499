"""Restores that survive `conda clean --all`: the store keeps the packages the newest snapshot
of each env needs, as hard links to the package cache's archives.

Real conda in child processes, as a user runs it; the channel is taken away, so a restore that
works has found every package in what envguard kept.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from envguard_testsupport.checks import assert_same_tree, conda_list, ok, remove, tree

from conda_envguard.testing.channel import Pkg, build_channel, channel_url

pytestmark = pytest.mark.usefixtures("no_background_expiry")


def pinned(records: list[dict]) -> set[tuple[str, str, str]]:
    return {(r["name"], r["version"], r["build_string"]) for r in records}


@pytest.fixture
def own_channel(channel, tmp_path) -> Path:
    """A copy of the session's channel that this test may take away."""
    return shutil.copytree(channel.path, tmp_path / "channel")


def own_args(path: Path) -> tuple[str, ...]:
    return ("--override-channels", "-c", channel_url(path))


def kept_files(store: Path) -> list[str]:
    """The archives in the store's kept packages, by file name."""
    return sorted(p.name for p in (store / "packages").glob("*/*") if p.name.endswith(".bz2"))


def archives(records: list[dict]) -> list[str]:
    """The archive file names of the packages `conda list --json` shows."""
    return sorted(f"{r['dist_name']}.tar.bz2" for r in records)


def extracted_dirs(pkgs: Path) -> list[str]:
    return sorted(p.parent.parent.name for p in pkgs.glob("*/info/index.json"))


def status(conda_run) -> dict:
    return json.loads(ok(conda_run("envguard", "status", "--json")).stdout)


def test_restore_after_conda_clean_all_with_the_channel_gone_and_the_trash_purged(
    own_channel, conda_run, conda_dirs, tmp_path
):
    ok(conda_run("create", "-n", "E", "-y", *own_args(own_channel), "beta", "gamma"))
    prefix = conda_dirs.envs / "E"
    packages = conda_list(conda_run, "E")
    payload = tree(prefix, skip=("conda-meta",))
    remove(conda_run, "E", purge=True)
    assert kept_files(conda_dirs.store) == archives(packages) and len(packages) == 3
    ok(conda_run("clean", "--all", "-y"))
    assert extracted_dirs(conda_dirs.pkgs) == []  # conda's clean took the extracted packages
    own_channel.rename(tmp_path / "channel-gone")

    report = json.loads(ok(conda_run("envguard", "restore", "E", "-y", "--json")).stdout)

    assert report["method"] == "explicit", report
    assert report["exact"] is True, report
    assert any("kept packages" in note for note in report["notes"]), report
    assert pinned(conda_list(conda_run, "E")) == pinned(packages)
    assert_same_tree(prefix, payload, skip=("conda-meta",))


def test_restore_after_the_package_cache_is_deleted_outright(
    own_channel, conda_run, conda_dirs, tmp_path
):
    """`conda clean --all` leaves archives that have a second link; deleting the cache
    directory (or `conda clean --force-pkgs-dirs`) does not: the store's link is all there is."""
    ok(conda_run("create", "-n", "E", "-y", *own_args(own_channel), "beta"))
    packages = conda_list(conda_run, "E")
    remove(conda_run, "E", purge=True)
    shutil.rmtree(conda_dirs.pkgs)
    own_channel.rename(tmp_path / "channel-gone")
    kept = status(conda_run)["kept_packages"]
    assert kept["archives"] == 2 and kept["only_in_store_bytes"] == kept["bytes"] > 0

    text = ok(conda_run("envguard", "status")).stdout
    assert "Kept packages: 2 archive(s)" in text and "of it on disk for the store alone" in text

    report = json.loads(ok(conda_run("envguard", "restore", "E", "-y", "--json")).stdout)

    assert (report["method"], report["exact"]) == ("explicit", True), report
    assert pinned(conda_list(conda_run, "E")) == pinned(packages)


def test_kept_packages_cost_no_space_while_the_cache_holds_them(
    make_env, conda_run, conda_dirs, env_templates
):
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "beta"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    kept = sorted((conda_dirs.store / "packages").glob("*/*.tar.bz2"))
    assert sorted(p.name for p in kept) == archives(conda_list(conda_run, "E"))
    for path in kept:
        assert os.path.samefile(path, conda_dirs.pkgs / path.name)
    assert status(conda_run)["kept_packages"]["only_in_store_bytes"] == 0


def test_prune_releases_the_packages_only_pruned_snapshots_needed(
    conda_run, conda_dirs, env_templates
):
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "beta"))
    ok(conda_run("create", "-n", "F", "-y", *args, "gamma"))
    ok(conda_run("envguard", "snapshot", "--all"))
    e_packages = conda_list(conda_run, "E")
    remove(conda_run, "E", purge=True)
    assert kept_files(conda_dirs.store) == sorted([*archives(e_packages), "gamma-1.0-0.tar.bz2"])
    # E no longer exists: its last snapshots go only when E is named
    ok(conda_run("envguard", "prune", "-n", "E", "--keep", "0", "-y"))

    assert kept_files(conda_dirs.store) == ["gamma-1.0-0.tar.bz2"]
    assert status(conda_run)["kept_packages"]["archives"] == 1


def test_the_newest_snapshot_of_an_env_decides_what_is_kept(conda_run, conda_dirs, env_templates):
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "alpha=1.0"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    ok(conda_run("install", "-n", "E", "-y", *args, "alpha=2.0"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    assert kept_files(conda_dirs.store) == ["alpha-1.0-0.tar.bz2", "alpha-2.0-0.tar.bz2"]

    ok(conda_run("envguard", "prune", "-n", "E", "--keep", "1", "-y"))

    assert kept_files(conda_dirs.store) == ["alpha-2.0-0.tar.bz2"]


def test_the_size_bound_zero_keeps_nothing(conda_run, conda_dirs, env_templates):
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "beta"))
    ok(
        conda_run(
            "envguard", "snapshot", "-n", "E", env={"CONDA_PLUGINS_ENVGUARD_KEEP_PACKAGES_MB": "0"}
        )
    )
    assert kept_files(conda_dirs.store) == []
    assert "Kept packages" not in ok(conda_run("envguard", "status")).stdout


def test_a_private_channels_packages_are_kept_without_its_credentials(
    token_channel, conda_run, conda_dirs
):
    private = ("--override-channels", "-c", token_channel.url)
    ok(conda_run("create", "-n", "P", "-y", *private, "beta"))
    packages = conda_list(conda_run, "P")
    remove(conda_run, "P", purge=True)
    shutil.rmtree(conda_dirs.pkgs)
    kept = "".join(p.read_text() for p in (conda_dirs.store / "packages").glob("*/*.json"))
    assert kept and token_channel.token not in kept and token_channel.password not in kept
    conda_dirs.condarc.write_text(f"channels:\n  - {token_channel.url}\n")
    served = len(token_channel.served)

    report = json.loads(ok(conda_run("envguard", "restore", "P", "-y", "--json")).stdout)

    assert (report["method"], report["exact"]) == ("explicit", True), report
    assert len(token_channel.served) == served  # nothing downloaded: all from the store
    assert pinned(conda_list(conda_run, "P")) == pinned(packages)


def test_the_size_bound_keeps_the_newest_envs_packages_first(conda_run, conda_dirs, tmp_path):
    """Two envs of one 1.5 MB package each, a bound of 2 MB: the env snapshotted last wins."""
    heavy = [Pkg(f"heavy{i}", "1.0", files={f"share/h{i}": os.urandom(1_500_000)}) for i in (1, 2)]
    path = build_channel(tmp_path / "heavy-channel", heavy)
    bound = {"CONDA_PLUGINS_ENVGUARD_KEEP_PACKAGES_MB": "2"}
    for i in (1, 2):
        ok(conda_run("create", "-n", f"H{i}", "-y", *own_args(path), f"heavy{i}", env=bound))
        ok(conda_run("envguard", "snapshot", "-n", f"H{i}", env=bound))

    assert kept_files(conda_dirs.store) == ["heavy2-1.0-0.tar.bz2"]
    kept = json.loads(ok(conda_run("envguard", "status", "--json", env=bound)).stdout)
    assert kept["kept_packages"]["bytes"] <= 2 * 1024 * 1024


def test_another_channels_build_of_the_same_file_name_is_never_deleted(
    own_channel, conda_run, conda_dirs, tmp_path
):
    """The cache holds `alpha-1.0-0` from another channel (same file name, other content)
    when a restore needs the kept `alpha-1.0-0`: the restore gets the kept one, from a
    package cache of its own, and the other one's extracted directory and archive stay
    byte for byte (a restore seeded conda's shared cache, and skipped or replaced them)."""
    ok(conda_run("create", "-n", "E", "-y", *own_args(own_channel), "alpha=1.0"))
    remove(conda_run, "E", purge=True)
    ok(conda_run("clean", "--all", "-y"))
    other = build_channel(
        tmp_path / "other-channel",
        [Pkg("alpha", "1.0", files={"share/alpha/alpha.txt": b"another channel's alpha\n"})],
    )
    ok(conda_run("create", "-n", "F", "-y", *own_args(other), "alpha=1.0"))
    theirs = conda_dirs.pkgs / "alpha-1.0-0"
    assert json.loads((theirs / "info" / "repodata_record.json").read_text())["url"].startswith(
        channel_url(other)
    )
    cache_before = tree(conda_dirs.pkgs)
    own_channel.rename(tmp_path / "channel-gone")

    report = json.loads(ok(conda_run("envguard", "restore", "E", "-y", "--json")).stdout)

    assert (report["method"], report["exact"]) == ("explicit", True), report
    assert (conda_dirs.envs / "E" / "share" / "alpha" / "alpha.txt").read_bytes() == (
        b"alpha 1.0 0\n"
    )
    assert tree(conda_dirs.pkgs) == cache_before
    assert not list((conda_dirs.store / "packages").glob(".restore-*"))  # its own cache went
    assert (conda_dirs.envs / "F" / "share" / "alpha" / "alpha.txt").read_bytes() == (
        b"another channel's alpha\n"
    )
