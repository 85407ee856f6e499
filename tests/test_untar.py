"""envguard's own package extractor (`untar`, through `compat.extract_package`): the same
tree as conda's extractor, every file summed as written, and nothing written outside the
folder, whatever the archive holds. Archives are made here member by member (a hostile
bundle's packages can hold anything a tar can)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from conda_package_handling.exceptions import InvalidArchiveError
from conda_package_streaming import package_streaming

from conda_envguard.compat import extract_package
from conda_envguard.untar import Extracted, UnsafePath

# what conda's extractors raise for an archive they refuse
REFUSED = (UnsafePath, tarfile.TarError, OSError, KeyError, InvalidArchiveError)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="untar runs on POSIX only")

MTIME = 1_600_000_000
zstd = getattr(package_streaming, "zstd", None)  # None before conda_package_streaming 0.12


def member(kind: str, name: str, data: bytes = b"", mode: int = 0o644, link: str = ""):
    info = tarfile.TarInfo(name)
    info.mtime, info.mode = MTIME, mode
    info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                 "hard": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]  # fmt: skip
    info.linkname, info.size = link, len(data) if kind == "file" else 0
    return info, (io.BytesIO(data) if kind == "file" else None)


def tar_bytes(members, form=tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=form) as tar:
        for info, data in members:
            tar.addfile(info, data)
    return buffer.getvalue()


def info_members(paths: list[dict]) -> list:
    index = {"name": "pkg", "version": "1", "build": "0", "build_number": 0, "subdir": "noarch"}
    return [
        member("file", "info/index.json", json.dumps(index).encode()),
        member("file", "info/paths.json", json.dumps({"paths": paths}).encode()),
    ]


def tar_bz2(tmp_path: Path, members, form=tarfile.PAX_FORMAT) -> Path:
    import bz2

    out = tmp_path / "pkg-1-0.tar.bz2"
    out.write_bytes(bz2.compress(tar_bytes(members, form)))
    return out


def dot_conda(tmp_path: Path, pkg_members, info: list) -> Path:
    out = tmp_path / "pkg-1-0.conda"
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr("pkg-pkg-1-0.tar.zst", zstd.compress(tar_bytes(pkg_members)))
        zf.writestr("info-pkg-1-0.tar.zst", zstd.compress(tar_bytes(info)))
    return out


def conda_extracts(archive: Path, dest: Path) -> None:
    from conda_package_handling.api import extract

    extract(str(archive), dest_dir=str(dest))


def tree(root: Path) -> dict:
    """Everything a user could see of an extracted package, by path."""
    seen = {}
    for path in sorted(root.rglob("*")):
        rel, st = path.relative_to(root).as_posix(), path.lstat()
        if path.is_symlink():
            seen[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            # a folder the archive lists keeps its time; one made for a file has the time now
            seen[rel] = ("dir", oct(st.st_mode & 0o7777), int(st.st_mtime) == MTIME)
        elif not path.is_file():  # a fifo, say: never opened
            seen[rel] = ("other", oct(st.st_mode))
        else:
            seen[rel] = ("file", path.read_bytes(), oct(st.st_mode & 0o7777),
                         int(st.st_mtime), st.st_nlink)  # fmt: skip
    return seen


def payload() -> list:
    big = os.urandom(3 << 20)  # more than one read block
    return [
        member("dir", "lib", mode=0o750),
        member("file", "lib/libbig.so", big, mode=0o755),
        member("file", "lib/python3.11/site-packages/pkg/__init__.py", b"x = 1\n"),
        member("file", "bin/tool", b"#!/bin/sh\necho hi\n", mode=0o755),
        member("file", "share/empty.txt", b""),
        member("file", "share/" + "long-folder-name/" * 8 + "and-a-long-file-name.txt", b"l"),
        member("file", "share/naïve-ünïcode.txt", b"u"),
        member("sym", "share/far", link="../" + "long-folder-name/" * 8 + "x"),
        member("sym", "lib/libbig.so.1", link="libbig.so"),
        member("sym", "etc/outside", link="/etc/hostname"),  # a link may point anywhere
        member("hard", "bin/tool-again", link="bin/tool", mode=0o755),
    ]


@pytest.mark.parametrize("kind", ["tar.bz2", "conda", "gnu-tar.bz2", "ustar-tar.bz2"])
def test_the_same_tree_as_condas_extractor_each_file_summed_as_written(tmp_path, kind):
    members = payload()
    if kind == "conda" and not hasattr(zstd, "open"):
        pytest.skip("this conda's package streaming extracts .conda with zstandard, as conda does")
    if kind == "conda":
        archive = dot_conda(tmp_path, members, info_members([]))
    else:
        forms = {"": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}
        form = forms[kind[: -len("tar.bz2")].rstrip("-")]
        if form == tarfile.USTAR_FORMAT:  # no pax headers: ASCII, links up to 100 bytes
            members = [m for m in members if "ï" not in m[0].name and len(m[0].linkname) <= 100]
        archive = tar_bz2(tmp_path, info_members([]) + members, form)
    extracted = Extracted()

    extract_package(str(archive), str(tmp_path / "ours"), extracted)
    conda_extracts(archive, tmp_path / "condas")

    assert tree(tmp_path / "ours") == tree(tmp_path / "condas")
    assert extracted.exact
    files = {
        info.name: (len(data.getvalue()), hashlib.sha256(data.getvalue()).hexdigest())
        for info, data in members + info_members([])
        if data is not None
    }
    files["bin/tool-again"] = files["bin/tool"]
    assert extracted.files == files
    assert extracted.links == {m[0].name for m in members if m[0].type == tarfile.SYMTYPE}


@pytest.mark.parametrize(
    "unusual",
    [
        [member("file", "a.txt", b"one"), member("file", "a.txt", b"two")],  # twice
        [member("file", "d/../a.txt", b"one")],  # resolved by the file system, not by name
        [member("fifo", "a-fifo")],
        [member("file", "f", b"x"), member("hard", "g", link="not/in/it")],
    ],
    ids=["twice", "dot-dot", "fifo", "hard-link-elsewhere"],
)
def test_what_it_does_not_handle_is_extracted_by_condas_extractor(tmp_path, unusual):
    archive = tar_bz2(tmp_path, [*info_members([]), member("file", "keep.txt", b"k"), *unusual])
    extracted = Extracted()

    try:
        extract_package(str(archive), str(tmp_path / "ours"), extracted)
    except REFUSED:
        with pytest.raises(REFUSED):  # conda's extractor refuses it too
            conda_extracts(archive, tmp_path / "condas")
        return
    conda_extracts(archive, tmp_path / "condas")
    assert tree(tmp_path / "ours") == tree(tmp_path / "condas")
    assert not extracted.exact  # the check reads back what it cannot vouch for


@pytest.mark.parametrize(
    "hostile",
    [
        [member("file", "/tmp/escaped", b"pwned")],
        [member("file", "../escaped", b"pwned")],
        [member("sym", "out", link="OUTSIDE"), member("file", "out/escaped", b"pwned")],
        [member("sym", "x", link="OUTSIDE/escaped"), member("file", "x", b"pwned")],
        [member("sym", "out", link="OUTSIDE"), member("hard", "out/escaped", link="keep.txt")],
    ],
    ids=["absolute", "parent", "through-a-symlinked-folder", "through-a-link", "hard-link"],
)
def test_nothing_is_ever_written_outside_the_folder(tmp_path, hostile):
    outside = tmp_path / "outside"
    outside.mkdir()
    for info, _ in hostile:
        info.linkname = info.linkname.replace("OUTSIDE", str(outside))
    archive = tar_bz2(tmp_path, [member("file", "keep.txt", b"k"), *hostile])

    with pytest.raises(REFUSED):
        extract_package(str(archive), str(tmp_path / "work" / "ours"), Extracted())

    assert list(outside.iterdir()) == []
    assert not (tmp_path / "work" / "escaped").exists()


def test_a_package_whose_file_differs_from_its_paths_json_is_refused(tmp_path):
    from conda_envguard.pkgkeep import LockEntry, unpack_checked

    said = {"_path": "a.txt", "path_type": "hardlink", "size_in_bytes": 3,
            "sha256": hashlib.sha256(b"one").hexdigest()}  # fmt: skip
    listed_link = {"_path": "l", "path_type": "softlink"}
    cases = {
        "content": ([member("file", "a.txt", b"two")], [said]),
        "missing": ([], [said]),
        "link as a file": (
            [member("file", "a.txt", b"one"), member("file", "l", b"")],
            [said, listed_link],
        ),
    }
    for why, (members, paths) in cases.items():
        archive = tar_bz2(tmp_path, info_members(paths) + members)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        entry = LockEntry(f"https://c.example/noarch/{archive.name}", archive.name, digest)
        dest = tmp_path / "dest"

        refused = unpack_checked(entry, archive, dest)

        assert refused and "paths.json" in refused, why
        assert not dest.exists(), why
    archive = tar_bz2(tmp_path, [*info_members([said]), member("file", "a.txt", b"one")])
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    entry = LockEntry(f"https://c.example/noarch/{archive.name}", archive.name, digest)
    assert unpack_checked(entry, archive, tmp_path / "dest") is None
