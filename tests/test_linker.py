"""A restore links the lock's plain packages itself: the env must be what conda makes.

Each test rebuilds one env twice from the same lock, with envguard's restore and with plain
conda (`conda create --file LOCK --no-plugins`), and compares files and conda-meta records.
The packages cover every kind of file conda treats apart, so the ones envguard must leave to
conda's transaction are there too.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest
from envguard_testsupport.checks import conda_list, ok, remove, snapshots_of, tree

from conda_envguard.testing.channel import (
    PREFIX_PLACEHOLDER,
    Pkg,
    build_channel,
    channel_url,
    fake_pip,
    fake_python,
)

pytestmark = pytest.mark.usefixtures("no_background_expiry")

POST_LINK = b'#!/bin/sh\necho "$PKG_NAME linked" > "$PREFIX/share/post-link-ran.txt"\n'

# (package, linked by envguard itself) or else left to conda's transaction
KINDS = [
    (Pkg("plain", "1.0", n_files=40), True),
    (Pkg("tool", "1.0", files={"bin/tool": b"#!/bin/sh\necho tool\n"}), True),
    (
        Pkg(
            "symlinked",
            "1.0",
            files={"lib/libsym.so.1": b"not really a library\n"},
            symlinks={"lib/libsym.so": "libsym.so.1"},
        ),
        True,
    ),
    (
        Pkg("copied", "1.0", files={"etc/copied.conf": b"copy\n"}, no_link=("etc/copied.conf",)),
        True,
    ),
    (
        Pkg(
            "prefixed",
            "1.0",
            prefix_files={"bin/prefixed": f"#!/bin/sh\necho {PREFIX_PLACEHOLDER}\n".encode()},
        ),
        False,
    ),
    (Pkg("scripted", "1.0", post_link=POST_LINK), False),
    # the kinds of conda's own test packages (tests/data/test-recipes): activation scripts,
    # pre-link messages, a noarch generic package with its info/link.json, and two packages
    # shipping one file in bin/ (clobber-a, clobber-b). noarch python with entry points is left
    # out: conda compiles its modules and writes its entry points with the env's real python,
    # and the suite's python package has no interpreter.
    (
        Pkg(
            "activating",
            "1.0",
            files={
                "etc/conda/activate.d/activating.sh": b"export ACTIVATING=1\n",
                "etc/conda/deactivate.d/activating.sh": b"unset ACTIVATING\n",
            },
        ),
        True,
    ),
    (Pkg("announcing", "1.0", prelink_messages={"message.txt": b"Spam spam spam\n"}), False),
    (Pkg("generic-linked", "1.0", link_json=True), False),
    (Pkg("clobber-a", "1.0", files={"bin/clobber-test-file": b"a\n"}), False),
    (Pkg("clobber-b", "1.0", files={"bin/clobber-test-file": b"b\n"}), False),
    # two plain ones sharing a file, and a plain one sharing a file with one that is not
    (Pkg("clash-a", "1.0", files={"share/clash.txt": b"a\n"}), False),
    (Pkg("clash-b", "1.0", files={"share/clash.txt": b"b\n"}), False),
    (Pkg("clash-c", "1.0", files={"share/clash-c.txt": b"c\n"}), False),
    (
        Pkg(
            "clash-d",
            "1.0",
            files={"share/clash-c.txt": b"d\n"},
            prefix_files={"share/clash-d.txt": f"{PREFIX_PLACEHOLDER}\n".encode()},
        ),
        False,
    ),
]
NAMES = [pkg.name for pkg, _ in KINDS]
# how conda is told to link: hard links where it can (the default), copies, soft links
LINK_SETTINGS = {
    "hardlink": {},
    "copy": {"CONDA_ALWAYS_COPY": "true"},
    "softlink": {"CONDA_ALWAYS_SOFTLINK": "true"},
}


@pytest.fixture(scope="module")
def kinds_channel(tmp_path_factory) -> tuple[str, str, str]:
    path = build_channel(tmp_path_factory.mktemp("kinds-channel"), [pkg for pkg, _ in KINDS])
    return ("--override-channels", "-c", channel_url(path))


def records(prefix: Path) -> dict[str, dict]:
    """The env's conda-meta records by file name, without what depends on the env's path."""
    out = {}
    for meta in (prefix / "conda-meta").glob("*.json"):
        record = json.loads(meta.read_text())
        for entry in record["paths_data"]["paths"]:
            if entry.get("prefix_placeholder"):
                entry.pop("sha256_in_prefix")  # the hash of a file holding the env's path
        out[meta.name] = record
    return out


def files(prefix: Path) -> dict[str, tuple]:
    """The env's files, with the env's path in their content made neutral."""
    out = tree(prefix, skip=("conda-meta",))
    for rel, entry in out.items():
        path = prefix / rel
        if entry[0] == "file" and str(prefix).encode() in path.read_bytes():
            out[rel] = (*entry[:2], path.read_bytes().replace(str(prefix).encode(), b"PREFIX"))
    return out


def lock_then_remove(conda_run, tmp_path, name: str) -> Path:
    """The env's lock as conda writes it; then the env removed and its trash emptied."""
    lock = tmp_path / f"{name}.txt"
    lock.write_text(ok(conda_run("list", "-n", name, "--explicit", "--sha256")).stdout)
    remove(conda_run, name, purge=True)
    return lock


