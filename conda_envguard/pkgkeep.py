"""Package archives kept in the store, so a lock restores after `conda clean --all`.

A snapshot's lock names each package by URL and checksum; a restore needs those archives
from the package cache or the channel. `conda clean --all` empties the cache, and channels
move on. So the store keeps the archives that the newest snapshot of each env (removed envs
included) needs: `<store>/packages/<checksum>/<file name>`, a hard link to the cache's own
archive (no extra space while the cache holds it), with conda's `repodata_record.json`
beside it. Bounded by `envguard_keep_packages_mb`; `prune` and `purge` release what no
newest snapshot needs any more.

Before a restore from a lock, `kept_packages_for` extracts the kept archives no package cache
holds into a package cache of the restore's own, each checked against the lock and its own
contents: conda then finds every package and needs no channel. conda's shared cache never
holds a package envguard did not see conda download.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

DIRNAME = "packages"
RECORD = "repodata_record.json"
_TALLY = ".bytes"
_LOCK_LINE = re.compile(
    r"^(?P<url>\S+/(?P<fn>[^/#\s]+(?:\.tar\.bz2|\.conda)))#(?:sha256:)?(?P<digest>[0-9a-f]{32,64})$"
)


@dataclass(frozen=True)
class LockEntry:
    url: str
    fn: str
    digest: str  # the lock's sha256 (or md5 for old locks)

    @property
    def stem(self) -> str:
        return self.fn[: -len(".tar.bz2")] if self.fn.endswith(".tar.bz2") else self.fn[:-6]


def lock_entries(text: str) -> list[LockEntry]:
    """The packages of an @EXPLICIT lock that carry a checksum."""
    out = []
    for line in text.splitlines():
        match = _LOCK_LINE.match(line.strip())
        if match:
            out.append(LockEntry(match["url"], match["fn"], match["digest"]))
    return out


def snapshot_entries(snapshot) -> list[LockEntry]:
    try:
        return lock_entries(snapshot.file("explicit.txt").read_text(errors="replace"))
    except OSError:
        return []  # a damaged lock keeps nothing (verify and restore say why)


def file_digest(path: str | os.PathLike, like: str) -> str:
    """sha256 of a file, or md5 when `like` is an md5 (32 hex digits)."""
    digest = hashlib.md5() if len(like) == 32 else hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Kept:
    """The archives kept in one store."""

    def __init__(self, store_root: str | os.PathLike):
        self.root = Path(store_root) / DIRNAME

    def archive(self, entry: LockEntry) -> Path:
        return self.root / entry.digest / entry.fn

    def has(self, entry: LockEntry) -> bool:
        return self.archive(entry).is_file()

    def add(self, entry: LockEntry, archive: Path, record: bytes) -> int:
        """Keep `archive` for `entry`, as a hard link (no space of its own while the package
        cache holds it). Returns the bytes it counts for, 0 when it was kept already."""
        final = self.root / entry.digest
        if (final / entry.fn).is_file():
            return 0
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{entry.digest}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            os.link(archive, tmp / entry.fn)
            (tmp / RECORD).write_bytes(record)
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if (final / entry.fn).is_file():
                return 0  # another process kept it first
            raise
        return os.stat(final / entry.fn).st_size

    def record(self, entry: LockEntry) -> bytes | None:
        try:
            return (self.root / entry.digest / RECORD).read_bytes()
        except OSError:
            return None

    def all(self) -> dict[str, int]:
        """checksum -> bytes of every kept archive."""
        out = {}
        for directory in self._dirs():
            for item in os.scandir(directory):
                if item.name != RECORD:
                    out[os.path.basename(directory)] = item.stat().st_size
        return out

    def summary(self) -> dict:
        """What `status` shows: archives kept, their bytes, and the bytes only the store holds
        (the package cache no longer has them)."""
        count = total = own = 0
        for directory in self._dirs():
            for item in os.scandir(directory):
                if item.name == RECORD:
                    continue
                st = item.stat()
                count += 1
                total += st.st_size
                if st.st_nlink == 1:
                    own += st.st_size
        return {"archives": count, "bytes": total, "only_in_store_bytes": own}

    def _dirs(self) -> list[str]:
        try:
            return [
                d.path for d in os.scandir(self.root) if d.is_dir() and not d.name.startswith(".")
            ]
        except OSError:
            return []

    def release(self, digest: str) -> None:
        doomed = self.root / f".del-{digest}-{os.getpid()}"
        try:
            os.rename(self.root / digest, doomed)
        except OSError:
            return
        shutil.rmtree(doomed, ignore_errors=True)

    def write_tally(self, total: int) -> None:
        try:
            (self.root / _TALLY).write_text(str(total))
        except OSError:
            pass

    def tally(self) -> int:
        try:
            return int((self.root / _TALLY).read_text())
        except (OSError, ValueError):
            return 0


# -- keeping, after a snapshot ---------------------------------------------------------------
def keep_for(snapshot, store_root: Path) -> int:
    """Keep the archives `snapshot`'s lock names that the package cache has. Returns how many
    were newly kept. Cheap when they are kept already: one stat per package."""
    from .settings import keep_packages_bytes

    bound = keep_packages_bytes()
    if bound <= 0:
        return 0
    kept = Kept(store_root)
    added = count = 0
    for entry in snapshot_entries(snapshot):
        if kept.has(entry):
            continue
        found = in_package_cache(entry)
        if found is None:
            continue
        archive, record = found
        try:
            added += kept.add(entry, archive, record)
        except OSError:
            continue  # e.g. the store is on another filesystem: nothing kept (README says so)
        count += 1
    if added:
        total = kept.tally() + added
        kept.write_tally(total)
        if total > bound:
            collect(store_root)
    return count


def in_package_cache(entry: LockEntry) -> tuple[Path, bytes] | None:
    """The cache's archive of `entry` and conda's record of it, when the record says it is
    the very package the lock names (same URL file name, same checksum)."""
    from conda.base.context import context

    from .redact import redact

    for pkgs_dir in context.pkgs_dirs:
        archive = Path(pkgs_dir, entry.fn)
        try:
            raw = Path(pkgs_dir, entry.stem, "info", RECORD).read_text()
            record = json.loads(raw)
        except (OSError, ValueError):
            continue
        if entry.digest in (record.get("sha256"), record.get("md5")) and archive.is_file():
            # conda's record keeps a private channel's token in its URL; the store does not
            return archive, redact(raw, placeholder=False).encode()
    return None


# -- releasing, after prune and purge --------------------------------------------------------
def collect(store_root: Path) -> dict:
    """Keep exactly the archives the newest snapshot of each env (and each trashed env's
    snapshot) needs, newest envs first while they fit the size bound; release the rest."""
    from .settings import keep_packages_bytes
    from .store import Store
    from .trash import Trash

    bound = keep_packages_bytes()
    kept = Kept(store_root)
    have = kept.all()
    store = Store(store_root)
    newest: dict[str, object] = {}
    snaps = store.all()
    for snap in snaps:
        newest[os.path.normpath(snap.prefix)] = snap
    wanted_ids = {s.id for s in newest.values()}
    wanted_ids |= {e.snapshot_id for e in Trash(store_root).entries() if e.snapshot_id}
    wanted = sorted((s for s in snaps if s.id in wanted_ids), key=lambda s: s.order, reverse=True)
    keep: set[str] = set()
    total = 0
    for snap in wanted:
        entries = [e for e in snapshot_entries(snap) if e.digest in have and e.digest not in keep]
        size = sum(have[e.digest] for e in entries)
        if total + size > bound:
            continue  # this env's packages do not fit: an older env's may
        keep.update(e.digest for e in entries)
        total += size
    released = [d for d in have if d not in keep]
    for digest in released:
        kept.release(digest)
    kept.write_tally(total)
    return {"kept": len(keep), "kept_bytes": total, "released": len(released)}


# -- before a restore ------------------------------------------------------------------------
# Kept packages never enter conda's shared package cache. conda trusts a cached package whose
# record's md5 and size match what it looks for (and, for a lock line without a checksum, its
# file name alone): an archive conda did not download itself, filed there under a channel's
# URL, would be linked by any later `conda create` from that channel. So a restore extracts
# the kept packages it needs into a package cache of its own, inside the store, that only its
# own process reads, and deletes it after (the env keeps its files: moved out of it, linked
# or copied).
@contextmanager
def restore_cache(store_root: Path):
    """A package cache of a restore's own, inside the store, deleted afterwards."""
    root = Kept(store_root).root
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    own = Path(tempfile.mkdtemp(prefix=".restore-", dir=root))
    try:
        (own / "urls.txt").touch()  # conda reads a directory as a package cache only with it
        yield own
    finally:
        shutil.rmtree(own, ignore_errors=True)


