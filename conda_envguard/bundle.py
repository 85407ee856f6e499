"""Snapshots that travel: one file holding a snapshot and, optionally, its packages.

A bundle is a plain tar (package archives are compressed already), laid out so that conda
alone restores it (`tar -xf`, then `conda create --offline --file explicit.txt` with `pkgs/`
as its package cache: see the README):
  envguard-bundle.json       format, snapshot id, and each package's file and checksum
  snapshot/...               the snapshot directory, as in the store
  explicit.txt               with --with-packages: the lock, each bundled package by its md5
                             (what conda matches a cached archive by)
  pkgs/<file>, pkgs/urls.txt with --with-packages: each archive the lock names, and its URL
                             (a package cache as conda writes one)
  records/<file>.json        conda's record of each archive, checked against it at import
Format 1 (before the plain layout) kept `packages/<checksum>/<file>` and
`packages/<checksum>/repodata_record.json`; it still imports.
Every archive is checked against the lock's checksum as it is written; as it is read back,
against the lock and its own contents (`pkgkeep.unpack_checked`). Imported packages join the
store's kept packages (see `pkgkeep`), which a restore extracts into a package cache of its
own, never conda's shared one: no channel needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from .extractors import Extractors
from .progress import Progress
from .snapshot import IMPORTED

MANIFEST = "envguard-bundle.json"
FORMAT = 2
FORMATS = (1, 2)  # what import reads
PLAIN_LOCK = "explicit.txt"


def package_members(fmt: int, entry) -> tuple[str, str]:
    """The names of a package's archive and record in a bundle of format `fmt`."""
    if fmt == 1:
        return (
            f"packages/{entry.digest}/{entry.fn}",
            f"packages/{entry.digest}/repodata_record.json",
        )
    return f"pkgs/{entry.fn}", f"records/{entry.fn}.json"


class _Hashing(io.RawIOBase):
    """A file read through md5 and sha256 (and a progress count)."""

    def __init__(self, f, progress=None):
        self.f, self.progress = f, progress
        self.md5, self.sha256 = hashlib.md5(), hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.f.read(len(buffer))
        self.md5.update(data)
        self.sha256.update(data)
        buffer[: len(data)] = data
        if self.progress is not None:
            self.progress.add(len(data))
        return len(data)

    def matches(self, digest: str) -> bool:
        return (self.md5 if len(digest) == 32 else self.sha256).hexdigest() == digest


def check_output(out: Path, replace: bool, command: list[str]) -> None:
    """May `export` write its file at `out`? Raises BundleError with the command that goes on
    (`command` is the export command without its `-o`): a folder, a folder that is missing or
    is not one, or a file (or link) that exists and `replace` is not given. Checked before
    anything is snapshotted or written."""
    import shlex

    from .exceptions import BundleError

    def again(path, *extra: str) -> str:
        return shlex.join([*command, "-o", str(path), *extra])

    try:
        if "\0" in str(out):  # pathlib's checks answer False for it; the write would crash
            raise ValueError("a NUL in the file name")
        if out.is_dir() or not out.name or out.name in (".", ".."):
            stem = Path(command[3]).name if len(command) > 3 else ""
            inside = (out / f"{stem or 'export'}.envguard").as_posix()
            raise BundleError(
                str(out), f"{out} is a folder; export writes one file.",
                f"Name a file in it: {again(inside)}",
            )  # fmt: skip
        parent = out.parent
        if not parent.is_dir():
            if not parent.exists() and not parent.is_symlink():
                raise BundleError(
                    str(out), f"The folder {parent} does not exist.",
                    f"Create it, then run again: mkdir -p {shlex.quote(str(parent))}",
                )  # fmt: skip
            raise BundleError(
                str(out), f"{parent} is not a folder.", f"Write it elsewhere: {again('FILE')}"
            )
        if (out.exists() or out.is_symlink()) and not replace:
            link = " (a symbolic link: --force replaces the link, not what it points to)"
            raise BundleError(
                str(out),
                f"{out} exists already{link if out.is_symlink() else ''}; export does not "
                "replace a file unless told to. Nothing was written.",
                f"Replace it: {again(out, '--force')}",
            )  # fmt: skip
    except (OSError, ValueError) as e:  # a name too long, a NUL, a folder not to be read
        raise BundleError(
            str(out), f"The bundle cannot be written there ({e}).",
            f"Write it elsewhere: {again('FILE')}",
        ) from e  # fmt: skip


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
    md5s: dict[str, str] = {}
    try:
        with (
            tarfile.open(tmp, "w") as tar,
            Progress(
                "Writing packages", sum(os.path.getsize(a) for _, a, _ in sources)
            ) as progress,
        ):
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
            for path in sorted(snapshot.path.rglob("*")):
                # the private originals of masked secrets never leave the machine
                if path.is_file() and path.relative_to(snapshot.path).as_posix() not in (
                    IMPORTED,
                    PRIVATE,
                ):
                    tar.add(path, f"snapshot/{path.relative_to(snapshot.path).as_posix()}")
            for entry, archive, record in sources:
                name, record_name = package_members(FORMAT, entry)
                info = tar.gettarinfo(str(archive), name)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
                with open(archive, "rb") as f:
                    hashing = _Hashing(f, progress)
                    tar.addfile(info, io.BufferedReader(hashing, 1 << 20))
                if not hashing.matches(entry.digest):
                    raise BundleError(
                        str(out),
                        f"{archive} does not match the checksum its lock gives; the bundle "
                        "was not written.",
                        f"Let conda fetch it again: conda clean --tarballs, then conda "
                        f"envguard export {snapshot.id} -o {out}",
                    )
                md5s[entry.url] = hashing.md5.hexdigest()
                _add_bytes(tar, record_name, record)
            if sources:
                lock = snapshot.file("explicit.txt").read_text()
                _add_bytes(tar, PLAIN_LOCK, _plain_lock(lock, md5s).encode())
                urls = "".join(f"{e.url}\n" for e, _, _ in sources)
                _add_bytes(tar, "pkgs/urls.txt", urls.encode())
        os.replace(tmp, out)
    except OSError as e:  # no permission, a full disk: nothing of the bundle stays
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise BundleError(
            str(out), f"The bundle could not be written: {e.strerror or e}. Nothing was written.",
            f"Free space, or write it elsewhere: conda envguard export {snapshot.id} -o FILE",
        ) from e  # fmt: skip
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


