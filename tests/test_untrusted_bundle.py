"""Bundles come from someone else: everything read from one is checked before it is used.

Restoring a bundle's env runs its packages' own link scripts, by design; nothing else of the
bundle's may reach outside the store, the package cache and the env being restored. The
integrity manifest proves only "unchanged since written": these bundles are crafted and then
resealed, as anyone who edits one can.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from support.checks import clean_error, ok
from test_bundle import second_machine

from conda_envguard.integrity import write_manifest
from conda_envguard.testing.channel import channel_url

pytestmark = pytest.mark.usefixtures("no_background_expiry")


@pytest.fixture
def bundle(channel, conda_run, tmp_path) -> Path:
    """Env E (beta, gamma) exported with its packages, as test_bundle's first machine does."""
    args = ("--override-channels", "-c", channel_url(channel.path))
    ok(conda_run("create", "-n", "E", "-y", *args, "beta", "gamma"))
    out = tmp_path / "E.envguard"
    ok(conda_run("envguard", "export", "E", "-o", out, "--with-packages"))
    return out


def craft(
    bundle: Path,
    out: Path,
    meta: Callable[[dict], None] | None = None,
    manifest: Callable[[dict], None] | None = None,
    files: dict[str, bytes] | None = None,
) -> Path:
    """A copy of `bundle` with its snapshot.json and manifest edited, `files` added to its
    snapshot, and the snapshot's integrity manifest written anew."""
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(bundle) as src:
        snap = Path(scratch)
        packages = []
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "envguard-bundle.json":
                head = json.loads(data)
            elif member.name.startswith("snapshot/"):
                path = snap / member.name[len("snapshot/") :]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            else:
                packages.append((member, data))
        data = json.loads((snap / "snapshot.json").read_text())
        if meta:
            meta(data)
        (snap / "snapshot.json").write_text(json.dumps(data))
        for rel, content in (files or {}).items():
            (snap / rel).parent.mkdir(parents=True, exist_ok=True)
            (snap / rel).write_bytes(content)
        if manifest:
            manifest(head)
        (snap / "manifest.json").unlink()
        write_manifest(snap)
        with tarfile.open(out, "w") as dst:
            _add(dst, "envguard-bundle.json", json.dumps(head).encode())
            for path in sorted(p for p in snap.rglob("*") if p.is_file()):
                _add(dst, f"snapshot/{path.relative_to(snap).as_posix()}", path.read_bytes())
            for member, data in packages:
                dst.addfile(member, io.BytesIO(data))
    return out


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def files_under(*roots: Path) -> dict[str, bytes | None]:
    """Every path under `roots` (with file contents): what a command must leave alone."""
    out: dict[str, bytes | None] = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            out[str(path)] = path.read_bytes() if path.is_file() else None
    return out


def hostile_kernels(outside: Path, victim: Path) -> list[dict]:
    return [
        {"name": "planted", "dir": str(outside / "planted"), "saved_as": "kernels/0-x"},
        {"name": "victim", "dir": str(victim), "saved_as": "kernels/0-x"},
        {"name": "loot", "dir": str(outside / "loot"), "saved_as": "../../../home/.ssh"},
        {"name": "../up", "dir": str(outside / "up"), "saved_as": "kernels/0-x"},
        {"name": "win", "dir": "C:\\Windows\\k", "saved_as": "kernels\\..\\..\\x"},
    ]


KERNEL_JSON = json.dumps({"argv": ["/elsewhere/bin/python"], "display_name": "k"}).encode()


def reseal(snapshot: Path, meta: Callable[[dict], None], files: dict[str, bytes]) -> None:
    """Edit a snapshot in the store and write its integrity manifest anew."""
    data = json.loads((snapshot / "snapshot.json").read_text())
    meta(data)
    (snapshot / "snapshot.json").write_text(json.dumps(data))
    for rel, content in files.items():
        (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / rel).write_bytes(content)
    (snapshot / "manifest.json").unlink()
    imported = snapshot / "imported.json"
    note = imported.read_bytes()
    imported.unlink()
    write_manifest(snapshot)
    imported.write_bytes(note)


def test_kernel_records_that_name_paths_are_refused_at_import(bundle, conda_run, tmp_path):
    machine = tmp_path / "machine2"
    other = second_machine(machine)
    outside = tmp_path / "outside"

    def hostile(meta: dict) -> None:
        meta["kernels"] = hostile_kernels(outside, outside / "victim")

    crafted = craft(
        bundle,
        tmp_path / "crafted.envguard",
        hostile,
        files={"kernels/0-x/kernel.json": KERNEL_JSON},
    )

    clean_error(conda_run("envguard", "import", crafted, env=other), "kernel record")
    assert json.loads(ok(conda_run("envguard", "list", "--json", env=other)).stdout) == []
    assert not list((machine / "store").glob("packages/*"))


def test_kernel_records_of_a_snapshot_reach_only_jupyter_kernel_dirs(bundle, conda_run, tmp_path):
    """Restored, crafted records made a dir anywhere, replaced one, and copied a private dir
    out to a place of the bundle's choosing; then said the env matched the snapshot. Here
    the records are put in an imported snapshot in the store (resealed) as an older import
    let them in."""
    machine = tmp_path / "machine2"
    other = second_machine(machine)
    outside = tmp_path / "outside"
    victim = outside / "victim"
    victim.mkdir(parents=True)
    (victim / "precious.txt").write_text("mine")
    private = machine / "home" / ".ssh"
    private.mkdir()
    (private / "id_rsa").write_text("secret key")
    imported = json.loads(ok(conda_run("envguard", "import", bundle, "--json", env=other)).stdout)
    snapshot = machine / "store" / "snapshots" / imported["snapshot"]

    def hostile(meta: dict) -> None:
        meta["kernels"] = hostile_kernels(outside, victim)

    reseal(snapshot, hostile, {"kernels/0-x/kernel.json": KERNEL_JSON})
    before = files_under(outside, private)

    report = json.loads(
        ok(conda_run("envguard", "restore", "E", "-y", "--json", env=other)).stdout
    )

    assert files_under(outside, private) == before
    kernels_home = machine / "home" / ".local" / "share" / "jupyter" / "kernels"
    assert report["kernels"], report
    assert all(Path(k).parent == kernels_home for k in report["kernels"]), report["kernels"]
    assert all(Path(k).name != "loot" for k in report["kernels"])
    # records that were not put back are not "exactly as the snapshot"
    assert report["exact"] is False
