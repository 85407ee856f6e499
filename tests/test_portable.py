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
    return cli.json("envguard", "list", "-n", env)[-1]


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
