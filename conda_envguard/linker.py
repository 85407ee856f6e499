"""Install an explicit lock into a new env, linking its plain packages without a transaction.

Why: conda's transaction spends about 100 µs of Python per file (objects to plan, verify,
link and record each one), so linking a 20,000-file env takes seconds even with nothing to
solve. A restore links packages that already lived together in the env, into a new, empty
prefix: nothing is replaced, nothing to decide.

conda still finds every package (its package cache first, downloading what it lacks, exactly
as for `conda create --file LOCK`). envguard then links the *plain* ones itself, the way conda
would: conda's choice of link type, conda's link function, the conda-meta record conda writes
(without its indentation). Plain means: only files and symlinks, none needing the env's path
written into it, every file in the cache at its recorded size, no noarch python
(site-packages paths, entry points, bytecode), no link scripts, menus or pre-link messages,
no path shared with another package of the lock, not on Windows. The rest go through conda's
transaction, which also writes the history, as one revision. Whenever conda has something to
check or run for every package (`disallowed_packages`, `extra_safety_checks`,
transaction-action plugins), it gets them all.

A package extracted by this restore into a package cache of its own (kept packages, a
bundle), which is deleted afterwards, is not linked but moved: its files need no second
name that is deleted a moment later. conda records it as copied.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conda.models.records import PackageCacheRecord, PrefixRecord

# What conda keeps of a paths.json entry in the env's record (its PathDataV1 fields).
_PATH_FIELDS = (
    "_path",
    "file_mode",
    "no_link",
    "path_type",
    "sha256",
    "size_in_bytes",
    "inode_paths",
)


@dataclass
class _Plain:
    """A package envguard links itself, and the record it will write for it."""

    paths: list[dict]  # its info/paths.json entries
    record: PrefixRecord

    @property
    def source(self) -> str:
        """The extracted package dir in the cache."""
        return self.record.extracted_package_dir


def install_lock(specs: list[str], target: Path, movable: Path | None = None) -> None:
    """Install the lock lines `specs` into `target`, a new env (conda's explicit installer,
    but the plain packages envguard links itself). `movable`: a package cache of this
    restore's own, deleted afterwards: the files of its plain packages are moved into the
    env, not linked (no second name to make, then delete, for each file)."""
    from conda.misc import get_package_records_from_explicit, install_explicit_packages

    records = get_package_records_from_explicit(specs)
    plain = _plain_packages(records, target, movable)
    if plain:
        _link(plain, target, write_history=len(plain) == len(records), movable=movable)
    linked = {p.source for p in plain}
    left = [r for r in records if r.extracted_package_dir not in linked]
    if left:
        install_explicit_packages(
            left, str(target), requested_specs=[_requested_spec(r) for r in records]
        )


def _requested_spec(record) -> str:
    """What conda's explicit installer records as asked for: channel::name==version=build."""
    from conda.models.match_spec import MatchSpec

    return str(MatchSpec(record.to_match_spec(), name=record.name))


def _plain_packages(
    records: list[PackageCacheRecord], target: Path, checked: Path | None
) -> list[_Plain]:
    """The plain packages of `records`. `checked`: a package cache whose packages had every
    file checked against their paths.json as they were extracted (no need to look again)."""
    if sys.platform == "win32" or _conda_must_see_every_package() or _holds_anything(target):
        return []
    contents = [_read_paths(record) for record in records]
    if any(paths is None for paths in contents):
        return []  # a package whose files are unknown might share one with a plain package
    site_packages = _site_packages(records)
    owners = Counter(
        target_path
        for record, paths in zip(records, contents, strict=True)
        for target_path in _target_paths(record, paths, site_packages)
    )
    plain = []
    for record, paths in zip(records, contents, strict=True):
        if _is_plain(record, paths, _extracted_in(checked, record)) and all(
            owners[entry["_path"]] == 1 for entry in paths
        ):
            plain.append(_Plain(paths, _prefix_record(record)))
    return plain


def _conda_must_see_every_package() -> bool:
    from conda.base.context import context

    if context.disallowed_packages or context.extra_safety_checks:
        return True
    hooks = ("pre_transaction_actions", "post_transaction_actions")
    try:
        return any(context.plugin_manager.get_hook_results(hook) for hook in hooks)
    except Exception:  # a conda without these hooks, or a broken plugin: conda decides
        return True


