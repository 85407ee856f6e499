"""Link a lock's plain packages into a new env straight from the package cache.

Why not always conda's transaction: it spends about 100 µs of Python per file (objects to
plan, verify, link and record each one), so a 20,000-file env takes seconds to link even
with nothing to solve. A restore links packages that already lived together in the env, into
a new, empty prefix: nothing is replaced, nothing clobbered, nothing to decide.

So envguard links the *plain* packages itself, the way conda would: conda's choice of link
type, conda's link function, the same conda-meta record and history. Plain means: found
extracted in the package cache with the lock's checksum, every file there at its recorded
size, only files and symlinks, none needing the env's path written into it, no noarch python
(site-packages paths, entry points, bytecode), no link scripts, no menus, no path shared with
another package, not on Windows. Everything else is left to conda's transaction, which then
finds the plain packages already installed.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# What conda keeps of a paths.json entry in the env's record (its PathDataV1 fields).
_PATH_FIELDS = ("_path", "no_link", "path_type", "sha256", "size_in_bytes", "inode_paths")
_PACKAGE_SUFFIXES = (".tar.bz2", ".conda")


@dataclass
class _Package:
    spec: str  # the lock line, as conda would be given it
    extracted: Path
    tarball: Path
    repodata_record: dict
    paths: list[dict]


def link_plain_packages(specs: list[str], target: Path) -> list[str]:
    """Link the plain packages among `specs` (lock lines) into `target`, a new prefix.

    Returns the lock lines left for conda, in their order. On an error, what was linked is
    left in `target` for the caller to clean up, as after a failed conda transaction.
    """
    if sys.platform == "win32" or _holds_anything(target):
        return specs
    plain = [package for package in map(_plain_package, specs) if package]
    plain = _without_shared_paths(plain)
    if not plain:
        return specs
    _link_all(plain, target)
    linked = {package.spec for package in plain}
    return [spec for spec in specs if spec not in linked]


def _holds_anything(target: Path) -> bool:
    try:
        return any(target.iterdir())
    except FileNotFoundError:
        return False


def _plain_package(spec: str) -> _Package | None:
    """The cached package `spec` names, if envguard can link it itself."""
    from conda.base.context import context
    from conda.common.url import remove_auth, split_anaconda_token

    url, _, checksum = spec.partition("#")
    checksum = checksum.split(":")[-1].lower()
    url = remove_auth(split_anaconda_token(url)[0])
    filename = url.rsplit("/", 1)[-1]
    stem = next((filename[: -len(s)] for s in _PACKAGE_SUFFIXES if filename.endswith(s)), None)
    if not stem or len(checksum) not in (32, 64):
        return None
    for pkgs_dir in context.pkgs_dirs:
        extracted = Path(pkgs_dir, stem)
        try:
            record = json.loads((extracted / "info" / "repodata_record.json").read_bytes())
            paths_json = json.loads((extracted / "info" / "paths.json").read_bytes())
        except (OSError, ValueError):
            continue
        if (
            record.get("sha256" if len(checksum) == 64 else "md5") != checksum
            or remove_auth(split_anaconda_token(record.get("url", ""))[0]) != url
        ):
            continue
        if paths_json.get("paths_version") != 1 or not _is_plain(record, paths_json, extracted):
            return None
        return _Package(spec, extracted, Path(pkgs_dir, filename), record, paths_json["paths"])
    return None


def _is_plain(record: dict, paths_json: dict, extracted: Path) -> bool:
    if record.get("noarch") not in (None, "generic") or (extracted / "info/link.json").exists():
        return False
    name = record.get("name", "")
    scripts = {f"bin/.{name}-{when}.sh" for when in ("pre-link", "post-link", "pre-unlink")}
    for entry in paths_json.get("paths", ()):
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
        try:
            stat = os.lstat(f"{extracted}/{path}")
        except OSError:
            return False  # conda says the package is corrupt, or extracts it again
        size = entry.get("size_in_bytes")
        if entry["path_type"] == "hardlink" and size and stat.st_size != size:
            return False
    return True


def _without_shared_paths(packages: list[_Package]) -> list[_Package]:
    """Packages that share a path with another one are left to conda, which warns about it."""
    owners = Counter(entry["_path"] for package in packages for entry in package.paths)
    return [p for p in packages if all(owners[e["_path"]] == 1 for e in p.paths)]


def _link_all(packages: list[_Package], target: Path) -> None:
    from conda.core.prefix_data import PrefixData
    from conda.history import History
    from conda.reporters import get_spinner

    files = sum(len(p.paths) for p in packages)
    (target / "conda-meta").mkdir(parents=True, exist_ok=True)
    count = f"{len(packages)} package{'s' if len(packages) != 1 else ''}"
    with get_spinner(f"Linking {count} ({files:,} files) from the package cache"):
        records = [_link_one(package, target) for package in packages]
        # conda-meta/history, as conda writes it for a new env
        PrefixData(target).set_creation_time()
        history = History(str(target))
        history.write_changes(set(), {record.dist_str() for record in records})
        history.write_specs(update_specs=[record.requested_spec for record in records])
    # conda caches one PrefixData per prefix: the one made above has not read these records.
    for interoperability in (False, True):
        getattr(PrefixData, "_cache_", {}).pop((target, interoperability), None)


def _link_one(package: _Package, target: Path):
    """Link one package's files and write its conda-meta record; return the record."""
    from conda.common.serialize.json import write as write_json
    from conda.common.url import mask_anaconda_token, remove_auth
    from conda.core.link import determine_link_type
    from conda.gateways.disk.create import create_link
    from conda.models.enums import LinkType
    from conda.models.match_spec import MatchSpec
    from conda.models.records import Link, PackageCacheRecord, PathsData, PrefixRecord

    link_type = determine_link_type(str(package.extracted), str(target))
    source_dir, target_dir = str(package.extracted), str(target)
    made: set[str] = set()
    paths_data = []
    for entry in package.paths:
        path = entry["_path"]
        source, destination = f"{source_dir}/{path}", f"{target_dir}/{path}"
        parent = os.path.dirname(destination)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        data = {k: entry[k] for k in _PATH_FIELDS if entry.get(k) is not None}
        if not data.get("no_link", True):
            del data["no_link"]  # conda records only a true one
        # As conda's LinkPathAction: symlinks and no_link files are copied; a hard link (or
        # copy) is recorded with its checksum in the env, a soft link as a soft link.
        if entry["path_type"] == "softlink" or entry.get("no_link"):
            create_link(source, destination, LinkType.copy)
        elif link_type == LinkType.hardlink:
            try:
                os.link(source, destination)
            except OSError:  # as conda: copy when a hard link can't be made
                create_link(source, destination, LinkType.copy)
        else:
            create_link(source, destination, link_type)
            if link_type == LinkType.softlink:
                data["path_type"] = "softlink"
        if data["path_type"] == "hardlink" and "sha256" in data:
            data["sha256_in_prefix"] = data["sha256"]
        paths_data.append(data)

    cache_record = PackageCacheRecord.from_objects(
        package.repodata_record,
        package_tarball_full_path=str(package.tarball),
        extracted_package_dir=str(package.extracted),
    )
    requested = str(MatchSpec(cache_record.to_match_spec(), name=cache_record.name))
    record = PrefixRecord.from_objects(
        cache_record,
        requested_spec=requested,
        requested_specs=(requested,),
        paths_data=PathsData(paths_version=1, paths=()),
        files=(),
        link=Link(source=str(package.extracted), type=link_type),
        url=cache_record.url,
        extracted_package_dir=str(package.extracted),
        package_tarball_full_path=str(package.tarball),
    )
    # The record as conda dumps it; the per-file lists added as plain data (conda's own
    # objects for them are most of the cost this module avoids).
    dumped = record.dump()
    dumped["url"] = remove_auth(mask_anaconda_token(record.url))
    dumped["files"] = [d["_path"] for d in paths_data]
    dumped["paths_data"] = {"paths_version": 1, "paths": paths_data}
    write_json(dumped, path=target / "conda-meta" / f"{package.extracted.name}.json")
    return record