@contextmanager
def kept_packages_for(lock_lines: list[str], notes: list[str], extracted: Path | None = None):
    """For the duration, conda also finds the kept packages of `lock_lines` that no package
    cache holds, each checked against its own contents and the lock. What was not usable is
    a note, never an error: conda then fetches it from its channel. `extracted`, a
    `restore_cache` this process has already extracted checked packages into (an import
    before the restore), is used as it is: each package extracted once. Yields that package
    cache of the restore's own (None when conda was given none): the caller may move files
    out of it."""
    from concurrent.futures import ThreadPoolExecutor

    from .compat import extra_package_cache
    from .extractors import Extractors
    from .progress import Progress
    from .settings import store_dir

    kept = Kept(store_dir())
    entries = [
        e for e in lock_entries("\n".join(lock_lines)) if kept.has(e) and not _in_a_cache(e)
    ]
    if not entries:
        yield
        return
    with ExitStack() as stack:
        try:
            own = extracted or stack.enter_context(restore_cache(store_dir()))
        except OSError as e:
            notes.append(f"envguard's kept packages could not be used ({e})")
            yield
            return
        ready = [e for e in entries if (own / e.stem / "info" / RECORD).is_file()]
        todo = [e for e in entries if e not in ready]
        used = len(ready)
        with (
            Progress(
                "Extracting packages", sum(kept.archive(e).stat().st_size for e in todo)
            ) as progress,
            Extractors(len(todo)) as extractors,
            ThreadPoolExecutor(extractors.workers) as pool,
        ):

            def unpack(entry: LockEntry) -> str | None:
                archive = kept.archive(entry)
                why = unpack_checked(entry, archive, own / entry.stem, extract=extractors.extract)
                progress.add(archive.stat().st_size)
                return why

            for entry, why in zip(todo, pool.map(unpack, todo), strict=True):
                if why is None:
                    used += 1
                else:
                    notes.append(f"the kept package {entry.fn} was not used: {why}")
        if used:
            try:
                stack.enter_context(extra_package_cache(str(own)))
                notes.append(f"{used} package(s) came from envguard's kept packages")
            except Exception as e:
                notes.append(f"envguard's kept packages could not be used ({e})")
                used = 0
        yield own if used else None


