"""Snapshots that travel: `conda envguard export` on one machine, `import` and `restore` on
another, with no channel and an empty package cache there.

The second machine is a second conda root: its own HOME, package cache, envs dir and store,
given to `python -m conda` children through `conda_run(..., env=...)`.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from envguard_testsupport.checks import assert_same_tree, clean_error, conda_list, ok, tree

from conda_envguard.testing.channel import channel_url

pytestmark = pytest.mark.usefixtures("no_background_expiry")


def pinned(records: list[dict]) -> set[tuple[str, str, str]]:
    return {(r["name"], r["version"], r["build_string"]) for r in records}


def second_machine(root: Path) -> dict[str, str]:
    """The variables of another machine's conda: nothing shared with the first."""
    (root / "home").mkdir(parents=True)
    (root / "pkgs").mkdir()
    return {
        "HOME": str(root / "home"),
        "CONDA_PKGS_DIRS": str(root / "pkgs"),
        "CONDA_ENVS_DIRS": str(root / "envs"),
        "CONDA_PLUGINS_ENVGUARD_STORE": str(root / "store"),
    }


def assert_arrived(conda_run, target, other, packages, payload, snapshot_id) -> None:
    """The env at `target` on the other machine has the exported env's packages and files,
    and its latest snapshot there is the one it was restored from."""
    listed = json.loads(ok(conda_run("list", "-p", target, "--json", env=other)).stdout)
    assert pinned(listed) == pinned(packages)
    # the env's files, but conda-meta (its records name the cache they were linked from)
    assert_same_tree(
        target,
        {k: v for k, v in payload.items() if not k.startswith("conda-meta")},
        ("conda-meta",),
    )
    status = json.loads(ok(conda_run("envguard", "status", "--json", env=other)).stdout)
    (env,) = [e for e in status["environments"] if e["prefix"] == str(target)]
    assert env["latest_snapshot"] == snapshot_id


@pytest.fixture
def own_channel(channel, tmp_path) -> Path:
    return shutil.copytree(channel.path, tmp_path / "channel")


@pytest.fixture
def exported_env(own_channel, conda_run, conda_dirs, tmp_path):
    """Env E (beta, gamma) made on the first machine and exported with its packages."""
    args = ("--override-channels", "-c", channel_url(own_channel))
    ok(conda_run("create", "-n", "E", "-y", *args, "beta", "gamma"))
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    bundle = tmp_path / "E.envguard"
    result = json.loads(
        ok(conda_run("envguard", "export", "E", "-o", bundle, "--with-packages", "--json")).stdout
    )
    return bundle, result, conda_list(conda_run, "E"), tree(conda_dirs.envs / "E")


def test_an_exported_bundle_restores_offline_on_another_machine(
    exported_env, own_channel, conda_run, tmp_path
):
    bundle, exported, packages, payload = exported_env
    assert exported["packages"] == 3 and exported["bytes"] == bundle.stat().st_size
    own_channel.rename(tmp_path / "channel-gone")
    other = second_machine(tmp_path / "machine2")

    imported = json.loads(ok(conda_run("envguard", "import", bundle, "--json", env=other)).stdout)
    report = json.loads(
        ok(conda_run("envguard", "restore", "E", "-y", "--json", env=other)).stdout
    )

    assert imported == {
        "snapshot": exported["snapshot"],
        "status": "imported",
        "packages": 3,
        "env_name": "E",
        "dry_run": False,
    }
    target = tmp_path / "machine2" / "envs" / "E"
    assert report["prefix"] == str(target)
    assert (report["method"], report["exact"]) == ("explicit", True), report
    assert_arrived(conda_run, target, other, packages, payload, exported["snapshot"])


def test_importing_twice_is_harmless_and_a_different_snapshot_is_never_overwritten(
    exported_env, conda_run, tmp_path
):
    bundle, exported, _, _ = exported_env
    other = second_machine(tmp_path / "machine2")
    ok(conda_run("envguard", "import", bundle, env=other))
    again = ok(conda_run("envguard", "import", bundle, env=other))
    assert "already in the store" in again.stdout

    meta_path = tmp_path / "machine2" / "store" / "snapshots" / exported["snapshot"]
    meta = json.loads((meta_path / "snapshot.json").read_text())
    meta["trigger"] = "something else"
    (meta_path / "snapshot.json").write_text(json.dumps(meta))
    before = (meta_path / "snapshot.json").read_bytes()

    result = conda_run("envguard", "import", bundle, env=other)

    clean_error(result, "already holds a different snapshot", exported["snapshot"])
    assert (meta_path / "snapshot.json").read_bytes() == before