@pytest.mark.parametrize("link", LINK_SETTINGS)
def test_a_restore_makes_the_env_conda_makes(link, kinds_channel, conda_run, conda_dirs, tmp_path):
    env = LINK_SETTINGS[link]
    ok(conda_run("create", "-n", "E", "-y", *kinds_channel, *NAMES, env=env))
    lock = lock_then_remove(conda_run, tmp_path, "E")

    restored = ok(conda_run("envguard", "restore", "E", "-y", env=env))
    ok(conda_run("--no-plugins", "create", "-n", "ref", "--file", lock, "-y", env=env))

    plain = sum(linked for _, linked in KINDS)
    assert f"Linking {plain} packages" in restored.stdout
    assert "It matches the snapshot exactly." in restored.stdout
    e, ref = conda_dirs.envs / "E", conda_dirs.envs / "ref"
    assert records(e) == records(ref)
    assert files(e) == files(ref)
    assert conda_list(conda_run, "E") == conda_list(conda_run, "ref")
    # one revision for the restore, after the env's own (kept from the snapshot)
    history = (e / "conda-meta" / "history").read_text()
    assert history.count("==> ") == 2
    restore = history.split("==> ")[-1].splitlines()
    added = {line.rsplit("::", 1)[-1] for line in restore if line.startswith("+")}
    assert added == {f"{name}-1.0-0" for name in NAMES}
    # conda takes out what envguard linked as if it had linked it itself
    ok(conda_run("remove", "-n", "E", "plain", "symlinked", "copied", "-y", env=env))
    ok(conda_run("--no-plugins", "remove", "-n", "ref", "plain", "symlinked", "copied", "-y"))
    assert files(e) == files(ref)


@pytest.mark.parametrize("damage", ["cut", "gone"])
def test_a_damaged_package_in_the_cache_is_left_to_conda(
    damage, kinds_channel, conda_run, conda_dirs, tmp_path
):
    ok(conda_run("create", "-n", "E", "-y", *kinds_channel, "plain", "tool"))
    lock_then_remove(conda_run, tmp_path, "E")
    damaged = conda_dirs.pkgs / "plain-1.0-0" / "share" / "plain" / "f00007.txt"
    if damage == "cut":
        damaged.write_bytes(b"cut")
    else:
        damaged.unlink()

    restored = conda_run("envguard", "restore", "E", "-y")

    assert "Linking 1 package (1 file)" in restored.stdout  # tool only
    # conda's own check of the package cache speaks up for the damaged one: a file of the
    # wrong size is a warning (conda's default `safety_checks: warn`), a missing one an error
    assert "appears to be corrupted" in restored.stdout + restored.stderr
    if damage == "gone":
        assert restored.returncode != 0
        assert not (conda_dirs.envs / "E").exists()  # nothing half-made left behind
        assert len(snapshots_of(conda_run, "E")) == 1
    else:
        assert restored.returncode == 0


