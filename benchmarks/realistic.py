"""A realistic env to move: sized like a real ML env, in `.conda` packages, with data that
compresses as real files do.

Real envs (PyTorch, CUDA libraries) hold a few shared libraries of 100+ MB, some of a few MB,
and tens of thousands of small Python files; nearly every conda-forge package is a `.conda`
(zstd). All-zero or repeated data would make compression free, so each file here is made of
blocks of random bytes (like machine code: hardly compressible) and of text (like Python
sources and symbol tables: compresses several times) drawn from a pool at a random place; in
large files with one of several byte substitutions, so no compressor finds a block again.

Everything is written as a stream, one file at a time: building a GB env takes little memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conda_envguard.testing.channel import PREFIX_PLACEHOLDER, write_repodata

_MTIME = 1_700_000_000
_BLOCK = 64 << 10
_POOL_SIZE = 8 << 20
_TABLES = 16


@dataclass(frozen=True)
class Shape:
    """How big the realistic env is: file sizes in bytes."""

    huge: tuple[int, ...]  # the few very large shared libraries, one package
    mid_pkgs: int  # packages of medium files (other libraries, data)
    mid_files: int  # ... files each
    mid_size: int
    small_pkgs: int  # packages of small files (Python sources)
    small_files: int  # ... files each, of 200 B to 8 KB
    scripts: int  # text files naming the env's prefix (entry points): conda rewrites them

    @property
    def files(self) -> int:
        return (
            len(self.huge)
            + self.mid_pkgs * self.mid_files
            + self.small_pkgs * self.small_files
            + self.scripts
        )

    @property
    def approx_bytes(self) -> int:
        small = self.small_pkgs * self.small_files * 4100
        return sum(self.huge) + self.mid_pkgs * self.mid_files * self.mid_size + small


class _Data:
    """Deterministic file contents that compress like real binaries and sources."""

    def __init__(self, seed: int = 5):
        rnd = random.Random(seed)
        words = [
            bytes(rnd.choices(b"abcdefghijklmnopqrstuvwxyz_", k=rnd.randint(2, 12)))
            for _ in range(800)
        ]
        punct = [b" ", b" ", b" ", b"\n", b"(", b"): ", b".", b", ", b"    ", b" = "]
        parts = []
        size = 0
        while size < _POOL_SIZE:
            word, sep = rnd.choice(words), rnd.choice(punct)
            parts.append(word + sep)
            size += len(word) + len(sep)
        self.pool = b"".join(parts)
        self.tables = []
        for _ in range(_TABLES):
            perm = list(range(256))
            rnd.shuffle(perm)
            self.tables.append(bytes(perm))

    def text(self, rnd: random.Random, n: int) -> bytes:
        start = rnd.randrange(len(self.pool) - n)
        return self.pool[start : start + n]

    def binary(self, rnd: random.Random, n: int) -> Iterator[bytes]:
        """`n` bytes, a block at a time: 1/4 random, 3/4 text."""
        while n > 0:
            block = min(n, _BLOCK)
            noise = block // 4
            yield rnd.randbytes(noise) + self.text(rnd, block - noise).translate(
                rnd.choice(self.tables)
            )
            n -= block


class _Reader(io.RawIOBase):
    """A file's content from its blocks, summed as tarfile reads it."""

    def __init__(self, blocks: Iterator[bytes]):
        self.blocks, self.rest, self.sha256 = blocks, b"", hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.rest:
            try:
                self.rest = next(self.blocks)
            except StopIteration:
                return 0
            self.sha256.update(self.rest)
        n = min(len(buffer), len(self.rest))
        buffer[:n] = self.rest[:n]
        self.rest = self.rest[n:]
        return n


def _packages(shape: Shape) -> Iterator[tuple[str, list[tuple[str, int, str]]]]:
    """(package name, [(path, size, kind)]) with kind "binary", "text" or "script"."""
    yield (
        "bench-libhuge",
        [(f"lib/libhuge{i}.so", size, "binary") for i, size in enumerate(shape.huge)],
    )
    for p in range(shape.mid_pkgs):
        yield (
            f"bench-libmid{p:02d}",
            [
                (f"lib/mid{p:02d}/libpart{i:03d}.so", shape.mid_size, "binary")
                for i in range(shape.mid_files)
            ],
        )
    rnd = random.Random(11)
    for p in range(shape.small_pkgs):
        yield (
            f"bench-py{p:02d}",
            [
                (
                    f"lib/python3.12/site-packages/pkg{p:02d}/mod{i:05d}.py",
                    rnd.randint(200, 8000),
                    "text",
                )
                for i in range(shape.small_files)
            ],
        )
    yield "bench-scripts", [(f"bin/tool{i:04d}", 300, "script") for i in range(shape.scripts)]


