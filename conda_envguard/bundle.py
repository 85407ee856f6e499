"""Snapshots that travel: one file holding a snapshot and, optionally, its packages.

A bundle is a plain tar (package archives are compressed already):
  envguard-bundle.json           format, snapshot id, and each package's file and checksum
  snapshot/...                   the snapshot directory, as in the store
  packages/<checksum>/<file>     with --with-packages: each archive the lock names
  packages/<checksum>/repodata_record.json   conda's record of it
Every archive is checked against the lock's checksum as it is written; as it is read back,
against the lock and its own contents (`pkgkeep.unpack_checked`). Imported packages join the
store's kept packages (see `pkgkeep`), which a restore extracts into a package cache of its
own, never conda's shared one: no channel needed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

MANIFEST = "envguard-bundle.json"
FORMAT = 1
IMPORTED = "imported.json"


class _Hashing(io.RawIOBase):
    """A file read through a checksum."""

    def __init__(self, f, digest):
        self.f, self.digest = f, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.f.read(len(buffer))
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


def _new_digest(like: str):
    return hashlib.md5() if len(like) == 32 else hashlib.sha256()


def export(snapshot, out: Path, with_packages: bool, store_root: Path) -> dict:
    """Write `snapshot` (and its packages) to `out`, atomically. Raises BundleError."""
    from .envfiles import PRIVATE
    from .exceptions import BundleError
    from .integrity import verify
    from .pkgkeep import Kept, in_package_cache, snapshot_entries

    snapshot = snapshot.full()
    if damaged := [p["file"] for p in verify(snapshot.path)]:
        raise BundleError(
            str(out),
            f"Snapshot {snapshot.id} is damaged ({', '.join(damaged)}); it is not exported.",
            "Export another one: conda envguard list",
        )
    sources = []
    if with_packages:
        kept = Kept(store_root)
        missing = []
        for entry in snapshot_entries(snapshot):
            if kept.has(entry) and kept.record(entry):
                sources.append((entry, kept.archive(entry), kept.record(entry)))
            elif found := in_package_cache(entry):
                sources.append((entry, *found))
            else:
                missing.append(entry.fn)
        if missing:
            raise BundleError(
                str(out),
                f"{len(missing)} package(s) of snapshot {snapshot.id} are neither in the package "
                f"cache nor kept by envguard: {', '.join(missing[:10])}",
                "Export without them (the other machine downloads them): "
                f"conda envguard export {snapshot.id} -o {out}",
            )
    manifest = {
        "format": FORMAT,
        "snapshot_id": snapshot.id,
        "env_name": snapshot.env_name,
        "platform": snapshot.meta.get("platform"),
        "packages": [{"fn": e.fn, "digest": e.digest, "url": e.url} for e, _, _ in sources],
    }
    out = Path(out)
    tmp = out.with_name(f".{out.name}.envguard-tmp")
    try:
        with tarfile.open(tmp, "w") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
            for path in sorted(snapshot.path.rglob("*")):
                # the private originals of masked secrets never leave the machine
                if path.is_file() and path.relative_to(snapshot.path).as_posix() not in (
                    IMPORTED,
                    PRIVATE,
                ):
                    tar.add(path, f"snapshot/{path.relative_to(snapshot.path).as_posix()}")
            for entry, archive, record in sources:
                info = tar.gettarinfo(str(archive), f"packages/{entry.digest}/{entry.fn}")
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
                with open(archive, "rb") as f:
                    hashing = _Hashing(f, _new_digest(entry.digest))
                    tar.addfile(info, io.BufferedReader(hashing, 1 << 20))
                if hashing.digest.hexdigest() != entry.digest:
                    raise BundleError(
                        str(out),
                        f"{archive} does not match the checksum its lock gives; the bundle "
                        "was not written.",
                        f"Let conda fetch it again: conda clean --tarballs, then conda "
                        f"envguard export {snapshot.id} -o {out}",
                    )
                _add_bytes(tar, f"packages/{entry.digest}/repodata_record.json", record)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {
        "snapshot": snapshot.id,
        "file": str(out),
        "packages": len(sources),
        "bytes": out.stat().st_size,
        "secrets_left_out": (snapshot.path / PRIVATE).is_file(),
    }


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def import_bundle(path: Path, store_root: Path) -> dict:
    """Add the bundle's snapshot (and packages) to the store. Raises BundleError."""
    from .exceptions import BundleError
    from .integrity import verify
    from .snapshot import META
    from .store import TMP_PREFIX, Store

    path = Path(path)
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by the `with` below)
    except (OSError, ValueError, tarfile.TarError) as e:  # ValueError: a NUL in the path
        raise BundleError(
            str(path), f"This is not an envguard bundle ({e}).", "Make one with: conda "
            "envguard export ID_OR_ENV -o FILE"
        ) from e  # fmt: skip
    with tar:
        members = {m.name: m for m in tar.getmembers()}
        try:
            manifest = json.loads(tar.extractfile(members[MANIFEST]).read())
            snap_id = manifest["snapshot_id"]
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise BundleError(
                str(path), f"This is not an envguard bundle (no {MANIFEST}).",
                "Make one with: conda envguard export ID_OR_ENV -o FILE",
            ) from e  # fmt: skip
        if not isinstance(snap_id, str) or "/" in snap_id or snap_id.startswith("."):
            raise BundleError(str(path), f"The bundle names no valid snapshot ({snap_id!r}).", "")
        store = Store(store_root)
        store.ensure()
        final = store.snapshots_dir / snap_id
        incoming = _read_snapshot(tar, members, path)
        status = "imported"
        if (final / META).exists():
            if (final / META).read_bytes() != incoming.get(META):
                raise BundleError(
                    str(path),
                    f"The store already holds a different snapshot with the id {snap_id}; "
                    "envguard will not overwrite it.",
                    f"See it with: conda envguard show {snap_id}",
                )
            status = "already in the store"
            packages = _import_packages(tar, members, manifest, store_root, path, incoming)
        else:
            # The snapshot lands last, once its files and every package have been checked.
            tmp = store.snapshots_dir / f"{TMP_PREFIX}import-{snap_id}"
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                for name, data in incoming.items():
                    (tmp / name).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    (tmp / name).write_bytes(data)
                if damaged := [p["file"] for p in verify(tmp)]:
                    raise BundleError(
                        str(path),
                        f"The bundle's snapshot is damaged ({', '.join(damaged)}); nothing "
                        "was imported.",
                        "Export it again on the other machine.",
                    )
                packages = _import_packages(tar, members, manifest, store_root, path, incoming)
                (tmp / IMPORTED).write_text(json.dumps({"from": str(path)}) + "\n")
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    env_name = manifest.get("env_name", "")
    return {"snapshot": snap_id, "status": status, "packages": packages, "env_name": env_name}