def test_conda_decides_alone_when_a_policy_or_check_applies_to_every_package(
    kinds_channel, conda_run, conda_dirs, tmp_path
):
    ok(conda_run("create", "-n", "E", "-y", *kinds_channel, "plain", "tool"))
    lock_then_remove(conda_run, tmp_path, "E")

    refused = conda_run(
        "envguard", "restore", "E", "-y", env={"CONDA_DISALLOWED_PACKAGES": "tool"}
    )
    checked = ok(
        conda_run("envguard", "restore", "E", "-y", env={"CONDA_EXTRA_SAFETY_CHECKS": "1"})
    )

    assert refused.returncode != 0 and "is disallowed by configuration" in refused.stderr
    assert not re.search("Linking|Moving", refused.stdout)
    assert not re.search("Linking|Moving", checked.stdout)
    assert "It matches the snapshot exactly." in checked.stdout


def test_without_a_package_cache_conda_downloads_the_packages_first(
    kinds_channel, conda_run, conda_dirs, tmp_path, monkeypatch
):
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_KEEP_PACKAGES_MB", "0")  # none kept either
    ok(conda_run("create", "-n", "E", "-y", *kinds_channel, "plain", "tool"))
    before = files(conda_dirs.envs / "E")
    lock_then_remove(conda_run, tmp_path, "E")
    ok(conda_run("clean", "--all", "-y"))

    restored = ok(conda_run("envguard", "restore", "E", "-y")).stdout

    downloaded = restored.index("Downloading and Extracting Packages")
    assert restored.index("Linking 2 packages (42 files)") > downloaded
    assert "It matches the snapshot exactly." in restored
    assert files(conda_dirs.envs / "E") == before


def test_a_restore_from_kept_packages_moves_their_files_into_the_env(
    kinds_channel, conda_run, conda_dirs, tmp_path
):
    """After `conda clean --all` the store's kept packages are extracted into a package
    cache of the restore's own, deleted afterwards: the plain packages' files are moved out
    of it (each file written once), and the env is the one conda makes."""
    ok(conda_run("create", "-n", "E", "-y", *kinds_channel, *NAMES))
    lock = lock_then_remove(conda_run, tmp_path, "E")
    ok(conda_run("clean", "--all", "-y"))

    restored = ok(conda_run("envguard", "restore", "E", "-y"))
    ok(conda_run("--no-plugins", "create", "-n", "ref", "--file", lock, "-y"))

    plain = sum(linked for _, linked in KINDS)
    assert f"Moving {plain} packages" in restored.stdout
    assert f"{len(KINDS)} package(s) came from envguard's kept packages" in restored.stdout
    assert "It matches the snapshot exactly." in restored.stdout
    e, ref = conda_dirs.envs / "E", conda_dirs.envs / "ref"
    assert files(e) == files(ref)
    # conda records a moved package as copied (its files are linked to nothing), and links
    # the others from the restore's cache as it links from its own
    mine, conda_s = records(e), records(ref)
    moved = {f"{pkg.name}-1.0-0.json" for pkg, linked in KINDS if linked}
    assert {n for n, r in mine.items() if r["link"]["type"] == 3} == moved
    assert {r["link"]["type"] for r in conda_s.values()} == {1}
    assert _without_cache(mine) == _without_cache(conda_s)
    assert not list((conda_dirs.store / "packages").glob(".restore-*"))
    ok(conda_run("remove", "-n", "E", "plain", "symlinked", "copied", "-y"))
    ok(conda_run("--no-plugins", "remove", "-n", "ref", "plain", "symlinked", "copied", "-y"))
    assert files(e) == files(ref)


def _without_cache(recs: dict[str, dict]) -> dict[str, dict]:
    """Records without where their package was extracted, or how it was linked from there."""
    for record in recs.values():
        for key in ("extracted_package_dir", "package_tarball_full_path", "link"):
            record.pop(key, None)
    return recs