def build(channel: Path, shape: Shape, level: int = 10) -> list[str]:
    """Write the realistic packages as `.conda` files into `channel` (noarch) with their
    repodata; return their names."""
    data = _Data()
    subdir = channel / "noarch"
    subdir.mkdir(parents=True, exist_ok=True)
    entries, names = {}, []
    for seed, (name, files) in enumerate(_packages(shape)):
        fn, entry = _build_one(subdir, name, files, data, random.Random(seed), level)
        entries[fn] = entry
        names.append(name)
    write_repodata(channel, "noarch", {})
    index = json.loads((subdir / "repodata.json").read_text())
    index["packages.conda"] = entries
    (subdir / "repodata.json").write_text(json.dumps(index))
    from conda_envguard.testing.channel import PLATFORM_SUBDIR

    write_repodata(channel, PLATFORM_SUBDIR, {})
    return names


def _add(tar: tarfile.TarFile, path: str, size: int, kind: str, data: _Data, rnd) -> dict:
    """Stream one file into the package's tar; return its info/paths.json entry."""
    info = tarfile.TarInfo(path)
    info.mtime, info.mode = _MTIME, 0o755 if kind == "script" else 0o644
    if kind == "binary":
        reader, info.size = _Reader(data.binary(rnd, size)), size
    else:
        content = data.text(rnd, size)
        if kind == "script":
            content = f"#!{PREFIX_PLACEHOLDER}/bin/python\n".encode() + content
        reader, info.size = _Reader(iter([content])), len(content)
    tar.addfile(info, io.BufferedReader(reader, 1 << 20))
    entry = {"_path": path, "path_type": "hardlink", "size_in_bytes": info.size}
    entry["sha256"] = reader.sha256.hexdigest()
    if kind == "script":
        entry.update(prefix_placeholder=PREFIX_PLACEHOLDER, file_mode="text")
    return entry


def _build_one(subdir: Path, name: str, files, data: _Data, rnd: random.Random, level: int):
    try:
        from compression import zstd  # Python 3.14+
    except ImportError:
        from backports import zstd  # what conda's package streaming uses before 3.14

    param = zstd.CompressionParameter
    options = {param.compression_level: level, param.nb_workers: 2}
    stem = f"{name}-1.0-0"
    index = {
        "name": name, "version": "1.0", "build": "0", "build_number": 0, "depends": [],
        "license": "BSD-3-Clause", "subdir": "noarch", "noarch": "generic",
        "timestamp": _MTIME * 1000,
    }  # fmt: skip
    out = subdir / f"{stem}.conda"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        with (
            zf.open(f"pkg-{stem}.tar.zst", "w", force_zip64=True) as raw,
            zstd.ZstdFile(raw, "w", options=options) as zst,
            tarfile.open(fileobj=zst, mode="w|") as tar,
        ):
            paths = [_add(tar, path, size, kind, data, rnd) for path, size, kind in files]
        info_files = {
            "info/index.json": json.dumps(index, indent=2, sort_keys=True).encode(),
            "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}).encode(),
            "info/files": "".join(f"{p['_path']}\n" for p in paths).encode(),
        }
        scripts = [p["_path"] for p in paths if "prefix_placeholder" in p]
        if scripts:
            info_files["info/has_prefix"] = "".join(
                f"{PREFIX_PLACEHOLDER} text {p}\n" for p in scripts
            ).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path, content in info_files.items():
                info = tarfile.TarInfo(path)
                info.size, info.mtime = len(content), _MTIME
                tar.addfile(info, io.BytesIO(content))
        zf.writestr(
            f"info-{stem}.tar.zst",
            zstd.compress(buffer.getvalue(), level),
        )
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(out, "rb") as f:
        while block := f.read(1 << 20):
            md5.update(block)
            sha256.update(block)
    entry = {
        **index,
        "md5": md5.hexdigest(),
        "sha256": sha256.hexdigest(),
        "size": out.stat().st_size,
    }
    return out.name, entry