def _read_snapshot(tar, members, path: Path) -> dict[str, bytes]:
    from .envfiles import PRIVATE
    from .exceptions import BundleError

    files = {}
    for name, member in members.items():
        if not name.startswith("snapshot/") or not member.isfile():
            continue
        rel = name[len("snapshot/") :]
        if rel in (IMPORTED, PRIVATE):
            continue  # written by this machine only
        if rel.startswith("/") or ".." in rel.split("/") or not rel:
            raise BundleError(str(path), f"The bundle holds an unsafe path: {name}", "")
        files[rel] = tar.extractfile(member).read()
    if "snapshot.json" not in files:
        raise BundleError(str(path), "The bundle holds no snapshot.", "")
    return files


def _import_packages(
    tar, members, manifest: dict, store_root: Path, path: Path, snapshot: dict[str, bytes]
) -> int:
    """Add the bundle's packages to the kept ones, each checked against the snapshot's lock
    and its own contents (`pkgkeep.unpack_checked`); one that fails refuses the import, and
    none of its packages stays."""
    from .exceptions import BundleError
    from .pkgkeep import Kept, LockEntry, lock_entries

    kept = Kept(store_root)
    locked = set(lock_entries(snapshot.get("explicit.txt", b"").decode(errors="replace")))
    added: list[Path] = []
    try:
        for item in manifest.get("packages") or []:
            entry = LockEntry(item["url"], item["fn"], item["digest"])
            if "/" in entry.fn or "/" in entry.digest or entry.fn.startswith("."):
                raise BundleError(str(path), f"The bundle names an unsafe package: {entry.fn}", "")
            if entry not in locked:
                raise BundleError(
                    str(path),
                    f"The bundle carries the package {entry.fn}, which its snapshot's lock does "
                    "not name as it does; nothing was imported.",
                    "Export the bundle again on the other machine.",
                )
            if kept.has(entry):
                continue
            _import_package(tar, members, entry, kept, path)
            added.append(kept.root / entry.digest)
    except BaseException:
        for directory in added:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    return len(added)


def _import_package(tar, members, entry, kept, path: Path) -> None:
    from .exceptions import BundleError
    from .pkgkeep import unpack_checked

    member = members.get(f"packages/{entry.digest}/{entry.fn}")
    record = members.get(f"packages/{entry.digest}/repodata_record.json")
    if member is None or record is None:
        raise BundleError(str(path), f"The bundle lacks the package {entry.fn}.", "")
    kept.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = kept.root / f".tmp-import-{entry.digest}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with tar.extractfile(member) as src, open(tmp / entry.fn, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        claimed = tar.extractfile(record).read()
        # extracted to be checked, then thrown away: a restore extracts it again, checked again
        why = unpack_checked(entry, tmp / entry.fn, tmp / ".check", claimed)
        shutil.rmtree(tmp / ".check", ignore_errors=True)
        if why is not None:
            raise BundleError(
                str(path),
                f"The package {entry.fn} in the bundle is not the package its lock names: "
                f"{why}. Nothing was imported.",
                "Export it again on the other machine (without --with-packages, this machine "
                "downloads the packages from their channel).",
            )
        (tmp / "repodata_record.json").write_bytes(claimed)
        os.rename(tmp, kept.root / entry.digest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
