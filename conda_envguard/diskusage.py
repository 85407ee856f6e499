"""Where the disk went: what removing each env, purging the trash, releasing kept packages or
`conda clean --all` would free, counted as the filesystem counts it.

`du` over conda envs misleads: most of an env's files are hard links into the package cache,
so deleting the env frees nothing of them. Here a file frees its blocks only when every one
of its links is inside the tree being deleted (its `st_nlink` equals the links seen there);
a file linked from the package cache, another env or the store is counted in each tree's
size but frees nothing. Each tree is walked once (`os.scandir`, one `lstat` per entry), trees
nested in another (envs and package caches inside base, the store's kept packages) are
walked on their own only, and the totals count every inode once, as `du` does for the paths
it is given.

Two measures: `size` is the apparent size (`st_size`, as `du -sb`), `frees` and `on_disk`
are allocated blocks (`st_blocks`, as `du -B1` and `df` count them).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROGRESS_EVERY = 50_000  # files between two progress calls inside one tree


@dataclass
class Usage:
    """One tree: its files, apparent size and blocks (each inode once), and what deleting
    it frees."""

    files: int = 0  # entries that are not directories
    size: int = 0
    on_disk: int = 0
    frees: int = 0
    unreadable: int = 0  # directories that could not be listed: the figures leave them out
    # what `conda clean` checks of a package dir: does every file have one link, and the
    # st_size of its files path by path (conda.cli.main_clean's own sum)
    single_links: bool = True
    path_bytes: int = 0

    def add(self, other: Usage) -> None:
        for name in ("files", "size", "on_disk", "frees", "unreadable", "path_bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.single_links = self.single_links and other.single_links


class Scanner:
    """Walks trees, each once, and keeps totals that count every inode once across them."""

    def __init__(self, skip=(), progress: Callable[[str, int], None] | None = None):
        # directories never entered from another tree: they are trees of their own
        self.skip = {os.path.normpath(str(p)) for p in skip}
        self.progress = progress
        self.size = 0
        self.on_disk = 0
        self._seen: set[tuple[int, int]] = set()  # inodes with several links, counted above

    def scan(self, root: str | os.PathLike, label: str = "") -> Usage:
        usage = Usage()
        root = os.path.normpath(str(root))
        shared: dict[tuple[int, int], list[int]] = {}  # inode -> [links seen, nlink, blocks]
        if self.progress and label:
            self.progress(label, 0)
        try:
            top = os.lstat(root)
        except OSError:
            return usage
        if not stat.S_ISDIR(top.st_mode):
            self._count(top, root, usage, shared)
            return self._settle(usage, shared)
        self._dir(top, usage)
        stack = [root]
        while stack:
            try:
                listing = os.scandir(stack.pop())
            except OSError:
                usage.unreadable += 1
                continue
            with listing:
                for entry in listing:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # gone meanwhile
                    if stat.S_ISDIR(st.st_mode):
                        if entry.path not in self.skip:
                            self._dir(st, usage)
                            stack.append(entry.path)
                        continue
                    self._count(st, entry.path, usage, shared)
                    if self.progress and usage.files % PROGRESS_EVERY == 0:
                        self.progress(label or root, usage.files)
        return self._settle(usage, shared)

    def _dir(self, st: os.stat_result, usage: Usage) -> None:
        # a directory has no hard links: it is this tree's alone
        blocks = st.st_blocks * 512
        usage.size += st.st_size
        usage.on_disk += blocks
        usage.frees += blocks
        self.size += st.st_size
        self.on_disk += blocks

    def _count(self, st: os.stat_result, path: str, usage: Usage, shared: dict) -> None:
        usage.files += 1
        # conda's clean sums what os.walk lists as files: a link to a directory is not one
        if not stat.S_ISLNK(st.st_mode) or not os.path.isdir(path):
            usage.path_bytes += st.st_size
        blocks = st.st_blocks * 512
        if st.st_nlink == 1:
            usage.size += st.st_size
            usage.on_disk += blocks
            usage.frees += blocks
            self.size += st.st_size
            self.on_disk += blocks
            return
        usage.single_links = False
        key = (st.st_dev, st.st_ino)
        seen = shared.get(key)
        if seen is not None:
            seen[0] += 1
            return
        shared[key] = [1, st.st_nlink, blocks]
        usage.size += st.st_size
        usage.on_disk += blocks
        if key not in self._seen:
            self._seen.add(key)
            self.size += st.st_size
            self.on_disk += blocks

    @staticmethod
    def _settle(usage: Usage, shared: dict) -> Usage:
        # freed only when every link of the file is inside this tree
        usage.frees += sum(blocks for links, nlink, blocks in shared.values() if links >= nlink)
        return usage


@dataclass
class Row:
    kind: str  # "env", "trash", "kept", "store" or "cache"
    name: str
    path: str
    usage: Usage
    frees: int | None  # None: no one command frees it (the store)
    how: str  # the command that frees it
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "path": self.path,
            "frees_bytes": self.frees,
            "size_bytes": self.usage.size,
            "on_disk_bytes": self.usage.on_disk,
            "files": self.usage.files,
            "unreadable_dirs": self.usage.unreadable,
            "how": self.how,
            **self.details,
        }


def frees(prefix: str | os.PathLike) -> int:
    """Bytes that deleting `prefix` frees now (see the module's docstring)."""
    return Scanner().scan(prefix).frees


def survey(progress: Callable[[str, int], None] | None = None) -> tuple[list[Row], Scanner]:
    """Every env, trash entry, envguard's kept packages and store, and each writable package
    cache, measured. Returns the rows (in that order) and the scanner, whose `size` and
    `on_disk` count every inode of all of them once."""
    from .envs import known_prefixes
    from .pkgkeep import DIRNAME
    from .settings import store_dir
    from .trash import Trash

    prefixes = [os.path.normpath(p) for p in known_prefixes()]
    entries = Trash().entries()
    store = os.path.normpath(str(store_dir()))
    kept = os.path.join(store, DIRNAME)
    caches = _package_caches()
    # an envs dir is no tree of its own: what it holds besides envs and the trash (a half
    # removed env, the dirs themselves) is its enclosing tree's, base's in a Miniforge layout
    nested = [*prefixes, *(e.location for e in entries), *caches, store, kept]
    scanner = Scanner(skip=nested, progress=progress)
    rows = [_env_row(scanner, prefix) for prefix in prefixes]
    for entry in entries:
        usage = scanner.scan(entry.location, f"trash: {entry.env_name}")
        rows.append(
            Row(
                "trash",
                entry.env_name,
                entry.location,
                usage,
                usage.frees,
                f"conda envguard purge {entry.id} -y",
                {"id": entry.id, "prefix": entry.prefix, "expires_at": entry.expires_at},
            )
        )
    usage = scanner.scan(kept, "envguard's kept packages")
    rows.append(
        Row("kept", "kept packages", kept, usage, usage.frees, "conda envguard prune / purge")
    )
    usage = scanner.scan(store, "envguard's store")
    rows.append(Row("store", "envguard store", store, usage, None, "conda envguard prune"))
    rows += [row for cache in caches if (row := _cache_row(scanner, cache))]
    return rows, scanner


def _env_row(scanner: Scanner, prefix: str) -> Row:
    from .envs import cli_arg, last_change, name_of
    from .freeze import frozen_state
    from .naming import is_temporary
    from .policy import protection_of
    from .settings import temporary_patterns

    name = name_of(prefix)
    usage = scanner.scan(prefix, name)
    protection = protection_of(prefix)
    try:
        changed = last_change(Path(prefix))
    except OSError:
        changed = None
    return Row(
        "env",
        name,
        prefix,
        usage,
        usage.frees,
        f"conda remove {cli_arg(prefix)} --all",
        {
            "last_change": _iso(changed),
            "protected": protection.kind if protection else None,
            "frozen": frozen_state(Path(prefix)) is not None,
            "temporary": name != "base" and is_temporary(name, temporary_patterns()),
        },
    )


def _package_caches() -> list[str]:
    """The package caches `conda clean` cleans: the writable ones that exist."""
    from conda.core.package_cache_data import PackageCacheData

    return [
        os.path.normpath(pc.pkgs_dir)
        for pc in PackageCacheData.writable_caches()
        if os.path.isdir(pc.pkgs_dir)
    ]


def _cache_row(scanner: Scanner, cache: str) -> Row | None:
    """A package cache, and what `conda clean --all` would free in it, by conda's own rules
    (conda.cli.main_clean): an archive with one link; an extracted package whose files all
    have one link; the index cache (`cache/`) and conda's logs (`.logs/`), whole. conda
    reports the first two as the sum of their files' sizes; on disk they free their blocks."""
    from conda.base.constants import CONDA_LOGS_DIR

    from .compat import cleaned_as_archive

    if scanner.progress:
        scanner.progress(f"package cache {cache}", 0)
    total = Usage()
    try:
        own = os.lstat(cache)
    except OSError:
        return None  # gone since conda listed it: nothing to free there
    total.size, total.on_disk = own.st_size, own.st_blocks * 512
    scanner.size += own.st_size
    scanner.on_disk += own.st_blocks * 512
    freed = conda_says = 0
    try:
        children = sorted(os.scandir(cache), key=lambda e: e.name)
    except OSError:
        children = []
        total.unreadable += 1
    for child in children:
        usage = scanner.scan(child.path)
        total.add(usage)
        is_dir = child.is_dir(follow_symlinks=False)
        if not is_dir and cleaned_as_archive(child.name):
            if usage.single_links:
                freed += usage.frees
                conda_says += usage.path_bytes
        elif is_dir and child.name in ("cache", CONDA_LOGS_DIR):
            freed += usage.frees
        elif is_dir and os.path.isdir(os.path.join(child.path, "info")) and usage.single_links:
            freed += usage.frees
            conda_says += usage.path_bytes
    total.frees = freed
    return Row(
        "cache",
        "package cache",
        cache,
        total,
        freed,
        "conda clean --all",
        {"conda_clean_reports_bytes": conda_says},
    )


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")