def _holds_anything(target: Path) -> bool:
    try:
        return any(target.iterdir())
    except FileNotFoundError:
        return False


def _read_paths(record) -> list[dict] | None:
    try:
        paths_json = json.loads(Path(record.extracted_package_dir, "info/paths.json").read_bytes())
    except (OSError, ValueError):
        return None
    if paths_json.get("paths_version") != 1:
        return None
    return paths_json.get("paths", [])


def _noarch(record) -> str | None:
    noarch = record.get("noarch")
    return str(getattr(noarch, "value", noarch)) if noarch else None


def _site_packages(records) -> str | None:
    from conda.common.path import get_python_site_packages_short_path

    python = next((r for r in records if r.name == "python"), None)
    return get_python_site_packages_short_path(python.version) if python else None


def _target_paths(record, paths: list[dict], site_packages: str | None) -> list[str]:
    """Where the package's files go in the env (noarch python moves them)."""
    if _noarch(record) != "python" or site_packages is None:  # (no python: conda refuses)
        return [entry.get("_path", "") for entry in paths]
    from conda.common.path import get_python_noarch_target_path

    return [get_python_noarch_target_path(e.get("_path", ""), site_packages) for e in paths]


def _is_plain(record, paths: list[dict], as_extracted: bool) -> bool:
    source = Path(record.extracted_package_dir)
    if _noarch(record) not in (None, "generic") or (source / "info/link.json").exists():
        return False
    if any(p.is_file() for p in (source / "info/prelink_messages").glob("**/*")):
        return False  # conda shows them and asks
    scripts = {f"bin/.{record.name}-{when}.sh" for when in ("pre-link", "post-link")}
    for entry in paths:
        path = entry.get("_path", "")
        if (
            entry.get("path_type") not in ("hardlink", "softlink")
            or entry.get("prefix_placeholder")
            or path in scripts
            or path.startswith("Menu/")
            or not path
            or path.startswith("/")
            or ".." in path.split("/")
        ):
            return False
        if as_extracted:
            continue
        try:
            size = os.lstat(f"{source}/{path}").st_size
        except OSError:
            return False  # conda says the package is damaged
        recorded = entry.get("size_in_bytes")
        if entry["path_type"] == "hardlink" and recorded and size != recorded:
            return False
    return True


def _prefix_record(record) -> PrefixRecord:
    """The package's conda-meta record as conda's explicit installer makes it, but its file
    lists (added when linked) and its link type (known when linking starts)."""
    from conda.models.records import PathsData, PrefixRecord

    requested = _requested_spec(record)
    return PrefixRecord.from_objects(
        record,
        requested_spec=requested,
        requested_specs=(requested,),
        paths_data=PathsData(paths_version=1, paths=()),
        files=(),
        url=record.url,
        extracted_package_dir=record.extracted_package_dir,
        package_tarball_full_path=record.package_tarball_full_path,
    )


def _link(plain: list[_Plain], target: Path, write_history: bool, movable: Path | None) -> None:
    from conda.core.prefix_data import PrefixData
    from conda.history import History
    from conda.reporters import get_spinner

    from .compat import record_creation_time

    packages, files = len(plain), sum(len(p.paths) for p in plain)
    count = f"{packages} package{'s' * (packages != 1)} ({files:,} file{'s' * (files != 1)})"
    (target / "conda-meta").mkdir(parents=True, exist_ok=True)
    folder_mode = _folder_mode(movable, target) if movable is not None else None
    # e.g. the store is on another filesystem: linked (or copied) from it then
    moving = {p.source for p in plain if folder_mode and _extracted_in(movable, p.record)}
    what = (
        "Moving {} into the env"
        if len(moving) == len(plain)
        else "Linking {} from the package cache"
    )
    with get_spinner(what.format(count)):
        for package in plain:
            if package.source in moving:
                _move_one(package, target, folder_mode)
            else:
                _link_one(package, target)
        if write_history:  # else conda's transaction writes it, for every package
            record_creation_time(target)
            history = History(str(target))
            history.write_changes(set(), {p.record.dist_str() for p in plain})
            history.write_specs(update_specs=[p.record.requested_spec for p in plain])
    # conda caches one PrefixData per prefix: one made before has not read these records.
    for interoperability in (False, True):
        getattr(PrefixData, "_cache_", {}).pop((target, interoperability), None)


