"""Package archives kept in the store, so a lock restores after `conda clean --all`.

A snapshot's lock names each package by URL and checksum; a restore needs those archives
from the package cache or the channel. `conda clean --all` empties the cache, and channels
move on. So the store keeps the archives that the newest snapshot of each env (removed envs
included) needs: `<store>/packages/<checksum>/<file name>`, a hard link to the cache's own
archive (no extra space while the cache holds it), with conda's `repodata_record.json`
beside it. Bounded by `envguard_keep_packages_mb`; `prune` and `purge` release what no
newest snapshot needs any more.

Before a restore from a lock, `seed_cache` puts back into the package cache, extracted as
conda would have left them, the kept archives the cache lacks: conda then finds every
package there and needs no channel.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from contextlib import contextmanager
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
def seed_cache(
    entries: list[LockEntry], sources: list[Kept], skipped: list[str] | None = None
) -> int:
    """Put the kept archives of `entries` that no package cache holds into the first writable
    cache, extracted, with conda's record (checksums and URL included) so conda matches them
    to the lock without a channel. Returns how many were put there; what the cache holds of
    another package under the same file name stays, and is named in `skipped`."""
    from conda.core.package_cache_data import PackageCacheData

    missing = [e for e in entries if not _extracted_anywhere(e)]
    if not missing:
        return 0
    cache = PackageCacheData.first_writable()
    pkgs_dir = Path(cache.pkgs_dir)
    work = []
    for entry in missing:
        source = next((k for k in sources if k.has(entry) and k.record(entry)), None)
        if source is not None:
            work.append((entry, source))
    # One at a time: extracting small files is Python work (tar headers, one call per file),
    # and threads fighting over the interpreter took twice as long as none.
    seeded = 0
    for entry, source in work:
        why_not = _put_into_cache(entry, source, pkgs_dir)
        if why_not is None:
            seeded += 1
        elif skipped is not None:
            skipped.append(why_not)
    if seeded:
        cache.reload()
    return seeded


def _record_digests(extracted: Path) -> set[str] | None:
    """The checksums conda's record of an extracted package gives, or None without one."""
    try:
        record = json.loads((extracted / "info" / RECORD).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    return {d for d in (record.get("sha256"), record.get("md5")) if isinstance(d, str)}


def _extracted_anywhere(entry: LockEntry) -> bool:
    from conda.base.context import context

    for pkgs_dir in context.pkgs_dirs:
        base = Path(pkgs_dir, entry.stem)
        complete = (base / "info" / "paths.json").is_file()
        if complete and entry.digest in (_record_digests(base) or ()):
            return True
    return False


@contextmanager
def _cache_lock(archive: Path):
    """conda's own lock on a package of the cache: its download holds a lock on
    `<archive>.partial` (`conda.gateways.disk.lock.lock`, the same call from conda 25.7 to
    main) while it writes the archive, and takes none to extract. Held here while envguard
    puts the archive and its extraction in place, so a conda downloading the same package
    waits. The `.partial` file is removed after, when envguard made it."""
    from conda.gateways.disk.lock import lock

    partial = archive.with_name(archive.name + ".partial")
    made = not partial.exists()
    with open(partial, "ab") as handle, lock(handle):
        try:
            yield
        finally:
            if made:
                partial.unlink(missing_ok=True)


def _put_into_cache(entry: LockEntry, source: Kept, pkgs_dir: Path) -> str | None:
    """Put one kept package into the cache; None when done, else why it was left alone.
    Nothing of the cache is deleted or replaced unless conda's record proves it is this very
    package (same checksum): another channel's build of the same file name stays as it is."""
    from conda_package_handling.api import extract

    archive = pkgs_dir / entry.fn
    extracted = pkgs_dir / entry.stem
    other = f"{pkgs_dir} holds another {entry.stem}: left as it is"
    with _cache_lock(archive):
        if os.path.lexists(extracted):
            digests = _record_digests(extracted)
            if digests is None or entry.digest not in digests:
                return f"{other} (its extracted directory is not the package the lock names)"
            if (extracted / "info" / "paths.json").is_file():
                return None  # another process put it there meanwhile
        # an archive is extracted only when it is the package the lock names: the cache's
        # own, or the kept one (a link made on the word of the cache's record)
        if os.path.lexists(archive):
            if file_digest(archive, entry.digest) != entry.digest:
                return f"{other} (its archive is not the package the lock names)"
        else:
            kept = source.archive(entry)
            if file_digest(kept, entry.digest) != entry.digest:
                return f"envguard's kept {kept} does not match the lock's checksum: not used"
            _link_into_place(kept, archive)
        tmp = pkgs_dir / f".{entry.stem}.envguard-tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)  # this process's own, from an earlier try
        try:
            extract(str(archive), dest_dir=str(tmp))
            (tmp / "info" / RECORD).write_text(_with_credentials(source.record(entry) or b"{}"))
            if os.path.lexists(extracted):
                # this very package, half extracted: set it aside, then put ours in its place
                aside = pkgs_dir / f".{entry.stem}.envguard-old-{os.getpid()}"
                os.rename(extracted, aside)
                os.rename(tmp, extracted)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.rename(tmp, extracted)
        except Exception as e:
            shutil.rmtree(tmp, ignore_errors=True)
            return f"{entry.stem} could not be extracted into {pkgs_dir} ({e})"
    return None


def _link_into_place(kept: Path, archive: Path) -> None:
    """The kept archive at `archive`, whole or not at all: linked (or copied) beside it under
    a name of its own, then renamed into place."""
    tmp = archive.with_name(f".{archive.name}.envguard-tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(kept, tmp)
    except OSError:
        shutil.copyfile(kept, tmp)
    os.rename(tmp, archive)


def _with_credentials(record: bytes) -> str:
    """The record's URLs as the lock's lines become for conda: with the credentials of the
    channel as conda is configured with it (the store holds none)."""
    from conda.base.context import context

    from .redact import URL_PATTERN, with_credentials

    text = record.decode()
    return URL_PATTERN.sub(lambda m: with_credentials(m.group(0), context.channels), text)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def seed_from_store(lock_lines: list[str], notes: list[str]) -> None:
    """`seed_cache` from this store's kept packages; a failure is a note, never an error."""
    from .settings import store_dir

    skipped: list[str] = []
    try:
        seeded = seed_cache(lock_entries("\n".join(lock_lines)), [Kept(store_dir())], skipped)
    except Exception as e:
        notes.append(f"envguard's kept packages could not be used ({e})")
        return
    notes.extend(f"a kept package was not used: {why}" for why in skipped)
    if seeded:
        notes.append(f"{seeded} package(s) came from envguard's kept packages")