def test_a_folder_is_moved_whole_only_when_it_holds_just_the_package_as_conda_would_make_it(
    tmp_path,
):
    from conda_envguard.linker import _move_files

    source, target = tmp_path / "pkg", tmp_path / "env"
    target.mkdir()
    (target / "lib").mkdir()
    probe = tmp_path / "probe"
    probe.mkdir()
    mode = os.lstat(probe).st_mode  # a folder as conda makes one
    for rel in (
        "lib/a/x.py",
        "lib/a/sub/y.py",
        "share/b/z.txt",
        "share/b/stray.txt",
        "etc/c.conf",
    ):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text(rel)
    os.chmod(source / "etc", 0o700)
    paths = ["lib/a/x.py", "lib/a/sub/y.py", "share/b/z.txt", "etc/c.conf"]
    moved_whole = os.lstat(source / "lib" / "a").st_ino

    _move_files(str(source), target, paths, mode)

    assert os.lstat(target / "lib" / "a").st_ino == moved_whole  # the env had no lib/a
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == (
        sorted(paths)
    )
    # share/ held a file the package does not list: it stays behind, the rest moved alone
    assert (source / "share" / "b" / "stray.txt").is_file()
    # etc/ was not a folder conda makes: the env gets one that is
    assert stat.S_IMODE(os.lstat(target / "etc").st_mode) == stat.S_IMODE(mode)


def test_a_file_is_never_moved_over_one_the_env_has(tmp_path):
    """A path can reach another package's file through a symlinked folder: rename would
    replace it without a word, where conda's linking stops."""
    from conda_envguard.linker import _move_files

    source, target = tmp_path / "pkg", tmp_path / "env"
    (source / "lib").mkdir(parents=True)
    (source / "lib" / "x.so").write_text("new")
    (target / "lib").mkdir(parents=True)
    (target / "lib" / "x.so").write_text("theirs")

    with pytest.raises(FileExistsError):
        _move_files(str(source), target, ["lib/x.so"], os.lstat(target / "lib").st_mode)

    assert (target / "lib" / "x.so").read_text() == "theirs"


def test_a_noarch_python_package_with_entry_points_restores_as_conda_makes_it(
    conda_run, conda_dirs, tmp_path
):
    """noarch python: conda maps site-packages/ into the env's python, compiles it with the
    env's interpreter and writes the entry points. envguard leaves such packages to conda; the
    restored env must be the one `conda create --file LOCK` makes. The env's python is the
    suite's, linked in, so conda has a real interpreter to compile with."""
    real = os.path.realpath(sys.executable)
    python = fake_python()
    python.symlinks.update({"bin/python": real, "bin/python3.11": real})
    hello = Pkg(
        "hello",
        "1.0",
        depends=("python",),
        files={
            "site-packages/hello/__init__.py": b"",
            "site-packages/hello/cli.py": b"def main():\n    print('hello')\n",
        },
        extra_index={"noarch": "python"},
        entry_points=("hello = hello.cli:main",),
    )
    channel = ("--override-channels", "-c", channel_url(build_channel(tmp_path / "py", [
        python, fake_pip(), hello
    ])))  # fmt: skip
    ok(conda_run("create", "-n", "E", "-y", *channel, "hello"))
    e, ref = conda_dirs.envs / "E", conda_dirs.envs / "ref"
    assert "hello.cli" in (e / "bin" / "hello").read_text()  # conda wrote the entry point
    lock = lock_then_remove(conda_run, tmp_path, "E")

    restored = ok(conda_run("envguard", "restore", "E", "-y"))
    ok(conda_run("--no-plugins", "create", "-n", "ref", "--file", lock, "-y"))

    assert "It matches the snapshot exactly." in restored.stdout
    assert _without_prefix_lengths(records(e), e) == _without_prefix_lengths(records(ref), ref)
    assert files(e) == files(ref)
    assert (e / "bin" / "hello").is_file()
    assert list((e / "lib" / "python3.11" / "site-packages" / "hello").glob("__pycache__/*.pyc"))


def _without_prefix_lengths(recs: dict[str, dict], prefix: Path) -> dict[str, dict]:
    """An entry point's script starts with `#!PREFIX/bin/python`: its recorded size depends
    on the env's path, the rest of the record must not."""
    for record in recs.values():
        for entry in record["paths_data"]["paths"]:
            if entry["path_type"] == "unix_python_entry_point" and "size_in_bytes" in entry:
                entry["size_in_bytes"] -= len(str(prefix))  # newer conda lines record it
    return recs