def _plain_lock(lock: str, md5s: dict[str, str]) -> str:
    """The snapshot's lock with each bundled package named by its md5: conda matches an
    archive in its package cache by URL and md5 (a sha256 it only has after extracting)."""
    from .pkgkeep import lock_entries

    lines = []
    for line in lock.splitlines():
        entry = next(iter(lock_entries(line)), None)
        lines.append(f"{entry.url}#{md5s[entry.url]}" if entry and entry.url in md5s else line)
    return "\n".join(lines) + "\n"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


# Caps on what an import reads: a bundle is someone else's file, checked before it is read whole.
MAX_MEMBERS = 20_000
MAX_SNAPSHOT_FILE = 64 << 20
MAX_SNAPSHOT_TOTAL = 256 << 20
_PACKAGE_SUFFIXES = (".tar.bz2", ".conda")
_HEX = frozenset("0123456789abcdef")


def inspect_bundle(path: Path, store_root: Path) -> tuple[dict, str]:
    """What `import_bundle` would do, with every check of the bundle's names, manifest and
    snapshot metadata (not yet its packages' contents); writes nothing. Raises BundleError.
    Also the way a restore of it would go here, as `restore --dry-run` names it."""
    from conda.base.context import context

    from .snapshot import META, PORTABLE
    from .store import Store

    path = Path(path)
    with _open(path) as tar:
        members = _members(tar, path)
        manifest, snap_id, packages = _read_manifest(tar, members, path)
        incoming = _read_snapshot(tar, members, path)
        _check_meta(incoming[META], snap_id, path)
    final = Store(store_root).snapshots_dir / snap_id / META
    platform = json.loads(incoming[META]).get("platform")
    if platform not in (None, context.subdir) and PORTABLE in incoming:
        method = "portable specs"
    else:
        method = "explicit" if "explicit.txt" in incoming else "environment.yml"
    return {
        "snapshot": snap_id,
        "status": "already_present" if final.exists() else "imported",  # would be: a dry run
        "packages": len(packages),
        "env_name": manifest.get("env_name") or "",
    }, method


