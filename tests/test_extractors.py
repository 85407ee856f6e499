"""Extracting in a helper process (`extractors`): what the helper writes and reports is what
this process would, its errors read the same, and this process takes over when it stops.
Where the helper must be the one extracting, extracting in this process fails loudly."""

from __future__ import annotations

import bz2
import errno
import io
import json
import os
import signal
import tarfile
from pathlib import Path

import pytest

import conda_envguard.compat
from conda_envguard.compat import extract_package
from conda_envguard.extractors import ExtractionFailed, Extractors
from conda_envguard.untar import Extracted

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the helper runs on POSIX only")


def package(tmp_path: Path, files: dict[str, bytes], links: dict[str, str]) -> Path:
    """A .tar.bz2 package of `files` and symlinks `links`, with its info/paths.json."""
    paths = [
        {"_path": p, "path_type": "hardlink", "size_in_bytes": len(d)} for p, d in files.items()
    ]
    paths += [{"_path": p, "path_type": "softlink"} for p in links]
    index = {"name": "pkg", "version": "1", "build": "0", "subdir": "noarch"}
    members = {**files, "info/index.json": json.dumps(index).encode()}
    members["info/paths.json"] = json.dumps({"paths": paths, "paths_version": 1}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    out = tmp_path / "pkg-1-0.tar.bz2"
    out.write_bytes(bz2.compress(buffer.getvalue()))
    return out


def seen(root: Path) -> dict:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            out[path.relative_to(root).as_posix()] = ("link", os.readlink(path))
        elif path.is_file():
            out[path.relative_to(root).as_posix()] = (path.read_bytes(), st.st_mode, st.st_mtime)
    return out


@pytest.fixture
def only_the_helper(monkeypatch):
    """Extracting in this process fails: what gets extracted, the helper extracted."""

    def here(*_):
        raise AssertionError("extracted in this process")

    monkeypatch.setattr(conda_envguard.compat, "extract_package", here)


def test_the_helper_writes_and_reports_what_this_process_would(tmp_path, only_the_helper):
    archive = package(
        tmp_path,
        {"lib/libx.so": os.urandom(3 << 20), "bin/tool": b"#!/bin/sh\n", "share/a/b.txt": b"b"},
        {"lib/libx.so.1": "libx.so"},
    )
    here = Extracted()
    extract_package(str(archive), str(tmp_path / "here"), here)  # (this module's own name)
    there = Extracted()
    with Extractors(2) as extractors:
        assert extractors.workers == 2
        extractors.extract(str(archive), str(tmp_path / "there"), there)

    assert (there.files, there.links, there.exact) == (here.files, here.links, here.exact)
    assert seen(tmp_path / "there") == seen(tmp_path / "here")


def test_the_helpers_errors_read_as_this_processs(tmp_path, only_the_helper):
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    absolute = package(hostile, {"/etc/evil": b"x"}, {})
    existing = tmp_path / "existing"
    existing.mkdir()
    good = package(tmp_path, {"share/a.txt": b"a"}, {})

    # (each Extractors' first extraction is the helper's)
    unsafe = "contains unsafe path: /etc/evil"
    with Extractors(2) as extractors, pytest.raises(ExtractionFailed, match=unsafe):
        extractors.extract(str(absolute), str(tmp_path / "out"), Extracted())
    with Extractors(2) as extractors, pytest.raises(OSError) as exists:
        extractors.extract(str(good), str(existing), Extracted())

    assert exists.value.errno == errno.EEXIST  # an error of the disk stays one


def test_this_process_takes_over_when_the_helper_stops(tmp_path):
    archive = package(tmp_path, {"share/a.txt": b"a", "share/b.txt": b"b"}, {})
    with Extractors(2) as extractors:
        extractors._helper.process.kill()
        first, second = Extracted(), Extracted()
        extractors.extract(str(archive), str(tmp_path / "first"), first)
        extractors.extract(str(archive), str(tmp_path / "second"), second)

    assert sorted(first.files) == sorted(second.files)
    assert {"share/a.txt", "share/b.txt"} <= set(first.files)
    assert (tmp_path / "first" / "share" / "a.txt").read_bytes() == b"a"
    assert (tmp_path / "second" / "share" / "b.txt").read_bytes() == b"b"


def test_one_package_needs_no_helper():
    with Extractors(1) as extractors:
        assert extractors.workers == 1


def test_the_working_folder_cannot_shadow_the_helpers_modules(
    tmp_path, monkeypatch, only_the_helper
):
    """`python -m` puts the working folder first on the path: a cloned repository's json.py
    would run in the helper."""
    package(tmp_path, {"share/a.txt": b"a"}, {})
    cwd = tmp_path / "cloned-repository"
    cwd.mkdir()
    (cwd / "json.py").write_text("raise SystemExit('shadowed')\n")
    monkeypatch.chdir(cwd)

    with Extractors(2) as extractors:
        extractors.extract("../pkg-1-0.tar.bz2", "../out", Extracted())

    assert (tmp_path / "out" / "share" / "a.txt").read_bytes() == b"a"


def test_ctrl_c_leaves_the_helper_to_finish_what_it_was_given(tmp_path, monkeypatch):
    archive = package(tmp_path, {"share/a.txt": b"a"}, {})
    with Extractors(2) as extractors:
        extractors.extract(str(archive), str(tmp_path / "first"), Extracted())  # the helper's
        os.kill(extractors._helper.process.pid, signal.SIGINT)  # as Ctrl-C reaches it too
        extractors.extract(str(archive), str(tmp_path / "second"), Extracted())  # this one's

        def here(*_):
            raise AssertionError("extracted in this process")

        monkeypatch.setattr(conda_envguard.compat, "extract_package", here)
        extractors.extract(str(archive), str(tmp_path / "third"), Extracted())

    assert (tmp_path / "third" / "share" / "a.txt").read_bytes() == b"a"
