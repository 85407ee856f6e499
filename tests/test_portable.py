"""Portable specs: what the user asked for, saved with every snapshot and committed to git,
and the restore that rebuilds an env from them on a platform its lock is not for."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conda_envguard.testing.channel import add_pip_package

pytestmark = pytest.mark.usefixtures("no_background_expiry")


def latest(cli, env: str) -> dict:
    return cli.json("envguard", "list", "-n", env)["snapshots"][-1]


def test_every_snapshot_saves_the_requested_specs_and_git_gets_them(cli, channel, history):
    cli("create", "-n", "proj", *channel.args, "alpha=1.0", "python", "-y", "-q")
    cli("install", "-n", "proj", "--override-channels", "--channel", channel.url, "beta", "-y")
    prefix = Path(cli.json("info")["envs_dirs"][0]) / "proj"
    add_pip_package(prefix, "extra-lib", "0.3")
    cli("envguard", "snapshot", "-n", "proj")
    snap = latest(cli, "proj")
    store = Path(cli.json("envguard", "show", snap["id"])["path"])
    portable = json.loads((store / "portable.json").read_text())

    assert [(r["name"], r["spec"], r["version"]) for r in portable["requested"]] == [
        ("alpha", "alpha 1.0.*", "1.0"),
        ("beta", "beta", "1.0"),
        ("python", "python", "3.11.0"),
    ]
    assert portable["channels"][0] == channel.url  # the -c of the command that made it
    assert portable["pip"] == ["extra-lib==0.3"]
    # committed beside the lock
    (folder,) = [p for p in history.iterdir() if p.name.startswith("proj--")]
    committed = subprocess.run(
        ["git", "-C", history, "show", f"HEAD:{folder.name}/portable.json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(committed) == portable


def test_another_platform_rebuilds_from_the_portable_specs(
    cli, conda_dirs, history, tmp_path, monkeypatch
):
    """Made on linux-64, restored on osx-arm64 from git and from a bundle: the requested
    packages at the snapshot's versions where osx-arm64 has them, every difference named."""
    from conda.base.context import reset_context

    from conda_envguard.testing.channel import Pkg, build_channel, channel_url

    channel = build_channel(
        tmp_path / "channel",
        [
            Pkg("alpha", "1.0"),
            Pkg("alpha", "2.0"),
            Pkg("tool", "1.0", build="linux_0", subdir="linux-64"),
            Pkg("tool", "1.0", build="osx_0", subdir="osx-arm64"),
            Pkg("tool", "1.1", build="osx_0", subdir="osx-arm64"),
            Pkg("gamma", "1.0", subdir="linux-64"),
            Pkg("gamma", "0.9", subdir="osx-arm64"),
            Pkg("linuxonly", "1.0", subdir="linux-64"),
        ],
        subdirs=("linux-64", "osx-arm64"),
    )
    url = channel_url(channel)
    monkeypatch.setenv("CONDA_SUBDIR", "linux-64")
    reset_context()
    cli("create", "-n", "proj", "--override-channels", "-c", url, "alpha=1.0", "tool", "-y")
    cli("install", "-n", "proj", "--override-channels", "-c", url, "gamma", "linuxonly", "-y")
    cli("envguard", "snapshot", "-n", "proj")
    bundle = tmp_path / "proj.envguard"
    cli("envguard", "export", "proj", "-o", bundle)

    # another machine: an Apple Silicon laptop with its own store and the team's history
    for name, value in {
        "CONDA_SUBDIR": "osx-arm64",
        "CONDA_OVERRIDE_OSX": "14.0",
        "CONDA_PLUGINS_ENVGUARD_STORE": str(tmp_path / "mac-store"),
    }.items():
        monkeypatch.setenv(name, value)
    reset_context()
    expected = {("alpha", "1.0", "0"), ("tool", "1.0", "osx_0"), ("gamma", "0.9", "0")}

    report = cli.json("envguard", "restore", "proj", "--from-git", "-n", "proj-mac", "-y")
    assert report["method"] == "portable specs" and not report["exact"], report
    assert conda_list(cli, "proj-mac") == expected
    assert report["missing"] == ["linuxonly"]
    assert sorted(report["changed_how"]) == ["gamma: 1.0 -> 0.9", "tool: linux_0 -> osx_0"]
    notes = "\n".join(report["notes"])
    assert "linuxonly: the channels have no build of it for osx-arm64: left out" in notes
    assert "gamma: version 1.0 has no build for osx-arm64: solved as 'gamma'" in notes

    cli("envguard", "import", bundle)
    (snap,) = cli.json("envguard", "list", "-n", "proj")["snapshots"]
    text, _ = cli("envguard", "restore", "--snapshot", snap["id"], "-n", "proj-mac2", "-y")
    assert conda_list(cli, "proj-mac2") == expected
    assert "(portable specs)" in text and "It matches the snapshot exactly" not in text
    assert "tool: linux_0 -> osx_0" in text, text


def conda_list(cli, env: str) -> set[tuple[str, str, str]]:
    return {(p["name"], p["version"], p["build_string"]) for p in cli.json("list", "-n", env)}