def import_bundle(path: Path, store_root: Path, extract_into: Path | None = None) -> dict:
    """Add the bundle's snapshot (and packages) to the store. Raises BundleError.

    Everything in a bundle is checked before it is used: its member names and kinds, its
    manifest and snapshot metadata against the schema envguard writes. A refused bundle
    leaves nothing behind. With `extract_into`, each package newly kept also stays there as
    it was extracted to be checked (a package cache for a restore by this same process, so
    no file is written twice); without, that extraction is thrown away."""
    from .exceptions import BundleError
    from .snapshot import META
    from .store import Store

    path = Path(path)
    with _open(path) as tar:
        members = _members(tar, path)
        manifest, snap_id, packages_listed = _read_manifest(tar, members, path)
        store = Store(store_root)
        store.ensure()
        final = store.snapshots_dir / snap_id
        incoming = _read_snapshot(tar, members, path)
        _check_meta(incoming[META], snap_id, path)
        added: list[Path] = []
        load = _Loader(tar, members, manifest["format"], path, extract_into)
        try:
            if (final / META).exists():
                if (final / META).read_bytes() != incoming.get(META):
                    raise BundleError(
                        str(path),
                        f"The store already holds a different snapshot with the id {snap_id}; "
                        "envguard will not overwrite it.",
                        f"See it with: conda envguard show {snap_id}",
                    )
                status = "already_present"
                _import_packages(load, packages_listed, store_root, added, incoming)
            else:
                status = "imported"
                _import_new(load, snap_id, incoming, packages_listed, store, added)
        except BaseException:
            for directory in added:  # nothing of a refused bundle stays
                shutil.rmtree(directory, ignore_errors=True)
            raise
    env_name = manifest.get("env_name") or ""
    return {"snapshot": snap_id, "status": status, "packages": len(added), "env_name": env_name}


def _open(path: Path) -> tarfile.TarFile:
    from .exceptions import BundleError

    try:
        return tarfile.open(path, "r:*")
    except (OSError, ValueError, tarfile.TarError) as e:  # ValueError: a NUL in the path
        why = (
            f"{path} cannot be read ({e.strerror or e})."
            if isinstance(e, OSError)
            else f"This is not an envguard bundle ({e})."
        )
        raise BundleError(
            str(path), why, "Make one with: conda envguard export ID_OR_ENV -o FILE"
        ) from e


def _read_manifest(tar, members, path: Path) -> tuple[dict, str, list]:
    from .exceptions import BundleError

    try:
        member = members[MANIFEST]
        if not member.isfile() or member.size > MAX_SNAPSHOT_FILE:
            raise ValueError(member.name)
        manifest = json.loads(tar.extractfile(member).read())
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise BundleError(
            str(path), f"This is not an envguard bundle (no {MANIFEST}).",
            "Make one with: conda envguard export ID_OR_ENV -o FILE",
        ) from e  # fmt: skip
    return (manifest, *_check_manifest(manifest, path))


def _import_new(load, snap_id, incoming, packages_listed, store, added) -> None:
    """The snapshot lands last, once its files and every package have been checked."""
    from .exceptions import BundleError
    from .integrity import verify
    from .order import next_stamp
    from .store import TMP_PREFIX

    tmp = store.snapshots_dir / f"{TMP_PREFIX}import-{snap_id}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name, data in incoming.items():
            (tmp / name).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        if damaged := [p["file"] for p in verify(tmp)]:
            raise BundleError(
                str(load.path),
                f"The bundle's snapshot is damaged ({', '.join(damaged)}); nothing was imported.",
                "Export it again on the other machine.",
            )
        _import_packages(load, packages_listed, store.root, added, incoming)
        # its place among this store's snapshots is given here, never taken from the bundle
        note = {"from": str(load.path), "order": next_stamp(store.root)}
        (tmp / IMPORTED).write_text(json.dumps(note) + "\n")
        os.rename(tmp, store.snapshots_dir / snap_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def plain_path(name: str) -> bool:
    """A relative path of plain names, on every OS (see `kernels.plain_component`)."""
    from .kernels import plain_component

    return all(plain_component(part) for part in name.split("/"))


def _members(tar, path: Path) -> dict:
    """The bundle's members, by name: only plain files and folders with plain relative
    names, at most MAX_MEMBERS of them (read one by one, so a bomb stops early)."""
    from .exceptions import BundleError

    members = {}
    try:
        while (member := tar.next()) is not None:
            if len(members) >= MAX_MEMBERS:
                raise BundleError(
                    str(path), f"The bundle holds more than {MAX_MEMBERS} files.", ""
                )
            if not plain_path(member.name) or not (member.isfile() or member.isdir()):
                kind = "" if member.isfile() or member.isdir() else " (not a plain file)"
                raise BundleError(
                    str(path), f"The bundle holds an unsafe member{kind}: {member.name!r}", ""
                )
            if member.name in members:
                raise BundleError(str(path), f"The bundle holds {member.name!r} twice.", "")
            members[member.name] = member
    except (OSError, EOFError, tarfile.TarError) as e:
        raise BundleError(str(path), f"The bundle cannot be read ({e}).", "") from e
    return members


def _check_manifest(manifest: object, path: Path) -> tuple[str, list]:
    """(snapshot id, package list) of a manifest of the form `export` writes."""
    from .exceptions import BundleError
    from .kernels import plain_component
    from .store import plain_id

    def refuse(what: str):
        return BundleError(str(path), f"The bundle's {MANIFEST} {what}; nothing was imported.",
                           "Export it again on the other machine.")  # fmt: skip

    if not isinstance(manifest, dict) or manifest.get("format") not in FORMATS:
        raise refuse(f"is of no format this envguard reads ({', '.join(map(str, FORMATS))})")
    snap_id = manifest.get("snapshot_id")
    if not plain_id(snap_id):
        raise refuse(f"names no valid snapshot id ({str(snap_id)[:120]!r})")
    if not isinstance(manifest.get("env_name", ""), str) or "\0" in manifest.get("env_name", ""):
        raise refuse("names no valid environment")
    packages = manifest.get("packages") or []
    if not isinstance(packages, list):
        raise refuse("lists no packages")
    names = set()
    for item in packages:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("url", "fn", "digest")
        ):
            raise refuse(f"lists a package without url, fn and digest ({str(item)[:120]})")
        fn, digest = item["fn"], item["digest"]
        if (
            not plain_component(fn)
            or fn.startswith(".")
            or not fn.endswith(_PACKAGE_SUFFIXES)
            or len(digest) not in (32, 64)
            or not set(digest) <= _HEX
        ):
            raise BundleError(str(path), f"The bundle names an unsafe package: {fn}", "")
        if fn in names:
            raise refuse(f"lists the package {fn} twice")
        names.add(fn)
    return snap_id, packages