def test_a_package_that_does_not_match_its_lock_is_refused(exported_env, conda_run, tmp_path):
    bundle, _, _, _ = exported_env
    tampered = tmp_path / "tampered.envguard"
    with tarfile.open(bundle) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.endswith("beta-1.0-0.tar.bz2"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, io.BytesIO(data))
    other = second_machine(tmp_path / "machine2")

    result = conda_run("envguard", "import", tampered, env=other)

    clean_error(result, "beta-1.0-0.tar.bz2", "does not match its lock's checksum")
    kept = tmp_path / "machine2" / "store" / "packages"
    assert not list(kept.glob("*/beta-1.0-0.tar.bz2"))
    listed = json.loads(ok(conda_run("envguard", "list", "--json", env=other)).stdout)["snapshots"]
    assert listed == []  # nothing of a bundle that failed its check


def test_export_refuses_packages_it_cannot_find(conda_run, conda_dirs, env_templates, tmp_path):
    ok(conda_run("create", "-n", "E", "-y", *env_templates.channel.args, "gamma"))
    ok(
        conda_run(
            "envguard", "snapshot", "-n", "E", env={"CONDA_PLUGINS_ENVGUARD_KEEP_PACKAGES_MB": "0"}
        )
    )
    shutil.rmtree(conda_dirs.pkgs)
    out = tmp_path / "E.envguard"

    result = conda_run("envguard", "export", "E", "-o", out, "--with-packages")

    clean_error(result, "neither in the package cache nor kept", "gamma-1.0-0.tar.bz2")
    assert not out.exists()
    # without packages the snapshot alone travels
    ok(conda_run("envguard", "export", "E", "-o", out))
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "snapshot/explicit.txt" in names and not any(n.startswith("pkgs/") for n in names)


def test_export_of_an_env_snapshots_it_first_when_changed_or_never_snapshotted(
    conda_run, env_templates, tmp_path
):
    args = env_templates.channel.args
    ok(conda_run("create", "-n", "E", "-y", *args, "alpha=1.0"))  # no snapshot of E yet

    first = json.loads(
        ok(conda_run("envguard", "export", "E", "-o", tmp_path / "1", "--json")).stdout
    )

    (snap,) = json.loads(ok(conda_run("envguard", "list", "-n", "E", "--json")).stdout)[
        "snapshots"
    ]
    assert first["snapshot"] == snap["id"] and snap["trigger"] == "export"
    # unchanged since: the same snapshot travels, and no new one is taken
    again = json.loads(
        ok(conda_run("envguard", "export", "E", "-o", tmp_path / "2", "--json")).stdout
    )
    assert again["snapshot"] == snap["id"]
    assert (
        len(json.loads(ok(conda_run("envguard", "list", "-n", "E", "--json")).stdout)["snapshots"])
        == 1
    )
    # changed since (behind conda's history snapshot's back): the env as it is now travels
    ok(conda_run("install", "-n", "E", "-y", *args, "gamma"))
    latest = json.loads(
        ok(conda_run("envguard", "export", "E", "-o", tmp_path / "3", "--json")).stdout
    )
    with tarfile.open(tmp_path / "3") as tar:
        lock = tar.extractfile("snapshot/explicit.txt").read().decode()
    assert "/gamma-1.0-0.tar.bz2#" in lock
    assert latest["snapshot"] == snapshots_ids(conda_run, "E")[-1]


def snapshots_ids(conda_run, name: str) -> list[str]:
    return [
        s["id"]
        for s in json.loads(ok(conda_run("envguard", "list", "-n", name, "--json")).stdout)[
            "snapshots"
        ]
    ]


def test_import_of_a_file_that_is_no_bundle_says_so(conda_run, tmp_path):
    junk = tmp_path / "junk.envguard"
    junk.write_text("not a tar")
    clean_error(conda_run("envguard", "import", junk), "not an envguard bundle")


def test_a_bundle_naming_an_unsafe_package_is_refused(exported_env, conda_run, tmp_path):
    """A package name with a path in it was skipped without a word, and the import 'worked'."""
    bundle, _, _, _ = exported_env
    crafted = tmp_path / "crafted.envguard"
    with tarfile.open(bundle) as src, tarfile.open(crafted, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "envguard-bundle.json":
                manifest = json.loads(data)
                manifest["packages"][0]["fn"] = "../../escape.tar.bz2"
                data = json.dumps(manifest).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    other = second_machine(tmp_path / "machine2")

    result = conda_run("envguard", "import", crafted, env=other)

    clean_error(result, "unsafe package", "escape.tar.bz2")
    listed = json.loads(ok(conda_run("envguard", "list", "--json", env=other)).stdout)["snapshots"]
    assert listed == []
