"""Integrity: every snapshot carries a manifest of its files, `verify` checks it, and a restore
refuses a snapshot edited since it was written (unless told, on purpose). A store other users
can write is not read at all."""

from __future__ import annotations

import json
import os

import pytest
from envguard_testsupport.checks import clean_error, env_packages, ok, take_snapshot

pytestmark = pytest.mark.usefixtures("no_background_expiry")


@pytest.fixture
def snapped(cli, make_env, conda_dirs):
    """Env `demo` (alpha 1.0), its snapshot, then the env removed and purged."""
    prefix = make_env("demo", "alpha=1.0")
    snap_id = take_snapshot(cli, "-n", "demo")
    return prefix, snap_id, conda_dirs.store / "snapshots" / snap_id


def test_manifest_covers_every_file_written(snapped):
    _, _, path = snapped
    manifest = json.loads((path / "manifest.json").read_text())
    on_disk = {
        os.path.relpath(os.path.join(root, name), path)
        for root, _, names in os.walk(path)
        for name in names
    }
    assert set(manifest["files"]) == on_disk - {"manifest.json"}
    assert {"snapshot.json", "explicit.txt", "environment.yml"} <= set(manifest["files"])


def test_verify_reports_intact_then_the_edited_file(snapped, conda_run):
    _, snap_id, path = snapped
    assert json.loads(ok(conda_run("envguard", "verify", "--json")).stdout)["ok"] is True

    lock = path / "explicit.txt"
    lock.write_text(lock.read_text() + "https://evil.example/noarch/evil-1.0-0.tar.bz2\n")
    result = conda_run("envguard", "verify")
    assert result.returncode == 1
    assert f"DAMAGED  {snap_id}" in result.stdout
    assert "explicit.txt: changed since the snapshot was taken" in result.stdout
    data = json.loads(conda_run("envguard", "verify", snap_id, "--json").stdout)
    assert data["ok"] is False
    assert data["snapshots"][0]["problems"] == [
        {"file": "explicit.txt", "problem": "changed since the snapshot was taken"}
    ]


@pytest.mark.parametrize("edit", ["explicit.txt", "environment.yml", "snapshot.json", "added"])
def test_restore_refuses_an_edited_snapshot(snapped, conda_run, edit):
    prefix, snap_id, path = snapped
    conda_run("env", "remove", "-n", "demo", "-y", check=True)
    conda_run("envguard", "purge", "demo", "-y", check=True)
    if edit == "added":
        (path / "post-link.sh").write_text("echo owned\n")
    else:
        (path / edit).write_text((path / edit).read_text().replace("1.0", "2.0"))

    result = conda_run("envguard", "restore", "--snapshot", snap_id, "-y")

    name = "post-link.sh" if edit == "added" else edit
    clean_error(result, f"Snapshot {snap_id} does not match", name, "--ignore-damage")
    assert not prefix.exists()


def test_restore_with_ignore_damage_goes_on_and_warns(snapped, conda_run, channel_args):
    prefix, snap_id, path = snapped
    conda_run("env", "remove", "-n", "demo", "-y", check=True)
    conda_run("envguard", "purge", "demo", "-y", check=True)
    (path / "history").write_text("edited\n")

    result = ok(conda_run("envguard", "restore", "--snapshot", snap_id, "--ignore-damage", "-y"))

    assert "history: changed since the snapshot was taken" in result.stderr
    assert env_packages(prefix) == {"alpha": "1.0"}


