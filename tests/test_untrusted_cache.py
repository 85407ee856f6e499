"""Packages from a bundle never poison conda's shared package cache.

The attack: a bundle carries its own build of `victim-1.0-0` (same name, version, build and
file name as the genuine channel's), with a record that claims the genuine package's md5 and
size, and a snapshot resealed as an attacker would (the integrity manifest is computed from
the files). conda trusts a cached package whose record's md5 and size match what it looks
for: had the restore filed the impostor in the shared cache under the genuine channel's URL,
a later, unrelated `conda create -c <genuine channel> victim` would have linked its files.

Two machines: the first (the test's own conda) makes and exports the bundle; the second is
another conda root given to `python -m conda` children through `conda_run(..., env=...)`.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from envguard_testsupport.checks import clean_error, ok, tree

from conda_envguard.integrity import MANIFEST, write_manifest
from conda_envguard.testing.channel import Pkg, build_channel, channel_url

pytestmark = pytest.mark.usefixtures("no_background_expiry")

VICTIM = "victim-1.0-0.tar.bz2"
GENUINE = b"genuine victim\n"
IMPOSTOR = b"impostor victim\n"


def victim(content: bytes) -> Pkg:
    return Pkg("victim", "1.0", files={"share/victim/victim.txt": content})


@pytest.fixture
def genuine(tmp_path) -> Path:
    return build_channel(tmp_path / "genuine", [Pkg("alpha", "1.0"), victim(GENUINE)])


@pytest.fixture
def impostor_archive(tmp_path) -> bytes:
    """The impostor: the same name, version, build and file name, other files."""
    channel = build_channel(tmp_path / "attacker", [victim(IMPOSTOR)])
    return (channel / "noarch" / VICTIM).read_bytes()


@pytest.fixture
def bundle(genuine, conda_run, tmp_path) -> Path:
    """Env E (alpha, victim) from the genuine channel, exported with its packages."""
    ok(conda_run("create", "-n", "E", "-y", "--override-channels", "-c", channel_url(genuine),
                 "alpha", "victim"))  # fmt: skip
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    out = tmp_path / "E.envguard"
    ok(conda_run("envguard", "export", "E", "-o", out, "--with-packages"))
    return out


@pytest.fixture
def machine2(tmp_path, genuine, conda_run) -> dict[str, str]:
    """Another machine's conda, whose package cache already holds alpha from the channel."""
    root = tmp_path / "machine2"
    (root / "home").mkdir(parents=True)
    (root / "pkgs").mkdir()
    env = {
        "HOME": str(root / "home"),
        "CONDA_PKGS_DIRS": str(root / "pkgs"),
        "CONDA_ENVS_DIRS": str(root / "envs"),
        "CONDA_PLUGINS_ENVGUARD_STORE": str(root / "store"),
    }
    ok(conda_run("create", "-n", "before", "-y", "--override-channels", "-c",
                 channel_url(genuine), "alpha", env=env))  # fmt: skip
    return env