def _in_a_cache(entry: LockEntry) -> bool:
    """Does a package cache hold `entry`, extracted, by conda's record of it?"""
    from conda.base.context import context

    for pkgs_dir in context.pkgs_dirs:
        base = Path(pkgs_dir, entry.stem)
        try:
            record = json.loads((base / "info" / RECORD).read_bytes())
        except (OSError, ValueError):
            continue
        digests = (record.get("sha256"), record.get("md5")) if isinstance(record, dict) else ()
        if entry.digest in digests and (base / "info" / "paths.json").is_file():
            return True
    return False


def unpack_checked(
    entry: LockEntry,
    archive: Path,
    dest: Path,
    claimed: bytes | None = None,
    sums: dict | None = None,
    extract=None,
) -> str | None:
    """Extract `archive` into `dest` (new) if it is the package the lock line `entry` names,
    with the record conda writes for a package it downloads from a lock line (its index,
    the lock's URL, the archive's own md5, sha256 and size). Returns None, or why not (and
    `dest` is gone). `claimed`, a record that came with the archive, must agree with it;
    `sums`, the archive's md5, sha256 and size when the caller summed it as it wrote it;
    `extract`, what extracts it (`compat.extract_package`, or `extractors.Extractors`')."""
    from .compat import extract_package
    from .untar import Extracted

    try:
        sums = sums or _sums(archive)
        why = _archive_mismatch(entry, sums)
        if why is None:
            written = Extracted()
            (extract or extract_package)(str(archive), str(dest), written)
            index = json.loads((dest / "info" / "index.json").read_bytes())
            why = _index_mismatch(entry, index) or _paths_mismatch(dest, written)
            if why is None and claimed is not None:
                why = _claim_mismatch(claimed, index, sums, entry)
        if why is None:
            (dest / "info" / RECORD).write_text(_record(entry, index, sums))
            return None
    except Exception as e:  # a damaged or hostile archive: any failure is a refusal
        why = f"it could not be read as a conda package ({e})"
    shutil.rmtree(dest, ignore_errors=True)
    return why