def test_a_snapshot_without_manifest_is_checked_against_its_own_checksums(snapped, conda_run):
    _, snap_id, path = snapped
    (path / "manifest.json").unlink()  # as written before manifests existed
    assert ok(conda_run("envguard", "verify", snap_id))
    (path / "packages.json").write_text("{}")
    result = conda_run("envguard", "verify", snap_id)
    assert result.returncode == 1
    assert "packages.json: changed" in result.stdout


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="no owners or mode bits")
@pytest.mark.parametrize("where", ["store", "snapshots", "trash"])
def test_a_store_others_can_write_is_not_read(snapped, conda_run, conda_dirs, where):
    _, snap_id, _ = snapped
    directory = conda_dirs.store if where == "store" else conda_dirs.store / where
    directory.mkdir(exist_ok=True)
    os.chmod(directory, 0o777)

    reads = {
        "store": (["list"], ["restore", "demo", "-n", "copy", "-y"], ["undo", "demo"]),
        "snapshots": (["list"], ["restore", "demo", "-n", "copy", "-y"], ["show", snap_id]),
        "trash": (["trash"], ["undo", "demo"], ["purge", "--all", "-y"]),
    }
    for verb in reads[where]:
        result = conda_run("envguard", *verb)
        clean_error(result, "will not read snapshots", "other users can write to it")
        assert f"chmod -R go-w '{directory}'" in result.stderr
    assert not (conda_dirs.envs / "copy").exists()

    os.chmod(directory, 0o700)
    assert snap_id in ok(conda_run("envguard", "list")).stdout


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="no owners or mode bits")
@pytest.mark.parametrize("where", ["store", "snapshots", "trash"])
def test_a_removal_writes_no_snapshot_into_a_store_others_can_write(
    snapped, conda_run, conda_dirs, where
):
    prefix, _, _ = snapped
    directory = conda_dirs.store if where == "store" else conda_dirs.store / where
    directory.mkdir(exist_ok=True)
    os.chmod(directory, 0o777)
    before = sorted(p.name for p in (conda_dirs.store / "snapshots").iterdir())

    stopped = conda_run("env", "remove", "-n", "demo", "-y")

    clean_error(
        stopped,
        "will not write a snapshot into",
        "other users can write to it",
        f"chmod -R go-w '{directory}'",
        "CONDA_PLUGINS_ENVGUARD_REQUIRE_SNAPSHOT=false conda env remove -n demo -y",
    )
    assert (prefix / "conda-meta" / "history").is_file()
    assert sorted(p.name for p in (conda_dirs.store / "snapshots").iterdir()) == before

    # the override the message names: this one command goes on without a snapshot
    override = {"CONDA_PLUGINS_ENVGUARD_REQUIRE_SNAPSHOT": "false"}
    went_on = ok(conda_run("env", "remove", "-n", "demo", "-y", env=override))
    assert "no snapshot of demo" in went_on.stderr and "other users can write" in went_on.stderr
    assert not prefix.exists()
    assert sorted(p.name for p in (conda_dirs.store / "snapshots").iterdir()) == before
    os.chmod(directory, 0o700)


def test_a_snapshot_by_hand_is_not_written_into_a_store_others_can_write(
    snapped, conda_run, conda_dirs
):
    os.chmod(conda_dirs.store / "snapshots", 0o777)

    result = conda_run("envguard", "snapshot", "-n", "demo", "--force")

    clean_error(result, "will not write snapshots", f"chmod -R go-w '{conda_dirs.store}")
    os.chmod(conda_dirs.store / "snapshots", 0o700)


@pytest.mark.skipif(getattr(os, "geteuid", lambda: -1)() != 0, reason="chown needs root")
def test_a_store_of_another_user_is_not_read(snapped, conda_run, conda_dirs):
    os.chown(conda_dirs.store / "snapshots", 65534, 65534)

    result = conda_run("envguard", "list")

    clean_error(result, "belongs to another user (uid 65534)", "chown -R 0")


def test_show_says_how_each_file_fails_its_manifest(snapped, conda_run):
    """It said every such file had "changed", a missing one included."""
    _, snap_id, path = snapped
    (path / "history").unlink()

    shown = ok(conda_run("envguard", "show", snap_id)).stdout

    assert "history (missing)" in shown and "changed since" not in shown