def craft(bundle: Path, out: Path, archive: bytes, record_edit=None) -> None:
    """`bundle` with `archive` in place of its victim, its checksum put wherever the genuine
    one was (lock, manifest, member names, record), the snapshot resealed."""
    with tarfile.open(bundle) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    listed = json.loads(files["envguard-bundle.json"])["packages"]
    (old,) = [p["digest"] for p in listed if p["fn"] == VICTIM]
    new = hashlib.sha256(archive).hexdigest()
    files = {n: d.replace(old.encode(), new.encode()) for n, d in files.items()}
    files[f"pkgs/{VICTIM}"] = archive
    if record_edit is not None:
        name = f"records/{VICTIM}.json"
        record = json.loads(files[name])
        record_edit(record)
        files[name] = json.dumps(record).encode()
    reseal = out.with_suffix(".snapshot")
    for name, data in files.items():
        if name.startswith("snapshot/") and name != f"snapshot/{MANIFEST}":
            (reseal / name).parent.mkdir(parents=True, exist_ok=True)
            (reseal / name).write_bytes(data)
    write_manifest(reseal / "snapshot")
    files[f"snapshot/{MANIFEST}"] = (reseal / "snapshot" / MANIFEST).read_bytes()
    with tarfile.open(out, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def honest(archive: bytes):
    """The record an attacker who does not lie about md5 and size sends."""

    def edit(record: dict) -> None:
        record.update(md5=hashlib.md5(archive).hexdigest(), size=len(archive))

    return edit


def store_leftovers(machine: dict[str, str]) -> list[str]:
    store = Path(machine["CONDA_PLUGINS_ENVGUARD_STORE"])
    return sorted(str(p.relative_to(store)) for p in store.glob("packages/*"))


def assert_unrelated_create_gets_the_genuine_victim(conda_run, genuine, machine2) -> None:
    ok(conda_run("create", "-n", "unrelated", "-y", "--override-channels", "-c",
                 channel_url(genuine), "victim", env=machine2))  # fmt: skip
    unrelated = Path(machine2["CONDA_ENVS_DIRS"]) / "unrelated"
    assert (unrelated / "share" / "victim" / "victim.txt").read_bytes() == GENUINE


def test_a_bundle_claiming_the_genuine_md5_and_size_poisons_no_cache(
    bundle, impostor_archive, genuine, machine2, conda_run, tmp_path
):
    crafted = tmp_path / "crafted.envguard"
    craft(bundle, crafted, impostor_archive)  # the record keeps the genuine md5 and size
    pkgs = Path(machine2["CONDA_PKGS_DIRS"])
    cache_before = tree(pkgs)

    imported = conda_run("envguard", "import", crafted, env=machine2)
    conda_run("envguard", "restore", "E", "-y", env=machine2)

    assert tree(pkgs) == cache_before
    assert_unrelated_create_gets_the_genuine_victim(conda_run, genuine, machine2)
    clean_error(imported, VICTIM, "repodata_record.json says md5", "Nothing was imported")
    assert store_leftovers(machine2) == []
    assert (
        json.loads(ok(conda_run("envguard", "list", "--json", env=machine2)).stdout)["snapshots"]
        == []
    )


def test_a_restore_from_an_honest_impostor_leaves_the_shared_cache_as_it_was(
    bundle, impostor_archive, genuine, machine2, conda_run, tmp_path
):
    """Its lock and record agree with its archive: the bundle is imported and restored as
    it is (the user asked for it), from a package cache of the restore's own; conda's shared
    cache is byte for byte what it was, and the genuine channel's victim is what a later
    `conda create` gets."""
    crafted = tmp_path / "crafted.envguard"
    craft(bundle, crafted, impostor_archive, honest(impostor_archive))
    pkgs = Path(machine2["CONDA_PKGS_DIRS"])
    cache_before = tree(pkgs)

    ok(conda_run("envguard", "import", crafted, env=machine2))
    report = json.loads(
        ok(conda_run("envguard", "restore", "E", "-y", "--json", env=machine2)).stdout
    )

    assert report["method"] == "explicit", report
    assert "1 package(s) came from envguard's kept packages" in report["notes"], report
    restored = Path(machine2["CONDA_ENVS_DIRS"]) / "E"
    assert (restored / "share" / "victim" / "victim.txt").read_bytes() == IMPOSTOR
    assert tree(pkgs) == cache_before
    assert not [p for p in store_leftovers(machine2) if ".restore-" in p]
    assert_unrelated_create_gets_the_genuine_victim(conda_run, genuine, machine2)


def with_payload(archive: bytes, name: str, data: bytes) -> bytes:
    """`archive` with member `name` holding `data`, its info/paths.json left as it was."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive), mode="r:bz2") as src,
        tarfile.open(fileobj=out, mode="w:bz2") as dst,
    ):
        for member in src.getmembers():
            content = src.extractfile(member).read()
            if member.name == name:
                content, member.size = data, len(data)
            dst.addfile(member, io.BytesIO(content))
    return out.getvalue()


def test_a_package_whose_files_are_not_its_paths_json_is_refused_and_nothing_stays(
    bundle, impostor_archive, machine2, conda_run, tmp_path
):
    """Checksums of the lock, manifest and record all agree with the archive; its file is
    not the one its info/paths.json describes (same size, other bytes). alpha, imported
    before it, does not stay either."""
    tampered = with_payload(impostor_archive, "share/victim/victim.txt", b"tampered victim\n")
    crafted = tmp_path / "crafted.envguard"
    craft(bundle, crafted, tampered, honest(tampered))

    result = conda_run("envguard", "import", crafted, env=machine2)

    clean_error(
        result,
        VICTIM,
        "share/victim/victim.txt does not match the sha256 its info/paths.json gives",
        "Nothing was imported",
    )
    assert store_leftovers(machine2) == []
    assert (
        json.loads(ok(conda_run("envguard", "list", "--json", env=machine2)).stdout)["snapshots"]
        == []
    )


def test_a_package_whose_index_names_another_is_refused(bundle, machine2, conda_run, tmp_path):
    other = build_channel(tmp_path / "other", [Pkg("gamma", "1.0")])
    gamma = (other / "noarch" / "gamma-1.0-0.tar.bz2").read_bytes()
    crafted = tmp_path / "crafted.envguard"
    craft(bundle, crafted, gamma, honest(gamma))

    result = conda_run("envguard", "import", crafted, env=machine2)

    clean_error(result, VICTIM, "its info/index.json names gamma-1.0-0, the lock victim-1.0-0")
    assert store_leftovers(machine2) == []


def test_a_kept_archive_that_no_longer_matches_its_lock_is_not_used_by_a_restore(
    bundle, impostor_archive, genuine, machine2, conda_run
):
    """Imported as it was exported, then changed in the store (or kept by an older envguard):
    the restore checks it again, says it did not use it, and conda fetches the genuine one."""
    ok(conda_run("envguard", "import", bundle, env=machine2))
    store = Path(machine2["CONDA_PLUGINS_ENVGUARD_STORE"])
    (kept,) = store.glob(f"packages/*/{VICTIM}")
    kept.write_bytes(impostor_archive)

    report = json.loads(
        ok(conda_run("envguard", "restore", "E", "-y", "--json", env=machine2)).stdout
    )

    (note,) = [n for n in report["notes"] if VICTIM in n]
    assert note.startswith(f"the kept package {VICTIM} was not used: it does not match its lock's")
    restored = Path(machine2["CONDA_ENVS_DIRS"]) / "E"
    assert (restored / "share" / "victim" / "victim.txt").read_bytes() == GENUINE
    assert not [p for p in store_leftovers(machine2) if ".restore-" in p]