def _check_meta(data: bytes, snap_id: str, path: Path) -> None:
    """The bundle's snapshot.json: of the types envguard writes, naming the bundle's id, its
    kernel records sound (see `kernels.recorded`)."""
    from .exceptions import BundleError
    from .kernels import recorded
    from .snapshot import sound

    try:
        meta = json.loads(data)
    except ValueError:
        meta = None
    problem = ""
    if not isinstance(meta, dict) or not isinstance(meta.get("prefix"), str):
        problem = "is not an envguard snapshot"
    elif not sound(meta) or "\0" in meta["prefix"] or "\0" in meta.get("env_name", ""):
        problem = "has fields of the wrong type"
    elif meta.get("id") != snap_id:
        problem = f"names another id than the bundle ({str(meta.get('id'))[:120]!r})"
    elif "kernels" in meta and (
        not isinstance(meta["kernels"], list) or recorded(meta) != meta["kernels"]
    ):
        problem = "holds a kernel record that names a path, not a plain name"
    if problem:
        raise BundleError(
            str(path),
            f"The bundle's snapshot.json {problem}; nothing was imported.",
            "Export it again on the other machine.",
        )


def _read_snapshot(tar, members, path: Path) -> dict[str, bytes]:
    from .envfiles import PRIVATE
    from .exceptions import BundleError

    files, total = {}, 0
    for name, member in members.items():
        if not name.startswith("snapshot/") or not member.isfile():
            continue
        rel = name[len("snapshot/") :]
        if rel in (IMPORTED, PRIVATE):
            continue  # written by this machine only
        total += member.size
        if member.size > MAX_SNAPSHOT_FILE or total > MAX_SNAPSHOT_TOTAL:
            raise BundleError(
                str(path),
                f"The bundle's snapshot is larger than envguard ever writes ({name}: "
                f"{member.size} bytes; at most {MAX_SNAPSHOT_FILE} a file, "
                f"{MAX_SNAPSHOT_TOTAL} in all); nothing was imported.",
                "Export it again on the other machine.",
            )
        files[rel] = tar.extractfile(member).read(MAX_SNAPSHOT_FILE + 1)
    if "snapshot.json" not in files:
        raise BundleError(str(path), "The bundle holds no snapshot.", "")
    return files