def _sums(archive: Path) -> dict:
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(archive, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            md5.update(block)
            sha256.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest(), "size": archive.stat().st_size}


def _archive_mismatch(entry: LockEntry, sums: dict) -> str | None:
    kind = "md5" if len(entry.digest) == 32 else "sha256"
    if sums[kind] != entry.digest:
        return f"it does not match its lock's checksum ({kind} {sums[kind]}, not {entry.digest})"
    return None


def _index_mismatch(entry: LockEntry, index) -> str | None:
    if not isinstance(index, dict):
        return "its info/index.json is not a package index"
    named = "-".join(str(index.get(k)) for k in ("name", "version", "build"))
    if named != entry.stem:
        return f"its info/index.json names {named}, the lock {entry.stem}"
    subdir = entry.url.rsplit("/", 2)[-2]
    if index.get("subdir", subdir) != subdir:  # packages before conda-build 3 may lack it
        return f"its info/index.json says subdir {index.get('subdir')}, the lock {subdir}"
    return None


def _paths_mismatch(dest: Path, written) -> str | None:
    """Every file info/paths.json lists is in the package, inside it, as described (packages
    before conda-build 3 have only info/files: each of those must be in it). `written`, the
    extraction's `untar.Extracted`: when exact, it alone says what is there; otherwise the
    files it did not sum are read back."""
    try:
        items = json.loads((dest / "info" / "paths.json").read_bytes())["paths"]
    except FileNotFoundError:
        listed = (dest / "info" / "files").read_text().splitlines()
        items = [{"_path": rel} for rel in listed if rel]
    inside = os.path.realpath(dest) + os.sep
    inside_dirs = {""}  # folders whose real path is inside `dest`: one realpath a folder
    for item in items:
        rel = item["_path"]
        if rel.startswith("/") or ".." in rel.split("/"):
            return f"its info/paths.json lists an unsafe path: {rel}"
        softlink = item.get("path_type", "hardlink") == "softlink"
        if written.exact:  # every member is known, under folders the extraction made
            key = "/".join(part for part in rel.split("/") if part not in ("", "."))
            if key not in (written.links if softlink else written.files):
                return f"{rel}, listed in its info/paths.json, is not in it"
            if softlink:
                continue
            size, digest = written.files[key]
        else:
            path = dest / rel
            if softlink:
                if not path.is_symlink():
                    return f"{rel}, listed in its info/paths.json, is not in it"
                continue
            if path.is_symlink() or not path.is_file():
                return f"{rel}, listed in its info/paths.json, is not in it"
            # not a link itself: inside when its folder is
            folder = os.path.dirname(rel)
            if folder not in inside_dirs:
                if not os.path.realpath(dest / folder).startswith(inside):
                    return f"{rel}, listed in its info/paths.json, lies outside it"
                inside_dirs.add(folder)
            size, digest = written.files.get(rel) or (path.stat().st_size, None)
            digest = digest or (file_digest(path, item["sha256"]) if "sha256" in item else None)
        if item.get("size_in_bytes") not in (None, size):
            return f"{rel} is not the size its info/paths.json gives"
        if item.get("sha256") not in (None, digest):
            return f"{rel} does not match the sha256 its info/paths.json gives"
    return None


def _claim_mismatch(claimed: bytes, index: dict, sums: dict, entry: LockEntry) -> str | None:
    record = json.loads(claimed)
    if not isinstance(record, dict):
        return "its repodata_record.json is not a record"
    actual = {**index, **sums, "fn": entry.fn}
    for key in ("name", "version", "build", "subdir", "fn", "md5", "sha256", "size"):
        if key in record and record[key] != actual.get(key):
            said, has = record[key], actual.get(key)
            return f"its repodata_record.json says {key} {said}, the archive has {has}"
    return None


def _record(entry: LockEntry, index: dict, sums: dict) -> str:
    """The record conda writes when it extracts a package downloaded from a lock line
    (`ExtractPackageAction`), with the credentials of the channel as conda is configured
    with it (the store holds none)."""
    from conda.base.context import context
    from conda.models.channel import Channel
    from conda.models.records import PackageRecord

    from .redact import with_credentials

    url = with_credentials(entry.url, context.channels)
    record = PackageRecord.from_objects(index, url=url, channel=Channel(url), fn=entry.fn, **sums)
    return json.dumps(record.dump(), indent=2, sort_keys=True)
