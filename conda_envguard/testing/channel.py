"""Build real conda packages and a local conda channel from Python, offline and fast.

Stdlib only: the benchmarks import this outside pytest, and nothing here may import conda.

A package is a `.tar.bz2` holding `info/index.json`, `info/paths.json`, `info/files` and its
payload; a channel is a directory with `noarch/repodata.json` and `linux-64/repodata.json`.
That is all conda needs to solve, download, extract and link, so the suite never needs the
internet. A fake `python` package (no interpreter, just `lib/python3.11/site-packages/`) makes
conda's pip interop look at that directory, and `add_pip_package` puts a pip-installed
distribution there.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import platform
import sys
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BINARY_PLACEHOLDER",
    "PLATFORM_SUBDIR",
    "PREFIX_PLACEHOLDER",
    "PYTHON_VERSION",
    "SITE_PACKAGES",
    "Pkg",
    "add_pip_package",
    "build_channel",
    "build_package",
    "channel_url",
    "fake_pip",
    "fake_python",
    "native_subdir",
    "write_repodata",
]


def native_subdir() -> str:
    """conda's name for this machine's platform subdir (`linux-64`, `osx-arm64`, ...)."""
    system = {"linux": "linux", "darwin": "osx", "win32": "win"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return f"{system}-64"
    if machine in ("aarch64", "arm64"):
        return f"{system}-{'arm64' if system in ('osx', 'win') else 'aarch64'}"
    return f"{system}-{machine}"


# The platform subdir conda reads next to noarch: platform packages (python) go there.
PLATFORM_SUBDIR = native_subdir()
PYTHON_VERSION = "3.11.0"
# conda derives the site-packages dir from the python record's version (major.minor).
SITE_PACKAGES = "lib/python3.11/site-packages"

# A fixed mtime keeps archives byte-identical between builds (same md5, same cache entries).
_MTIME = 1_700_000_000
_TIMESTAMP_MS = _MTIME * 1000
# conda-build's placeholder for the build prefix in a package's text files
PREFIX_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
# conda-build's long placeholder for binary files: conda pads the new prefix with NULs to its
# length, so it must be longer than any prefix the package is linked into
BINARY_PLACEHOLDER = "/opt/" + "placehold_" * 24


@dataclass
class Pkg:
    """A conda package to build: its metadata and payload.

    `files` maps paths relative to the prefix to their content (files under `bin/` are
    executable); `n_files` adds that many small distinct files under `share/<name>/` for
    big-env tests and benchmarks. The kinds of file conda treats apart: `symlinks` (path ->
    link target), `no_link` (paths conda must copy, not link) and `prefix_files` (path ->
    content holding PREFIX_PLACEHOLDER, which conda replaces with the env's path;
    `binary_prefix_files` the same with BINARY_PLACEHOLDER, replaced in binary mode).
    The kinds conda's own test packages (tests/data/test-recipes) exercise: a `post_link`
    script (`bin/.<name>-post-link.sh`, run by conda after linking), `prelink_messages`
    (info/prelink_messages/<file>, shown by conda before linking), and `link_json`, the
    info/link.json conda-build writes for noarch generic packages; `entry_points` ("cmd =
    module:function") make it the info/link.json of a noarch python package (set
    `extra_index={"noarch": "python"}` and put its files under `site-packages/`).
    """

    name: str
    version: str
    build: str = "0"
    depends: tuple[str, ...] | list[str] = ()
    files: dict[str, bytes] | None = None
    n_files: int = 0
    subdir: str = "noarch"
    build_number: int = 0
    extra_index: dict[str, object] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    no_link: tuple[str, ...] = ()
    prefix_files: dict[str, bytes] = field(default_factory=dict)
    binary_prefix_files: dict[str, bytes] = field(default_factory=dict)
    post_link: bytes | None = None
    prelink_messages: dict[str, bytes] = field(default_factory=dict)
    link_json: bool = False
    entry_points: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}.tar.bz2"

    def payload(self) -> dict[str, bytes]:
        """Every payload file, path relative to the prefix -> content."""
        files: dict[str, bytes] = {}
        if self.files is not None:
            files.update(self.files)
        else:
            # Every package owns at least one file, so linking and removing it is visible.
            files[f"share/{self.name}/{self.name}.txt"] = (
                f"{self.name} {self.version} {self.build}\n".encode()
            )
        if self.post_link is not None:
            files[f"bin/.{self.name}-post-link.sh"] = self.post_link
        for i in range(1, self.n_files + 1):
            files[f"share/{self.name}/f{i:05d}.txt"] = (
                f"{self.name} {self.version} file {i}\n".encode()
            )
        return files

    def index(self) -> dict[str, object]:
        index: dict[str, object] = {
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "build_number": self.build_number,
            "depends": list(self.depends),
            "license": "BSD-3-Clause",
            "subdir": self.subdir,
            "timestamp": _TIMESTAMP_MS,
        }
        if self.subdir == "noarch":
            index["noarch"] = "generic"
        index.update(self.extra_index)
        return index


def fake_python(version: str = PYTHON_VERSION) -> Pkg:
    """A `python` package without an interpreter, only its site-packages directory.

    conda's pip interop (`PrefixData(prefix, interoperability=True)`, which was
    `pip_interop_enabled=` before conda 26.7; `conda list`; `conda env export`) looks for
    pip-installed distributions in the site-packages of the env's `python` record; this is
    the least that makes it look. A placeholder file makes conda create the
    directory, since packages cannot hold empty directories.
    """
    major_minor = ".".join(version.split(".")[:2])
    return Pkg(
        "python",
        version,
        subdir=PLATFORM_SUBDIR,
        files={
            f"lib/python{major_minor}/site-packages/README.txt": (
                b"site-packages of the test suite's fake python\n"
            ),
        },
    )


def fake_pip() -> Pkg:
    """A `pip` package without pip in it.

    conda's default `add_pip_as_python_dependency: true` makes every `python` depend on `pip`,
    so a channel with `python` must also have `pip`, as a real one does. The test suite keeps
    that default rather than configure conda away from what users run.
    """
    return Pkg("pip", "24.0", depends=("python >=3.8",))


def _add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = _MTIME
    info.mode = 0o755 if name.startswith("bin/") else 0o644
    tar.addfile(info, io.BytesIO(data))


def build_package(pkg: Pkg, channel_dir: str | Path) -> dict[str, object]:
    """Write `pkg` as `<channel_dir>/<subdir>/<filename>` and return its repodata entry."""
    payload = {**pkg.payload(), **pkg.prefix_files, **pkg.binary_prefix_files}
    paths: list[dict[str, object]] = []
    for path, data in sorted(payload.items()):
        entry: dict[str, object] = {"_path": path, "path_type": "hardlink"}
        if path in pkg.prefix_files:
            entry.update(prefix_placeholder=PREFIX_PLACEHOLDER, file_mode="text")
        if path in pkg.binary_prefix_files:
            entry.update(prefix_placeholder=BINARY_PLACEHOLDER, file_mode="binary")
        if path in pkg.no_link:
            entry["no_link"] = True
        entry.update(sha256=hashlib.sha256(data).hexdigest(), size_in_bytes=len(data))
        paths.append(entry)
    paths += [{"_path": path, "path_type": "softlink"} for path in sorted(pkg.symlinks)]
    paths.sort(key=lambda entry: str(entry["_path"]))
    index = pkg.index()
    info = {
        "info/index.json": json.dumps(index, indent=2, sort_keys=True).encode(),
        "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}).encode(),
        "info/files": "".join(f"{p['_path']}\n" for p in paths).encode(),
    }
    if pkg.prefix_files or pkg.binary_prefix_files:
        info["info/has_prefix"] = "".join(
            [f"{PREFIX_PLACEHOLDER} text {path}\n" for path in sorted(pkg.prefix_files)]
            + [f"{BINARY_PLACEHOLDER} binary {p}\n" for p in sorted(pkg.binary_prefix_files)]
        ).encode()
    for name, message in sorted(pkg.prelink_messages.items()):
        info[f"info/prelink_messages/{name}"] = message
    if pkg.link_json or pkg.entry_points:
        noarch: dict[str, object] = {"type": str(index.get("noarch") or "generic")}
        if pkg.entry_points:
            noarch["entry_points"] = list(pkg.entry_points)
        link = {"noarch": noarch, "package_metadata_version": 1}
        info["info/link.json"] = json.dumps(link, indent=2).encode()
    if pkg.no_link:
        info["info/no_link"] = "".join(f"{path}\n" for path in sorted(pkg.no_link)).encode()

    # In memory, bz2 level 1: the time goes to per-file overhead, not compression.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2", compresslevel=1) as tar:
        for name, data in info.items():
            _add_file(tar, name, data)
        for name, data in sorted(payload.items()):
            _add_file(tar, name, data)
        for name, link_target in sorted(pkg.symlinks.items()):
            link = tarfile.TarInfo(name)
            link.type, link.linkname, link.mtime = tarfile.SYMTYPE, link_target, _MTIME
            tar.addfile(link)
    archive = buffer.getvalue()

    target = Path(channel_dir) / pkg.subdir / pkg.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(archive)

    entry = dict(index)
    entry.update(
        md5=hashlib.md5(archive).hexdigest(),
        sha256=hashlib.sha256(archive).hexdigest(),
        size=len(archive),
    )
    return entry


def build_channel(
    channel_dir: str | Path, pkgs: Iterable[Pkg], subdirs: Iterable[str] = ()
) -> Path:
    """Build `pkgs` into a channel at `channel_dir` and write its repodata; return the dir.

    `noarch/` and the platform subdir (`linux-64/` here) always get a `repodata.json`: conda
    reads both and wants each to exist, even empty. Other subdirs only when named or used.
    """
    channel = Path(channel_dir)
    channel.mkdir(parents=True, exist_ok=True)
    repodata: dict[str, dict[str, object]] = {
        subdir: {} for subdir in ("noarch", PLATFORM_SUBDIR, *subdirs)
    }
    for pkg in pkgs:
        repodata.setdefault(pkg.subdir, {})[pkg.filename] = build_package(pkg, channel)
    for subdir, packages in repodata.items():
        write_repodata(channel, subdir, packages)
    return channel


def write_repodata(channel_dir: str | Path, subdir: str, packages: Mapping[str, object]) -> Path:
    """Write `<channel_dir>/<subdir>/repodata.json` listing `packages` (filename -> entry)."""
    path = Path(channel_dir) / subdir / "repodata.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    repodata = {
        "info": {"subdir": subdir},
        "packages": dict(packages),
        "packages.conda": {},
        "removed": [],
        "repodata_version": 1,
    }
    path.write_text(json.dumps(repodata, indent=1, sort_keys=True), encoding="utf-8")
    return path


def channel_url(channel_dir: str | Path) -> str:
    """The `file://` URL conda takes for a local channel directory."""
    return Path(channel_dir).resolve().as_uri()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def add_pip_package(
    prefix: str | Path,
    name: str,
    version: str,
    site_packages: str = SITE_PACKAGES,
) -> Path:
    """Install a minimal distribution into an env's site-packages as pip would record it.

    Writes a module `<name>/__init__.py` and `<name>-<version>.dist-info/` with METADATA,
    INSTALLER ("pip") and a RECORD of every file: conda then lists it from channel `pypi`
    (build `pypi_0`) and `conda env export` puts it under `pip:`. Returns the dist-info dir.
    The env needs a `python` record (see `fake_python`) for conda to look at all.
    """
    sp = Path(prefix) / site_packages
    module = name.replace("-", "_").replace(".", "_").lower()
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Summary: {name}, installed by the test suite as pip would\n"
        ).encode(),
        f"{dist_info}/INSTALLER": b"pip\n",
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: conda-envguard tests\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    for rel, data in files.items():
        target = sp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    record_lines = [f"{rel},{_record_hash(data)},{len(data)}" for rel, data in files.items()]
    record_lines.append(f"{dist_info}/RECORD,,")
    (sp / dist_info / "RECORD").write_text("\n".join(record_lines) + "\n", encoding="utf-8")
    return sp / dist_info
