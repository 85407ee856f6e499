"""Where snapshots live: one directory each under `<store>/snapshots/`, private to the user.

A snapshot is written into a hidden temporary directory and renamed into place when every
file is on disk, so a crash or a full disk never leaves half a snapshot that lists as good.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .snapshot import META, Snapshot, capture, load

if TYPE_CHECKING:
    from .envfiles import Contents

TMP_PREFIX = ".tmp-"
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_ID = 120  # new_id's longest is 61
_STALE_TMP_SECONDS = 3600


class Store:
    def __init__(self, root: Path | None = None):
        if root is None:
            from .settings import store_dir

            root = store_dir()
        self.root = Path(root)
        self.snapshots_dir = self.root / "snapshots"

    def ensure(self) -> None:
        """Create the store, readable by its user only: snapshots hold command lines."""
        for directory in (self.root, self.snapshots_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def check_private(self, writing: bool = False) -> None:
        """Refuse (UnsafeStoreError) a store that another user owns or can write: like ssh
        with `~/.ssh`, for what envguard reads from it and what it writes into it."""
        from .integrity import check_private

        check_private(self.root, writing)
        check_private(self.snapshots_dir, writing)

    def take(
        self,
        prefix: Path,
        name: str,
        trigger: str,
        command: str = "",
        contents: Contents | None = None,
    ) -> Snapshot:
        """Snapshot the env at `prefix`; all or nothing. `contents`: see `snapshot.capture`.
        Commands save through `saving.save`, which also keeps its packages and tells git."""
        self.check_private(writing=True)
        self.ensure()
        self._clean_stale_tmp()
        from .order import next_stamp

        stamp = next_stamp(self.root)
        while True:  # ids of one env in one second differ by a random part: never reuse one
            snap_id = new_id(name)
            tmp = self.snapshots_dir / f"{TMP_PREFIX}{snap_id}"
            if (self.snapshots_dir / snap_id).exists():
                continue
            try:
                tmp.mkdir(mode=0o700)
            except FileExistsError:
                continue
            break
        try:
            meta = capture(prefix, name, tmp, snap_id, trigger, command, contents, order=stamp)
            from .integrity import write_manifest

            write_manifest(tmp)  # last: it covers every file written above
            final = self.snapshots_dir / snap_id
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        from .atomic import fsync_dir

        fsync_dir(self.snapshots_dir)
        self._remember(prefix, meta)
        return Snapshot(final, meta)

    # A tiny index, one file per env, of its latest snapshot's fingerprint: deciding that an
    # env is unchanged must not read every snapshot in the store.
    def _index_path(self, prefix: Path) -> Path:
        key = hashlib.sha256(os.path.normpath(str(prefix)).encode()).hexdigest()[:24]
        return self.root / "index" / key

    def _remember(self, prefix: Path, meta: dict) -> None:
        from .atomic import write_text_atomic

        path = self._index_path(prefix)
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            write_text_atomic(path, f"{meta['fingerprint']} {meta['id']}\n", 0o600, durable=False)
        except OSError:
            pass  # only an optimisation

    def remember(self, prefix: Path, snapshot: Snapshot) -> None:
        """Record `snapshot` as the latest of the env at `prefix`, which a restore just made
        from it (a snapshot imported from another machine names that machine's prefix)."""
        fingerprint = snapshot.meta.get("fingerprint") or "-"
        self._remember(prefix, {"fingerprint": fingerprint, "id": snapshot.id})

    def recorded(self, prefix: str | os.PathLike) -> str | None:
        """The id of the latest snapshot taken of, or restored into, the env at `prefix`."""
        try:
            return self._index_path(Path(prefix)).read_text().split()[1]
        except (OSError, IndexError):
            return None

    def is_unchanged(self, prefix: Path) -> bool:
        """Does the env's latest snapshot still describe it?"""
        from .snapshot import fingerprint

        try:
            recorded, snap_id = self._index_path(prefix).read_text().split()
        except (OSError, ValueError):
            return False
        if recorded != fingerprint(prefix):
            return False
        try:
            load(self.snapshots_dir / snap_id)  # a damaged snapshot is no snapshot
        except Exception:
            return False
        return True

    def all(self) -> list[Snapshot]:
        """Every readable snapshot, oldest first. Damaged ones are skipped (see `scan`)."""
        return self.scan()[0]

    def scan(self) -> tuple[list[Snapshot], list[Path]]:
        """(readable snapshots oldest first, paths of damaged ones).

        Reading a thousand snapshot.json files is most of `conda envguard list`: a cache in
        the store keeps each one's metadata, keyed by its file's size and mtime, so only new
        or changed snapshots are read again.
        """
        from .integrity import check_private

        check_private(self.root)
        check_private(self.snapshots_dir)
        good, bad = [], []
        try:
            entries = list(os.scandir(self.snapshots_dir))
        except FileNotFoundError:
            return [], []
        cache = self._read_cache()
        fresh: dict[str, list] = {}
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                # a snapshot is a real directory: a file or a link leading out is no snapshot
                if not entry.is_dir(follow_symlinks=False):
                    raise OSError("not a directory")
                st = os.lstat(os.path.join(entry.path, META))
                if not stat.S_ISREG(st.st_mode):
                    raise OSError("not a regular file")
                stamp = [st.st_size, st.st_mtime_ns]
            except OSError:
                bad.append(Path(entry.path))
                continue
            cached = cache.get(entry.name)
            if cached and cached[0] == stamp:
                good.append(Snapshot(Path(entry.path), cached[1]))
                fresh[entry.name] = cached
                continue
            try:
                snap = load(Path(entry.path))
            except Exception:
                bad.append(Path(entry.path))
                continue
            summary = snap.summary()
            good.append(Snapshot(snap.path, summary))
            fresh[entry.name] = [stamp, summary]
        if fresh != cache:
            self._write_cache(fresh)
        good.sort(key=lambda s: s.order)
        return good, bad

    def _cache_path(self) -> Path:
        return self.root / "list-cache.json"

    def _read_cache(self) -> dict:
        try:
            data = json.loads(self._cache_path().read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_cache(self, cache: dict) -> None:
        from .atomic import write_text_atomic

        try:
            write_text_atomic(self._cache_path(), json.dumps(cache), 0o600, durable=False)
        except OSError:
            pass  # only an optimisation (and the store may be read-only)

    def for_env(
        self, name: str | None = None, prefix: str | None = None, among: list | None = None
    ) -> list[Snapshot]:
        """Snapshots of one env (by name or by prefix), oldest first."""
        out = []
        for snap in self.all() if among is None else among:
            if (prefix and os.path.normpath(snap.prefix) == os.path.normpath(prefix)) or (
                name and name in (snap.env_name, snap.prefix)
            ):
                out.append(snap)
        return out

    def latest(self, name: str | None = None, prefix: str | None = None) -> Snapshot | None:
        return newest(self.for_env(name, prefix))

    def get(self, snap_id: str) -> Snapshot:
        """The snapshot whose id is `snap_id` or starts with it."""
        from .exceptions import AmbiguousSnapshotError, SnapshotNotFoundError

        # Only what new_id makes: no path, no name too long for the filesystem to look up.
        if not plain_id(snap_id or ""):
            raise SnapshotNotFoundError(snap_id[:_MAX_ID])
        from .integrity import check_private

        check_private(self.root)
        check_private(self.snapshots_dir)
        exact = self.snapshots_dir / snap_id
        if not exact.is_symlink() and (exact / META).is_file():
            return load(exact)
        matches = [s for s in self.all() if s.id.startswith(snap_id)]
        if not matches:
            raise SnapshotNotFoundError(snap_id)
        if len(matches) > 1:
            raise AmbiguousSnapshotError(snap_id, [s.id for s in matches])
        return matches[0].full()

    def delete(self, snap: Snapshot) -> None:
        # rename first so a half-deleted snapshot never lists as good
        doomed = snap.path.with_name(f"{TMP_PREFIX}del-{snap.path.name}")
        os.rename(snap.path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def _clean_stale_tmp(self) -> None:
        """Remove what a killed snapshot left behind (only old leftovers: another may be live)."""
        now = time.time()
        try:
            entries = list(os.scandir(self.snapshots_dir))
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX):
                try:
                    if now - entry.stat().st_mtime > _STALE_TMP_SECONDS:
                        shutil.rmtree(entry.path, ignore_errors=True)
                except OSError:
                    pass


def newest(snaps: list[Snapshot]) -> Snapshot | None:
    """The latest of one env's snapshots (oldest first). One imported from a bundle never
    stands for an env of this machine: not when the env has snapshots of its own here, nor
    when an env is where a restore by name would put it (that takes its id)."""
    from .envs import is_environment, plain_name, prefix_for_name

    own = [s for s in snaps if not s.meta.get("imported")]
    if own:
        return own[-1]
    foreign = [
        s
        for s in snaps
        if not (plain_name(s.env_name) and is_environment(prefix_for_name(s.env_name)))
    ]
    return foreign[-1] if foreign else None


def plain_id(snap_id: object) -> bool:
    """Is this an id of the form `new_id` makes (safe as a file name and on a command line)?"""
    return (
        isinstance(snap_id, str)
        and len(snap_id) <= _MAX_ID
        and _ID_PATTERN.fullmatch(snap_id) is not None
    )


def new_id(name: str) -> str:
    """A sortable, unique, filesystem-safe id: 20261128-142301-myenv-3fa1."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(name.rstrip("/")))[:40] or "env"
    safe = safe.lstrip(".") or "env"
    return f"{stamp}-{safe}-{secrets.token_hex(2)}"
