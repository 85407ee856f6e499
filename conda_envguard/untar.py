"""Extract one tar stream of a conda package into a new folder, at the speed of its files.

Why: an env of 20,000 small files is 20,000 tar members. Python's `extractall` plus
conda_package_streaming's safety check (a `realpath` per member) cost about 200 µs a member,
ten times what writing the file costs. A package that is only files, folders, symlinks and
hard links to its own files needs none of that: every path is checked by its name, every
folder is one this extraction made, and nothing is ever written through a link.

Anything else (a member whose name holds `..`, one that replaces an earlier member or sits
under a symlink, a device, a sparse file) is `Unusual`: the caller starts over with conda's
own extractor, which handles every case conda handles. A name that leaves the folder is
refused, as conda refuses it.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tarfile
from dataclasses import dataclass, field

_BLOCK = 1 << 20
# never through a link, never over an existing file (POSIX only: see compat.extract_package)
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Unusual(Exception):
    """A member this extractor leaves to conda's (the folder must be emptied first)."""


class UnsafePath(Exception):
    """A member that would land outside the folder: the package is refused."""


@dataclass
class Extracted:
    """What an extraction wrote, by path inside the folder: each regular file's size and
    sha256, summed as it was written, and each symlink. `exact`: every member is in them,
    under real folders this extraction made, so a check needs no `stat`."""

    files: dict[str, tuple[int, str]] = field(default_factory=dict)
    links: set[str] = field(default_factory=set)
    exact: bool = True
    dirs: set[str] = field(default_factory=lambda: {""})  # made here (all the streams)


def extract_stream(reader, dest: str, extracted: Extracted) -> None:
    """Extract the tar read from `reader` into `dest` (a folder this extraction owns: new,
    or holding only what an earlier stream of the same package wrote into it)."""
    try:
        _extract(reader, dest, extracted)
    except FileExistsError as e:  # e.g. two names that differ only in case, on macOS
        raise Unusual(str(e)) from e


def _extract(reader, dest: str, extracted: Extracted) -> None:
    dirs = extracted.dirs
    dir_members = []  # (path, mode, mtime): set last, as tarfile does
    with tarfile.open(fileobj=reader, mode="r|", bufsize=_BLOCK) as tar:
        for member in tar:
            rel = _relative(member.name)
            if rel in dirs or rel in extracted.files or rel in extracted.links:
                if member.isdir() and rel in dirs:
                    dir_members.append((os.path.join(dest, rel), member.mode, member.mtime))
                    continue
                raise Unusual(f"{member.name} appears twice")
            _make_parents(dest, rel, dirs, extracted)
            path = os.path.join(dest, rel)
            if member.isreg() and member.sparse is None:
                extracted.files[rel] = _write(tar, member, path)
            elif member.isdir():
                os.mkdir(path)
                dirs.add(rel)
                dir_members.append((path, member.mode, member.mtime))
            elif member.issym():
                os.symlink(member.linkname, path)
                extracted.links.add(rel)
            elif member.islnk():
                target = _relative(member.linkname)
                if target not in extracted.files:
                    raise Unusual(f"{member.name} is a hard link to {member.linkname}")
                os.link(os.path.join(dest, target), path, follow_symlinks=False)
                os.chmod(path, member.mode)
                os.utime(path, (member.mtime, member.mtime))
                extracted.files[rel] = extracted.files[target]
            else:
                raise Unusual(f"{member.name} is neither a file, a folder nor a link")
    for path, mode, mtime in reversed(dir_members):
        os.chmod(path, mode)
        os.utime(path, (mtime, mtime))


def _relative(name: str) -> str:
    if name.startswith("/"):
        raise UnsafePath(f"contains unsafe path: {name}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Unusual(f"{name} holds ..")  # conda's extractor decides where it lands
    if not parts:
        raise Unusual(f"{name!r} names the folder itself")
    return "/".join(parts)


def _make_parents(dest: str, rel: str, dirs: set[str], extracted: Extracted) -> None:
    parent = posixpath.dirname(rel)
    if parent in dirs:
        return
    missing = []
    while parent not in dirs:
        if parent in extracted.files or parent in extracted.links:
            raise Unusual(f"{rel} lies under a file or link of the package")
        missing.append(parent)
        parent = posixpath.dirname(parent)
    for folder in reversed(missing):
        os.mkdir(os.path.join(dest, folder))
        dirs.add(folder)


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> tuple[int, str]:
    source, left, digest = tar.fileobj, member.size, hashlib.sha256()
    source.seek(member.offset_data)
    fd = os.open(path, _FLAGS, 0o600)
    try:
        while left:
            block = source.read(min(left, _BLOCK))
            if not block:
                raise tarfile.ReadError("unexpected end of data")
            digest.update(block)
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view) :]
            left -= len(block)
        os.fchmod(fd, member.mode)
        os.utime(fd, (member.mtime, member.mtime))
    finally:
        os.close(fd)
    return member.size, digest.hexdigest()