def _link_one(package: _Plain, target: Path) -> None:
    """Link one package's files, then write its conda-meta record, as conda does."""
    from conda.core.link import determine_link_type
    from conda.gateways.disk.create import create_link
    from conda.models.enums import LinkType

    link_type = determine_link_type(package.source, str(target))
    made: set[str] = set()
    for entry in package.paths:
        path = entry["_path"]
        source, destination = f"{package.source}/{path}", f"{target}/{path}"
        parent = os.path.dirname(destination)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        # As conda's LinkPathAction: symlinks and no_link files are copied, the rest linked.
        if entry["path_type"] == "softlink" or entry.get("no_link"):
            create_link(source, destination, LinkType.copy)
        elif link_type == LinkType.hardlink:
            try:
                os.link(source, destination)  # the one call conda's create_link ends in
            except OSError:  # conda's way, then: its clobber rules, a copy if it can't link
                create_link(source, destination, LinkType.hardlink)
        else:
            create_link(source, destination, link_type)
    _write_record(package, target, link_type)


def _move_one(package: _Plain, target: Path, folder_mode: int) -> None:
    """Move one package's files out of the restore's own cache into the env, then write its
    conda-meta record: a copy, as far as conda can tell (the env's files are linked to
    nothing)."""
    from conda.models.enums import LinkType

    paths = [entry["_path"] for entry in package.paths]
    _move_files(package.source, target, paths, folder_mode)
    _write_record(package, target, LinkType.copy)


def _move_files(source: str, target: Path, paths: list[str], folder_mode: int) -> None:
    """Move `paths` from the folder `source` into `target`: a folder the env lacks in one
    rename when it holds only files of `paths` and folders of `folder_mode` (those conda
    makes), the others one by one."""
    listed = set(paths)
    present: set[str] = set()  # folders the env has
    moved: set[str] = set()  # folders moved whole
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in moved:
                break  # moved with it
            if folder in present:
                continue
            if not os.path.lexists(f"{target}/{folder}") and _only(
                listed, source, folder, folder_mode
            ):
                os.rename(f"{source}/{folder}", f"{target}/{folder}")
                moved.add(folder)
                break
            os.makedirs(f"{target}/{folder}", exist_ok=True)
            present.add(folder)
        else:
            if os.path.lexists(f"{target}/{path}"):  # (rename would replace it silently)
                raise FileExistsError(errno.EEXIST, "already in the env", f"{target}/{path}")
            os.rename(f"{source}/{path}", f"{target}/{path}")


def _only(listed: set[str], source: str, folder: str, mode: int) -> bool:
    """Is `source/folder` a folder of `mode` holding nothing but files of `listed` and such
    folders (none empty)?"""
    if os.lstat(f"{source}/{folder}").st_mode != mode:
        return False
    entries = list(os.scandir(f"{source}/{folder}"))
    for entry in entries:
        path = f"{folder}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            if not _only(listed, source, path, mode):
                return False
        elif path not in listed:
            return False
    return bool(entries)


def _extracted_in(cache: Path | None, record) -> bool:
    """Was `record`'s package extracted into the package cache `cache`?"""
    return cache is not None and Path(record.extracted_package_dir).parent == cache


def _folder_mode(cache: Path, target: Path) -> int | None:
    """The mode of a folder made now (the mode conda gives the env's folders), when a folder
    of `cache` can be renamed into `target` (the same filesystem); else None."""
    probe, moved = cache / ".move-probe", target / "conda-meta" / ".move-probe"
    try:
        probe.mkdir()
        os.rename(probe, moved)
        mode = os.lstat(moved).st_mode
        moved.rmdir()
        return mode
    except OSError:
        for folder in (probe, moved):
            with contextlib.suppress(OSError):
                folder.rmdir()
        return None


