"""Bundles come from someone else: everything read from one is checked before it is used.

Restoring a bundle's env runs its packages' own link scripts, by design; nothing else of the
bundle's may reach outside the store, the package cache and the env being restored. The
integrity manifest proves only "unchanged since written": these bundles are crafted and then
resealed, as anyone who edits one can.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from envguard_testsupport.checks import clean_error, ok
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
    assert (
        json.loads(ok(conda_run("envguard", "list", "--json", env=other)).stdout)["snapshots"]
        == []
    )
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


def retar(bundle: Path, out: Path, edit: Callable[[list], list], mode: str = "w") -> Path:
    """A copy of `bundle` whose members (TarInfo, bytes) `edit` rewrites, as they stand."""
    with tarfile.open(bundle) as src:
        members = [(m, src.extractfile(m).read()) for m in src.getmembers()]
    with tarfile.open(out, mode) as dst:
        for info, data in edit(members):
            dst.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out


def _package_member(members: list) -> int:
    return next(i for i, (m, _) in enumerate(members) if m.name.endswith(".tar.bz2"))


def _as_link(kind: bytes) -> Callable[[list], list]:
    def edit(members: list) -> list:
        i = _package_member(members)
        info = tarfile.TarInfo(members[i][0].name)
        info.type, info.linkname = kind, "/etc/passwd"
        if kind == tarfile.CHRTYPE:
            info.devmajor, info.devminor = 1, 3
        members[i] = (info, b"")
        return members

    return edit


def _package_altered(which: int) -> Callable[[list], list]:
    def edit(members: list) -> list:
        packages = [i for i, (m, _) in enumerate(members) if m.name.endswith(".tar.bz2")]
        info, data = members[packages[which]]
        members[packages[which]] = (info, data[:-1] + bytes([data[-1] ^ 1]))
        return members

    return edit


def _renamed(name: str) -> Callable[[list], list]:
    def edit(members: list) -> list:
        info = tarfile.TarInfo(name)
        info.size = 2
        return [*members, (info, b"{}")]

    return edit


def _manifest(change: Callable[[dict], None]) -> Callable[[list], list]:
    def edit(members: list) -> list:
        out = []
        for info, data in members:
            if info.name == "envguard-bundle.json":
                head = json.loads(data)
                change(head)
                data = json.dumps(head).encode()
                info.size = len(data)
            out.append((info, data))
        return out

    return edit


MALFORMED = {
    "empty id": (_manifest(lambda m: m.update(snapshot_id="")), "snapshot id"),
    "NUL in the id": (_manifest(lambda m: m.update(snapshot_id="a\0b")), "snapshot id"),
    "a shell command in the id": (
        _manifest(lambda m: m.update(snapshot_id="x$(id>&2)")),
        "snapshot id",
    ),
    "a package without url": (
        _manifest(lambda m: m["packages"][0].pop("url")),
        "without url",
    ),
    "a symlink package": (_as_link(tarfile.SYMTYPE), "unsafe member"),
    "a hard link package": (_as_link(tarfile.LNKTYPE), "unsafe member"),
    "a device package": (_as_link(tarfile.CHRTYPE), "unsafe member"),
    "a Windows parent path": (_renamed("snapshot/..\\..\\evil.json"), "unsafe member"),
    "a drive letter": (_renamed("snapshot/C:evil.json"), "unsafe member"),
    "a package that fails its checksum after another was kept": (
        _package_altered(1),
        "does not match its lock's checksum",
    ),
    # the others are extracted and kept at the same time: none may stay
    "a package that fails its checksum before others are kept": (
        _package_altered(0),
        "does not match its lock's checksum",
    ),
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_a_malformed_bundle_is_refused_cleanly_and_leaves_nothing(
    kind, bundle, conda_run, tmp_path
):
    """These ended in conda's "unexpected error" report (some with packages left in the
    store), or were imported as they were."""
    edit, phrase = MALFORMED[kind]
    crafted = retar(bundle, tmp_path / "crafted.envguard", edit)
    machine = tmp_path / "machine2"
    other = second_machine(machine)

    clean_error(conda_run("envguard", "import", crafted, env=other), phrase)

    assert (
        json.loads(ok(conda_run("envguard", "list", "--json", env=other)).stdout)["snapshots"]
        == []
    )
    assert not [p.name for p in (machine / "store" / "packages").glob("*")]


def test_a_small_bundle_that_expands_to_a_huge_snapshot_file_is_refused_before_reading(
    bundle, conda_run, tmp_path
):
    def bomb(members: list) -> list:
        info = tarfile.TarInfo("snapshot/etc/huge")
        info.size = 80 << 20  # zeros: a few hundred KB compressed
        return [*members, (info, bytes(info.size))]

    crafted = retar(bundle, tmp_path / "bomb.envguard", bomb, mode="w:gz")
    assert crafted.stat().st_size < 2 << 20
    other = second_machine(tmp_path / "machine2")

    clean_error(conda_run("envguard", "import", crafted, env=other), "larger than envguard")
    assert (
        json.loads(ok(conda_run("envguard", "list", "--json", env=other)).stdout)["snapshots"]
        == []
    )


def test_a_bundle_of_too_many_members_is_refused(bundle, conda_run, tmp_path):
    from conda_envguard.bundle import MAX_MEMBERS

    def many(members: list) -> list:
        folders = [tarfile.TarInfo(f"snapshot/d{i}") for i in range(MAX_MEMBERS)]
        for info in folders:
            info.type = tarfile.DIRTYPE
        return [*members, *((info, b"") for info in folders)]

    crafted = retar(bundle, tmp_path / "many.envguard", many)
    other = second_machine(tmp_path / "machine2")

    clean_error(conda_run("envguard", "import", crafted, env=other), f"more than {MAX_MEMBERS}")
    assert (
        json.loads(ok(conda_run("envguard", "list", "--json", env=other)).stdout)["snapshots"]
        == []
    )


def test_an_imported_snapshot_never_becomes_the_latest_of_a_local_env(
    bundle, channel, conda_run, tmp_path
):
    """A snapshot naming the user's own env x with a huge order stayed x's latest: `restore
    x --force` installed the bundle's packages into the user's x."""
    machine = tmp_path / "machine2"
    other = second_machine(machine)
    ok(conda_run("create", "-n", "x", "-y", *channel.args, "alpha", env=other))
    ok(conda_run("envguard", "snapshot", "-n", "x", env=other))
    (own,) = json.loads(ok(conda_run("envguard", "list", "-n", "x", "--json", env=other)).stdout)[
        "snapshots"
    ]

    def hijack(meta: dict) -> None:
        meta.update(env_name="x", prefix=str(machine / "envs" / "x"), order=2**62)

    crafted = craft(
        bundle, tmp_path / "x.envguard", hijack, manifest=lambda m: m.update(env_name="x")
    )
    imported = json.loads(ok(conda_run("envguard", "import", crafted, "--json", env=other)).stdout)

    listed = json.loads(ok(conda_run("envguard", "list", "-n", "x", "--json", env=other)).stdout)[
        "snapshots"
    ]
    assert [(s["id"], s["imported"]) for s in listed] == [
        (own["id"], False),
        (imported["snapshot"], True),
    ]
    shown = ok(conda_run("envguard", "show", imported["snapshot"], env=other)).stdout
    assert "Imported  from another machine" in shown
    report = json.loads(
        ok(conda_run("envguard", "restore", "x", "--force", "-y", "--json", env=other)).stdout
    )
    assert report["snapshot_id"] == own["id"]
    names = {
        p["name"] for p in json.loads(ok(conda_run("list", "-n", "x", "--json", env=other)).stdout)
    }
    assert "alpha" in names and "beta" not in names


def test_a_bundle_env_name_that_is_a_path_is_no_restore_target(bundle, conda_run, tmp_path):
    other = second_machine(tmp_path / "machine2")
    elsewhere = tmp_path / "outside" / "env"

    def pathname(meta: dict) -> None:
        meta["env_name"] = str(elsewhere)

    crafted = craft(
        bundle,
        tmp_path / "p.envguard",
        pathname,
        manifest=lambda m: m.update(env_name=str(elsewhere)),
    )
    imported = json.loads(ok(conda_run("envguard", "import", crafted, "--json", env=other)).stdout)
    printed = ok(conda_run("envguard", "import", crafted, env=other)).stdout
    assert f"--snapshot {imported['snapshot']} -n NEW_NAME" in printed

    result = conda_run("envguard", "restore", "--snapshot", imported["snapshot"], "-y", env=other)

    clean_error(result, "not a plain name", "-n NEW_NAME")
    assert not elsewhere.exists()


def test_the_plan_counts_the_lock_that_is_installed(bundle, conda_run, tmp_path):
    other = second_machine(tmp_path / "machine2")
    crafted = craft(bundle, tmp_path / "c.envguard", lambda m: m.update(counts={"conda": 0}))
    ok(conda_run("envguard", "import", crafted, env=other))

    plan = json.loads(
        ok(conda_run("envguard", "restore", "E", "--dry-run", "--json", env=other)).stdout
    )

    assert plan["counts"]["conda"] == 3


# --- any hostile bundle --------------------------------------------------------------------

HOSTILE = [
    "", ".", "..", "../x", "..\\x", "C:x", "C:\\x", "/etc/x", "x/y", "a\0b", "x$(id>&2)",
    "x;id", "-n", " x", "x\n", "~", "$HOME", "kernels/../../x", "kernels/ok",
]  # fmt: skip


def texts(*usual: str):
    return st.one_of(st.sampled_from([*usual, *HOSTILE]), st.text(max_size=20))


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: a bounded, repeatable search
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_no_bundle_changes_anything_outside_the_store_and_its_target(
    data, bundle, conda_cli, conda_dirs, make_env, tmp_path, monkeypatch
):
    """Any manifest and snapshot metadata, resealed: the import is refused cleanly or
    accepted, and import plus a restore of it change nothing but the store, the package
    cache, the restored env (and its registration) and kernelspecs in Jupyter's user dir."""
    from conda import CondaError

    from conda_envguard.bundle import import_bundle

    outside = tmp_path / "outside"
    (outside / "victim").mkdir(parents=True, exist_ok=True)
    (outside / "victim" / "file").write_text("mine")
    (tmp_path / "cwd").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path / "cwd")  # a relative path would land here
    local = conda_dirs.envs / "x"
    if not local.exists():
        make_env("x", "alpha")
    spots = [str(outside / "p"), str(local), str(outside / "victim")]
    for leftover in (conda_dirs.store, tmp_path / "target"):  # each example starts afresh
        shutil.rmtree(leftover, ignore_errors=True)
    with tarfile.open(bundle) as tar:
        original = json.loads(tar.extractfile("envguard-bundle.json").read())["snapshot_id"]

    # one or two fields made hostile at a time, so that some bundles get past the import
    fields = ("snapshot_id", "env_name", "id", "prefix", "order", "kernels", "counts", "member")
    hostile = data.draw(st.sets(st.sampled_from(fields), min_size=1, max_size=2), "fields")

    def drawn(field: str, usual, strategy):
        return data.draw(strategy, field) if field in hostile else usual

    snap_id = drawn("snapshot_id", original, texts("x", "20261128-142301-x-3fa1"))
    env_name = drawn("env_name", "E", texts("x", *spots))
    kernel = st.fixed_dictionaries(
        {
            "name": texts("k", "victim"),
            "dir": st.sampled_from(spots) | texts(),
            "saved_as": st.sampled_from(["kernels/0-k", "../../../../outside/victim"]) | texts(),
        }
    )
    meta_edit = {"id": drawn("id", snap_id, texts(original)), "env_name": env_name}
    for field, strategy in (
        ("prefix", texts(*spots)),
        ("order", st.integers(-(2**70), 2**70)),
        ("kernels", st.lists(kernel, max_size=3)),
        ("counts", st.just({"conda": 0})),
    ):
        if field in hostile:
            meta_edit[field] = data.draw(strategy, field)
    extra = drawn("member", None, texts("snapshot/etc/x"))

    def manifest(head: dict) -> None:
        head.update(snapshot_id=snap_id, env_name=env_name)

    crafted = craft(
        bundle,
        tmp_path / "crafted.envguard",
        lambda meta: meta.update(meta_edit),
        manifest,
        files={"kernels/0-k/kernel.json": KERNEL_JSON},
    )
    if extra is not None:
        crafted = retar(crafted, tmp_path / "extra.envguard", _renamed(extra))
    watched = (conda_dirs.home, conda_dirs.envs, outside, tmp_path / "cwd")
    before = files_under(*watched)
    try:
        imported = import_bundle(crafted, conda_dirs.store)
    except CondaError:
        imported = None  # refused: a clean error, anything else fails the test
    if imported is not None:
        target = tmp_path / "target"
        for extra_args in (("--dry-run",), ()):
            try:
                conda_cli(
                    "envguard", "restore", "--snapshot", imported["snapshot"],
                    "-p", target, "-y", "--json", *extra_args,
                )  # fmt: skip
            except CondaError:
                pass
    after = files_under(*watched)
    kernels = conda_dirs.home / ".local" / "share" / "jupyter" / "kernels"
    allowed = (str(tmp_path / "target"), str(kernels), str(conda_dirs.home / ".conda"))
    changed = {
        path
        for path in before.keys() | after.keys()
        if before.get(path, 0) != after.get(path, 0) and not path.startswith(allowed)
    }
    assert not changed
