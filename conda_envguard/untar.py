"""Extract one tar stream of a conda package into a new folder, at the speed of its files.

Why: an env of 20,000 small files is 20,000 tar members. Python's `extractall` plus
conda_package_streaming's safety check (a `realpath` per member) cost about 200 µs a member,
ten times what writing the file costs. A package that is only files, folders, symlinks and
hard links to its own files needs none of that: every path is checked by its name, every
folder is one this extraction made, and nothing is ever written through a link. The tar is
read by its own loop too (ustar, pax and GNU headers): tarfile's stream reader copied its
read-ahead buffer at every header.

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
# never through a link, never over an existing file (used on POSIX only, see
# compat.extract_package; Windows lacks the last two flags but imports this module too)
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL
_FLAGS |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


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

    def forget(self) -> None:
        """Start again empty (the folder was emptied for another extractor)."""
        self.files, self.links, self.exact, self.dirs = {}, set(), True, {""}


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
    blocks = _Blocks(reader)
    for member in _members(blocks):
        rel = _relative(member.name)
        if rel in dirs or rel in extracted.files or rel in extracted.links:
            if member.type == _DIR and rel in dirs:
                dir_members.append((os.path.join(dest, rel), member.mode, member.mtime))
                continue
            raise Unusual(f"{member.name} appears twice")
        _make_parents(dest, rel, dirs, extracted)
        path = os.path.join(dest, rel)
        if member.type in _FILE:
            extracted.files[rel] = _write(blocks, member, path)
        elif member.type == _DIR:
            os.mkdir(path)
            dirs.add(rel)
            dir_members.append((path, member.mode, member.mtime))
        elif member.type == _SYMLINK:
            os.symlink(member.linkname, path)
            extracted.links.add(rel)
        else:  # a hard link
            target = _relative(member.linkname)
            if target not in extracted.files:
                raise Unusual(f"{member.name} is a hard link to {member.linkname}")
            os.link(os.path.join(dest, target), path, follow_symlinks=False)
            os.chmod(path, member.mode)
            os.utime(path, (member.mtime, member.mtime))
            extracted.files[rel] = extracted.files[target]
    for path, mode, mtime in reversed(dir_members):
        os.chmod(path, mode)
        os.utime(path, (mtime, mtime))


# -- reading the tar: ustar headers, pax extended headers, GNU long names ----------------------
# tarfile's stream reader keeps what it has read ahead in one bytes object and copies the rest
# of it at every read: with a MB read ahead, each 512-byte header copied up to a MB.
_FILE, _HARDLINK, _SYMLINK, _DIR = (b"0", b"\0", b"7"), b"1", b"2", b"5"
_PAX, _GNU_NAME, _GNU_LINK = b"x", b"L", b"K"
_MAX_META = 1 << 20  # a pax header or GNU long name longer than this is not a package's


class _Member:
    __slots__ = ("linkname", "mode", "mtime", "name", "size", "type")


class _Blocks:
    """Exact reads from a decompressing reader, through a read-ahead buffer."""

    def __init__(self, raw):
        self.raw, self.buf, self.pos = raw, b"", 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end <= len(self.buf):
            self.pos = end
            return self.buf[end - n : end]
        parts, have = [self.buf[self.pos :]], len(self.buf) - self.pos
        self.buf, self.pos = b"", 0
        while have < n:
            chunk = self.raw.read(max(_BLOCK, n - have))
            if not chunk:
                raise tarfile.ReadError("unexpected end of data")
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self.buf, self.pos = data, n
        return data[:n]

    def pieces(self, n: int):
        """`n` bytes, in pieces of at most _BLOCK, without copying them into the buffer."""
        ready = min(n, len(self.buf) - self.pos)
        if ready:
            yield self.buf[self.pos : self.pos + ready]
            self.pos += ready
            n -= ready
        while n:
            chunk = self.raw.read(min(n, _BLOCK))
            if not chunk:
                raise tarfile.ReadError("unexpected end of data")
            yield chunk
            n -= len(chunk)

    def at_end(self) -> bool:
        if self.pos < len(self.buf):
            return False
        self.buf, self.pos = self.raw.read(_BLOCK), 0
        return not self.buf


def _members(blocks: _Blocks):
    """Each member of the tar, its data left for the caller to read (files) or skipped."""
    pax: dict[str, str] = {}
    while not blocks.at_end():
        header = blocks.take(512)
        if header == bytes(512):
            return  # the end-of-archive blocks
        if _number(header[148:156]) != sum(header) - sum(header[148:156]) + 256:
            raise Unusual("a tar header's checksum does not match")
        member = _Member()
        member.type = header[156:157]
        member.size = _number(header[124:136])
        if member.type in (_PAX, _GNU_NAME, _GNU_LINK):
            if member.size > _MAX_META:
                raise Unusual("a tar extended header is too long")
            data = blocks.take(_padded(member.size))[: member.size]
            if member.type == _PAX:
                pax.update(_pax_records(data))
            else:
                name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                pax["path" if member.type == _GNU_NAME else "linkpath"] = name
            continue
        if member.type not in (*_FILE, _HARDLINK, _SYMLINK, _DIR):
            raise Unusual(f"a tar member of type {member.type!r}")
        name = _text(header[0:100])
        prefix = _text(header[345:500]) if header[257:263] == b"ustar\0" else ""
        member.name = pax.pop("path", None) or (f"{prefix}/{name}" if prefix else name)
        member.linkname = pax.pop("linkpath", None) or _text(header[157:257])
        member.mode = _number(header[100:108]) & 0o7777
        member.mtime = float(pax.pop("mtime", _number(header[136:148])))
        if "size" in pax:
            member.size = int(pax.pop("size"))
        if any(key.startswith("GNU.sparse") for key in pax):
            raise Unusual("a sparse file")
        pax.clear()
        if member.type == b"\0" and member.name.endswith("/"):
            member.type = _DIR  # an old tar's way of listing a folder
        yield member
        if member.type not in _FILE and member.size:
            blocks.take(_padded(member.size))


def _number(field: bytes) -> int:
    if field[:1] in (b"\x80", b"\xff"):
        raise Unusual("a tar number in base 256")
    try:
        return int(field.strip(b"\0 ") or b"0", 8)
    except ValueError:
        raise Unusual(f"a tar number that is not one: {field!r}") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _padded(size: int) -> int:
    return (size + 511) & ~511


def _pax_records(data: bytes) -> dict[str, str]:
    records, pos = {}, 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise Unusual("a pax header that is not one") from None
        record = data[space + 1 : pos + length - 1]  # without the newline
        key, _, value = record.partition(b"=")
        if length <= 0 or data[pos + length - 1 : pos + length] != b"\n":
            raise Unusual("a pax header that is not one")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


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


def _write(blocks: _Blocks, member: _Member, path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    fd = os.open(path, _FLAGS, 0o600)
    try:
        for piece in blocks.pieces(member.size):
            digest.update(piece)
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
        os.fchmod(fd, member.mode)
        os.utime(fd, (member.mtime, member.mtime))
    finally:
        os.close(fd)
    blocks.take(_padded(member.size) - member.size)
    return member.size, digest.hexdigest()