def _write_record(package: _Plain, target: Path, link_type) -> None:
    """The package's conda-meta record as conda dumps it, with the per-file lists added as
    plain data (conda's own objects for them are most of the cost this module avoids)."""
    from conda.common.url import mask_anaconda_token, remove_auth
    from conda.models.enums import LinkType
    from conda.models.records import Link

    paths_data = []
    for entry in package.paths:
        data = {k: entry[k] for k in _PATH_FIELDS if entry.get(k) is not None}
        # as conda records them: a hard link (or copy) with its checksum in the env, a file
        # soft-linked to the cache as a soft link
        linked = entry["path_type"] != "softlink" and not entry.get("no_link")
        if linked and link_type == LinkType.softlink:
            data["path_type"] = "softlink"
        if data["path_type"] == "hardlink" and "sha256" in data:
            data["sha256_in_prefix"] = data["sha256"]
        paths_data.append(data)
    record = package.record
    dumped = record.dump()
    dumped["url"] = remove_auth(mask_anaconda_token(record.url))
    dumped["files"] = [d["_path"] for d in paths_data]
    dumped["paths_data"] = {"paths_version": 1, "paths": paths_data}
    dumped["link"] = Link(source=package.source, type=link_type).dump()
    meta = target / "conda-meta" / f"{record.name}-{record.version}-{record.build}.json"
    # The data conda's PrefixData.insert writes, without its indentation: indenting (or
    # json.dump to a file) runs the pure-Python JSON encoder, two thirds of this function's
    # time on a big package; json.dumps without it runs the C one.
    meta.write_text(json.dumps(dumped, sort_keys=True, separators=(",", ":")))


# -- changing a live env to a lock, in place ------------------------------------------------
@dataclass
class LockSync:
    """What makes a live env hold exactly a lock's packages: the records to unlink and the
    lock lines to link, in one conda transaction."""

    unlink: list  # the live env's PrefixRecords
    link: list[str]  # lock lines

    @property
    def empty(self) -> bool:
        return not (self.unlink or self.link)


def lock_line_key(line: str) -> tuple[str, str]:
    """A lock line's package file stem (name-version-build) and checksum ('' without)."""
    url, _, digest = line.strip().partition("#")
    name = url.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".tar.bz2", ".conda"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name, digest.removeprefix("sha256:").removeprefix("md5:")


def plan_lock_sync(specs: list[str], target: Path, doomed: set[str] | None = None) -> LockSync:
    """Compare the live env at `target` with the lock lines `specs`: a package stays when the
    env has that very file (same name, version and build, and same checksum when both say)
    and keeps all its files (`doomed`: paths about to be deleted, e.g. those of a pip
    package installed over a conda one). When python itself changes, every noarch python
    package is linked again (its files move with python's version, as conda's solver would
    relink them)."""
    from conda.core.prefix_data import PrefixData

    prefix_data = PrefixData(str(target))
    prefix_data.reload()  # cached per process: read the env as it is now
    live = {f"{r.name}-{r.version}-{r.build}": r for r in prefix_data.iter_records()}
    keys = [lock_line_key(line) for line in specs]
    kept: set[str] = set()
    for stem, digest in keys:
        record = live.get(stem)
        if (
            record is not None
            and digest in ("", record.get("sha256"), record.get("md5"))
            and (not doomed or doomed.isdisjoint(record.files))
        ):
            kept.add(stem)
    python_changes = any(
        stem not in kept
        for stem in [*live, *(stem for stem, _ in keys)]
        if stem.rsplit("-", 2)[0] == "python"
    )
    if python_changes:
        kept = {stem for stem in kept if _noarch(live[stem]) != "python"}
    return LockSync(
        unlink=[r for stem, r in live.items() if stem not in kept],
        link=[line for line, (stem, _) in zip(specs, keys, strict=True) if stem not in kept],
    )


def apply_lock_sync(sync: LockSync, target: Path) -> None:
    """Run `sync` on the live env at `target` as one conda transaction (conda's own unlink
    and link, its history entry and its checks), finding the packages to link as conda's
    explicit installer does (the package cache first, then their channels)."""
    from conda.core.link import PrefixSetup, UnlinkLinkTransaction
    from conda.core.prefix_data import PrefixData
    from conda.misc import get_package_records_from_explicit
    from conda.models.match_spec import MatchSpec

    records = list(get_package_records_from_explicit(sync.link)) if sync.link else []
    linked = {r.name for r in records}
    setup = PrefixSetup(
        str(target),
        tuple(sync.unlink),
        tuple(records),
        tuple(MatchSpec(r.name) for r in sync.unlink if r.name not in linked),
        tuple(MatchSpec(_requested_spec(r)) for r in records),
        (),
    )
    UnlinkLinkTransaction(setup).execute()
    for interoperability in (False, True):
        getattr(PrefixData, "_cache_", {}).pop((target, interoperability), None)