def _import_packages(load, packages: list, store_root: Path, added: list[Path], snapshot) -> None:
    """Keep the bundle's packages, each checked against the snapshot's lock and its own
    contents (`pkgkeep.unpack_checked`); `added` gets the directory of each one newly kept.
    One that fails refuses the import (the caller removes what `added` holds)."""
    from .exceptions import BundleError
    from .pkgkeep import Kept, LockEntry, lock_entries

    kept = Kept(store_root)
    locked = set(lock_entries(snapshot.get("explicit.txt", b"").decode(errors="replace")))
    entries = [LockEntry(item["url"], item["fn"], item["digest"]) for item in packages]
    for entry in entries:
        if entry not in locked:
            raise BundleError(
                str(load.path),
                f"The bundle carries the package {entry.fn}, which its snapshot's lock does "
                "not name as it does; nothing was imported.",
                "Export the bundle again on the other machine.",
            )
    todo = [e for e in entries if not kept.has(e)]
    # each archive is copied once, then extracted once: twice its size of work
    total = 2 * sum(m.size for e in todo if (m := load.members.get(load.names(e)[0])))
    with (
        Progress("Importing packages", total) as progress,
        Extractors(len(todo)) as extractors,
        ThreadPoolExecutor(1) as copier,  # the bundle is read in order, by one thread
        ThreadPoolExecutor(extractors.workers) as checkers,
    ):
        # archives are copied out of the bundle (and summed) while earlier ones are
        # extracted and checked: hashing, zstd and writes let another thread run
        copies = [copier.submit(load.copy, entry, kept, progress) for entry in todo]
        checks = [
            checkers.submit(load.check, entry, copy, kept, progress, extractors.extract)
            for entry, copy in zip(todo, copies, strict=True)
        ]
        try:
            for entry, check in zip(todo, checks, strict=True):
                check.result()
                added.append(kept.root / entry.digest)
        except BaseException:
            _abandon(todo, copies, checks, kept, added)
            raise


def _abandon(todo: list, copies: list, checks: list, kept, added: list[Path]) -> None:
    """After a refused package (or Ctrl-C): let what runs finish, and leave the caller every
    package kept so far in `added`, and no copy behind."""
    for future in (*checks, *copies):
        future.cancel()
    wait([*checks, *copies])
    for entry, copy, check in zip(todo, copies, checks, strict=True):
        done = kept.root / entry.digest
        if not check.cancelled() and check.exception() is None:
            if done not in added:
                added.append(done)
        elif check.cancelled() and not copy.cancelled() and copy.exception() is None:
            shutil.rmtree(copy.result()[0], ignore_errors=True)  # copied, never checked


class _Loader:
    """Reads the packages of one open bundle into the store."""

    def __init__(self, tar, members, fmt: int, path: Path, extract_into: Path | None):
        self.tar, self.members, self.fmt, self.path = tar, members, fmt, path
        self.extract_into = extract_into

    def names(self, entry) -> tuple[str, str]:
        return package_members(self.fmt, entry)

    def copy(self, entry, kept, progress) -> tuple[Path, dict, bytes]:
        """Copy the archive of `entry` out of the bundle into a folder of the store, summed as
        it goes (one pass over it): (that folder, its sums, the record that came with it)."""
        from .exceptions import BundleError

        name, record_name = self.names(entry)
        member, record = self.members.get(name), self.members.get(record_name)
        if member is None or record is None or not (member.isfile() and record.isfile()):
            raise BundleError(str(self.path), f"The bundle lacks the package {entry.fn}.", "")
        if record.size > MAX_SNAPSHOT_FILE:
            raise BundleError(str(self.path), f"The record of {entry.fn} is too large.", "")
        kept.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = kept.root / f".tmp-import-{entry.digest}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            with self.tar.extractfile(member) as src, open(tmp / entry.fn, "wb") as dst:
                hashing = _Hashing(src, progress)
                shutil.copyfileobj(hashing, dst, 1 << 20)
            sums = {
                "md5": hashing.md5.hexdigest(),
                "sha256": hashing.sha256.hexdigest(),
                "size": member.size,
            }
            return tmp, sums, self.tar.extractfile(record).read()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def check(self, entry, copy, kept, progress, extract) -> None:
        """Extract the archive `copy` (a future of `copy`) to check it against the lock and
        its own contents, and keep it; into `extract_into` when given (see `import_bundle`).
        `extract`: `extractors.Extractors.extract`."""
        from .exceptions import BundleError
        from .pkgkeep import unpack_checked

        tmp, sums, claimed = copy.result()
        check = self.extract_into / entry.stem if self.extract_into else tmp / ".check"
        try:
            why = unpack_checked(entry, tmp / entry.fn, check, claimed, sums, extract)
            progress.add(sums["size"])
            if self.extract_into is None:
                shutil.rmtree(check, ignore_errors=True)
            if why is not None:
                raise BundleError(
                    str(self.path),
                    f"The package {entry.fn} in the bundle is not the package its lock names: "
                    f"{why}. Nothing was imported.",
                    "Export it again on the other machine (without --with-packages, this "
                    "machine downloads the packages from their channel).",
                )
            (tmp / "repodata_record.json").write_bytes(claimed)
            os.rename(tmp, kept.root / entry.digest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(check, ignore_errors=True)
            raise
