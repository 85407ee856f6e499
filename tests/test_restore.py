"""`conda envguard restore`: an env comes back from the trash, its explicit lock or its YAML.

Real conda in child processes, as a user runs it; the checks are what the user sees: the
packages (`conda list`), the files, the restore report (`--json`), the errors.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from envguard_testsupport.checks import (
    assert_same_tree,
    clean_error,
    conda_list,
    listed_envs,
    ok,
    registered,
    remove,
    snapshots_of,
    trashed_envs_on_disk,
    tree,
)

from conda_envguard.testing.channel import (
    BINARY_PLACEHOLDER,
    PREFIX_PLACEHOLDER,
    Pkg,
    add_pip_package,
    build_channel,
    channel_url,
)

pytestmark = pytest.mark.usefixtures("no_background_expiry")


# --- helpers -------------------------------------------------------------------------------


def pinned(records: list[dict]) -> set[tuple[str, str, str]]:
    return {(r["name"], r["version"], r["build_string"]) for r in records}


def restore(conda_run, *args: str | os.PathLike) -> dict:
    """`conda envguard restore ARGS -y --json` -> its report."""
    return json.loads(ok(conda_run("envguard", "restore", *args, "-y", "--json")).stdout)


@dataclass(frozen=True)
class OwnChannel:
    path: Path
    url: str

    @property
    def args(self) -> tuple[str, str, str]:
        return ("--override-channels", "-c", self.url)


@pytest.fixture
def own_channel(channel, tmp_path) -> OwnChannel:
    """A copy of the session's channel that this test may take away."""
    path = shutil.copytree(channel.path, tmp_path / "channel")
    return OwnChannel(path, channel_url(path))


# --- the lock, offline ---------------------------------------------------------------------


@pytest.mark.slow
def test_restore_from_the_lock_works_offline_from_the_package_cache(
    own_channel, conda_run, conda_dirs, tmp_path
):
    ok(conda_run("create", "-n", "E", "-y", *own_channel.args, "beta", "gamma"))
    prefix = conda_dirs.envs / "E"
    packages = conda_list(conda_run, "E")
    payload = tree(prefix, skip=("conda-meta",))
    history = (prefix / "conda-meta" / "history").read_text()
    remove(conda_run, "E", purge=True)
    assert trashed_envs_on_disk(conda_dirs) == []
    # the channel is gone: only the package cache has the packages now
    own_channel.path.rename(tmp_path / "channel-gone")

    report = restore(conda_run, "E")

    assert report["method"] == "explicit"
    assert report["exact"] is True, report
    assert (report["missing"], report["extra"], report["changed"]) == ([], [], [])
    assert report["prefix"] == str(prefix)
    assert pinned(conda_list(conda_run, "E")) == pinned(packages)
    assert conda_list(conda_run, "E") == packages
    assert_same_tree(prefix, payload, skip=("conda-meta",))
    # the env's own history comes back too, in front of the restore's
    assert (prefix / "conda-meta" / "history").read_text().startswith(history)
    assert str(prefix) in registered(conda_dirs)
    assert str(prefix) in listed_envs(conda_run)


# --- the trash ------------------------------------------------------------------------------


def test_restore_takes_the_env_from_the_trash_when_it_holds_it(make_env, conda_run, conda_dirs):
    prefix = make_env("E", "bigpkg", "beta")
    before = tree(prefix)
    remove(conda_run, "E")

    result = ok(conda_run("envguard", "restore", "E", "-y"))

    assert "from the trash" in result.stdout
    assert f"Restored {prefix} from snapshot" in result.stdout and "(trash)" in result.stdout
    assert "It matches the snapshot exactly." in result.stdout
    assert_same_tree(prefix, before)
    assert trashed_envs_on_disk(conda_dirs) == []
    assert str(prefix) in registered(conda_dirs)


def test_restore_json_report_from_the_trash(make_env, conda_run, conda_dirs):
    prefix = make_env("E", "beta")
    before = tree(prefix)
    remove(conda_run, "E")
    (snapshot,) = snapshots_of(conda_run, "E")

    report = restore(conda_run, "E")

    assert report["method"] == "trash" and report["exact"] is True
    assert report["snapshot_id"] == snapshot["id"]
    assert_same_tree(prefix, before)


# --- the YAML, when the lock can't be used --------------------------------------------------


def _spoil(case: str, snapshot_dir: Path) -> str:
    """Make the snapshot's lock unusable; returns what the report's note says."""
    if case == "empty-lock":
        (snapshot_dir / "explicit.txt").write_text("")
        return "lists no packages"
    if case == "garbage-lock":
        (snapshot_dir / "explicit.txt").write_text("@EXPLICIT\nthis is not a package URL\n")
        return "could not be used"
    if case == "lock-of-a-gone-package":
        lock = snapshot_dir / "explicit.txt"
        lock.write_text(lock.read_text().replace("gamma-1.0-0", "gamma-9.9-0"))
        return "could not be used"
    meta_path = snapshot_dir / "snapshot.json"
    meta = json.loads(meta_path.read_text())
    meta["platform"] = "osx-arm64" if meta["platform"] != "osx-arm64" else "linux-64"
    meta_path.write_text(json.dumps(meta))
    (snapshot_dir / "portable.json").unlink()  # a snapshot from before portable specs
    return f"the lock is for {meta['platform']}"


@pytest.mark.parametrize(
    "case", ["empty-lock", "garbage-lock", "lock-of-a-gone-package", "other-platform"]
)
def test_restore_falls_back_to_the_yaml(case, make_env, conda_run, conda_dirs):
    make_env("E", "beta", "gamma")
    packages = conda_list(conda_run, "E")
    remove(conda_run, "E", purge=True)
    (snapshot,) = snapshots_of(conda_run, "E")
    note = _spoil(case, Path(snapshot["path"]))

    report = restore(conda_run, "E", "--ignore-damage")  # the lock was edited: on purpose

    assert report["method"] == "environment.yml"
    assert report["exact"] is True, report
    assert any(note in n and "environment.yml" in n for n in report["notes"]), report["notes"]
    assert pinned(conda_list(conda_run, "E")) == pinned(packages)
    assert str(conda_dirs.envs / "E") in registered(conda_dirs)


@pytest.mark.slow
def test_restore_that_cannot_get_the_packages_fails_cleanly(
    own_channel, conda_run, conda_dirs, tmp_path
):
    ok(conda_run("create", "-n", "E", "-y", *own_channel.args, "beta"))
    prefix = conda_dirs.envs / "E"
    remove(conda_run, "E", purge=True)
    (snapshot,) = snapshots_of(conda_run, "E")
    kept = tree(Path(snapshot["path"]))
    # neither the channel nor the package cache has the packages any more
    shutil.rmtree(own_channel.path)
    shutil.rmtree(conda_dirs.pkgs)
    shutil.rmtree(conda_dirs.store / "packages")  # nor the packages envguard kept

    result = conda_run("envguard", "restore", "E", "-y")

    clean_error(result, "could not recreate", snapshot["id"])
    assert not prefix.exists()  # nothing half-made is left behind
    assert tree(Path(snapshot["path"])) == kept  # the snapshot is unchanged


def test_a_copy_that_cannot_get_the_packages_points_to_undo(
    own_channel, conda_run, conda_dirs, tmp_path
):
    ok(conda_run("create", "-n", "E", "-y", *own_channel.args, "beta"))
    prefix = conda_dirs.envs / "E"
    remove(conda_run, "E")  # into the trash
    shutil.rmtree(own_channel.path)
    shutil.rmtree(conda_dirs.pkgs)
    shutil.rmtree(conda_dirs.store / "packages")

    result = conda_run("envguard", "restore", "E", "-n", "C", "-y")

    clean_error(result, "could not recreate", f"conda envguard undo E puts it back at {prefix}")
    assert not (conda_dirs.envs / "C").exists()
    ok(conda_run("envguard", "undo", "E", "-y"))
    assert (prefix / "share" / "beta" / "beta.txt").is_file()


# --- an existing env at the target ----------------------------------------------------------


@pytest.mark.parametrize("source", ["trash", "lock"])
def test_restore_refuses_an_occupied_place_unless_forced(source, make_env, conda_run, conda_dirs):
    make_env("E", "alpha=1.0")
    remove(conda_run, "E", purge=source == "lock")
    (old,) = snapshots_of(conda_run, "E")
    prefix = make_env("E", "gamma")  # a new E in the same place
    before = tree(prefix)

    refused = conda_run("envguard", "restore", "E", "-y")

    clean_error(refused, f"An environment already exists at {prefix}", "--force")
    assert_same_tree(prefix, before)
    assert snapshots_of(conda_run, "E") == [old]

    report = restore(conda_run, "E", "--force")

    assert report["snapshot_id"] == old["id"]
    assert report["method"] == ("trash" if source == "trash" else "explicit")
    assert report["exact"] is True, report
    assert pinned(conda_list(conda_run, "E")) == {("alpha", "1.0", "0")}
    # the env it replaced was snapshotted first, and is held in the trash
    snapshots = snapshots_of(conda_run, "E")
    assert len(snapshots) == 2
    assert snapshots[-1]["trigger"] == "restore --force"
    assert snapshots[-1]["counts"]["conda"] == 1
    (replaced,) = trashed_envs_on_disk(conda_dirs)
    assert_same_tree(replaced, before)


# --- elsewhere: -n NEW, -p PATH --------------------------------------------------------------


@pytest.mark.parametrize("source", ["trash", "lock"])
@pytest.mark.parametrize("where", ["new-name", "path"])
def test_restore_elsewhere(where, source, make_env, conda_run, conda_dirs, tmp_path):
    prefix = make_env("E", "beta")
    before = tree(prefix, skip=("conda-meta",))
    packages = conda_list(conda_run, "E")
    remove(conda_run, "E", purge=source == "lock")
    held = {p: tree(p) for p in trashed_envs_on_disk(conda_dirs)}
    if where == "new-name":
        target, args = conda_dirs.envs / "NEW", ("-n", "NEW")
    else:
        target = tmp_path / "elsewhere" / "env"
        args = ("-p", str(target))

    report = restore(conda_run, "E", *args)

    assert report["prefix"] == str(target)
    # another path is rebuilt from the lock: the trashed env names its own path in its files
    assert report["method"] == "explicit"
    assert report["exact"] is True, report
    assert not prefix.exists()
    assert pinned(conda_list(conda_run, "-p", target)) == pinned(packages)
    assert_same_tree(target, before, skip=("conda-meta",))
    # the trash entry is left as it was: undo still brings E back
    assert {p: tree(p) for p in trashed_envs_on_disk(conda_dirs)} == held
    if source == "trash":
        assert any("conda envguard undo E" in n for n in report["notes"]), report["notes"]
    assert str(target) in registered(conda_dirs)
    if (
        where == "new-name"
    ):  # (as root, conda reads the registries of the password database's homes, not $HOME's)
        assert str(target) in listed_envs(conda_run)


@pytest.fixture
def prefixed_channel(tmp_path) -> OwnChannel:
    """A channel whose `tool` has a script and a binary file conda writes the env's path into."""
    tool = Pkg(
        "tool",
        "1.0",
        prefix_files={"bin/tool": f"#!{PREFIX_PLACEHOLDER}/bin/python\nprint('hi')\n".encode()},
        binary_prefix_files={
            "lib/libtool.so": b"\x7fELF\x00" + BINARY_PLACEHOLDER.encode() + b"/lib\x00\x01end"
        },
    )
    path = build_channel(tmp_path / "prefixed-channel", [tool])
    return OwnChannel(path, channel_url(path))


def _names(prefix: Path, *files: str) -> dict[str, bool]:
    return {f: str(prefix).encode() + b"/" in (prefix / f).read_bytes() for f in files}


@pytest.mark.parametrize("where", ["new-name", "path"])
def test_a_copy_elsewhere_names_its_own_path_and_leaves_the_trash_for_undo(
    where, prefixed_channel, conda_run, conda_dirs, tmp_path
):
    ok(conda_run("create", "-n", "alpha", "-y", *prefixed_channel.args, "tool"))
    alpha = conda_dirs.envs / "alpha"
    files = ("bin/tool", "lib/libtool.so")
    assert _names(alpha, *files) == dict.fromkeys(files, True)
    remove(conda_run, "alpha")  # into the trash
    if where == "new-name":
        target, args = conda_dirs.envs / "beta", ("-n", "beta")
    else:
        target = tmp_path / "copies" / "beta"
        args = ("-p", str(target))

    result = ok(conda_run("envguard", "restore", "alpha", *args, "-y"))

    assert (target / "bin/tool").read_text().startswith(f"#!{target}/bin/python\n")
    assert _names(target, *files) == dict.fromkeys(files, True)
    for f in files:
        assert str(alpha).encode() not in (target / f).read_bytes(), f
    assert "It matches the snapshot exactly." in result.stdout
    # the copy did not use up alpha's trash entry
    ok(conda_run("envguard", "undo", "alpha", "-y"))
    assert (alpha / "bin/tool").read_text().startswith(f"#!{alpha}/bin/python\n")
    assert (target / "bin/tool").read_text().startswith(f"#!{target}/bin/python\n")


def test_the_comparison_finds_files_still_naming_the_old_path(
    prefixed_channel, conda_run, conda_dirs, cli
):
    """What a one-rename copy would leave: the closing comparison must not call it exact."""
    from conda_envguard.restore import RestoreReport, compare
    from conda_envguard.store import Store

    ok(conda_run("create", "-n", "alpha", "-y", *prefixed_channel.args, "tool"))
    alpha = conda_dirs.envs / "alpha"
    ok(conda_run("envguard", "snapshot", "-n", "alpha"))
    (snap,) = Store().for_env(name="alpha")
    beta = conda_dirs.envs / "beta"
    shutil.copytree(alpha, beta, symlinks=True)
    report = RestoreReport(snap.id, str(beta))

    compare(snap.full(), beta, report)

    assert sorted(report.old_prefix) == ["bin/tool", "lib/libtool.so"]
    assert report.exact is False


@pytest.fixture
def other_filesystem(tmpfs, tmp_path) -> Path:
    """A directory on a filesystem of its own (a tmpfs): nothing can be renamed into it."""
    return tmpfs(tmp_path / "otherfs")


@pytest.mark.slow
def test_restore_from_the_trash_to_another_filesystem(
    make_env, conda_run, conda_dirs, other_filesystem
):
    """The trash can't be renamed there: restore must still work (from the lock), not crash."""
    make_env("E", "beta")
    packages = conda_list(conda_run, "E")
    remove(conda_run, "E")
    target = other_filesystem / "E"

    result = conda_run("envguard", "restore", "E", "-p", target, "-y", "--json")

    ok(result)
    report = json.loads(result.stdout)
    assert (report["method"], report["exact"]) == ("explicit", True), report
    assert pinned(conda_list(conda_run, "-p", target)) == pinned(packages)


# --- --dry-run, --snapshot -------------------------------------------------------------------


@pytest.mark.parametrize("source", ["trash", "lock"])
def test_restore_dry_run_changes_nothing(source, make_env, conda_run, conda_dirs):
    prefix = make_env("E", "beta")
    remove(conda_run, "E", purge=source == "lock")
    snapshots = snapshots_of(conda_run, "E")
    held = {p: tree(p) for p in trashed_envs_on_disk(conda_dirs)}
    store = tree(conda_dirs.store)

    plan = json.loads(ok(conda_run("envguard", "restore", "E", "--dry-run", "--json")).stdout)
    text = ok(conda_run("envguard", "restore", "E", "--dry-run")).stdout

    assert plan["dry_run"] is True
    assert plan["method"] == ("trash" if source == "trash" else "explicit")
    assert plan["target"] == str(prefix)
    assert "nothing changed" in text and str(prefix) in text
    assert not prefix.exists()
    assert snapshots_of(conda_run, "E") == snapshots
    assert {p: tree(p) for p in trashed_envs_on_disk(conda_dirs)} == held
    assert tree(conda_dirs.store) == store


def test_restore_the_snapshot_asked_for(make_env, conda_run):
    make_env("E", "alpha=1.0")
    remove(conda_run, "E")
    make_env("E", "alpha")  # alpha 2.0
    remove(conda_run, "E")
    ok(conda_run("envguard", "purge", "--all", "-y"))
    first, latest = snapshots_of(conda_run, "E")

    picked = restore(conda_run, "E", "--snapshot", first["id"], "-n", "OLD")
    default = restore(conda_run, "E", "-n", "LATEST")
    plan = json.loads(
        ok(conda_run("envguard", "restore", "--snapshot", first["id"][:-1], "-n", "X",
                     "--dry-run", "--json")).stdout
    )  # fmt: skip

    assert picked["snapshot_id"] == first["id"]
    assert pinned(conda_list(conda_run, "OLD")) == {("alpha", "1.0", "0")}
    assert default["snapshot_id"] == latest["id"]
    assert pinned(conda_list(conda_run, "LATEST")) == {("alpha", "2.0", "0")}
    assert plan["snapshot"] == first["id"]  # an unambiguous start of an id is enough


@pytest.mark.parametrize(
    "args",
    [("nosuch",), ("--snapshot", "20990101-000000-nosuch-0000"), ("E", "--snapshot", "zz")],
    ids=["unknown-env", "unknown-snapshot", "env-and-unknown-snapshot"],
)
def test_restore_of_something_unknown_is_a_clear_error(args, make_env, conda_run, conda_dirs):
    make_env("E", "gamma")
    remove(conda_run, "E", purge=True)
    wanted = args[-1]

    result = conda_run("envguard", "restore", *args, "-y")

    clean_error(result, f"no snapshot matching '{wanted}'", "conda envguard list")
    assert not (conda_dirs.envs / "E").exists()
    as_json = conda_run("envguard", "restore", *args, "-y", "--json")
    assert as_json.returncode == 1
    error = json.loads(as_json.stdout)
    assert error["exception_name"] == "SnapshotNotFoundError"
    assert "traceback" not in json.dumps(error).lower()


# --- pip packages -----------------------------------------------------------------------------


def test_pip_packages_not_restored_are_reported_with_the_command(make_env, conda_run, conda_dirs):
    prefix = make_env("P", "python")
    add_pip_package(prefix, "my-pip-pkg", "1.2.3")
    packages = conda_list(conda_run, "P")
    conda_packages = [p for p in packages if p["channel"] != "pypi"]
    assert {p["name"] for p in packages} - {p["name"] for p in conda_packages} == {"my-pip-pkg"}
    remove(conda_run, "P", purge=True)
    (snapshot,) = snapshots_of(conda_run, "P")
    requirements = Path(snapshot["path"]) / "pip.txt"
    assert "my-pip-pkg==1.2.3" in requirements.read_text().splitlines()

    report = restore(conda_run, "P")

    assert report["method"] == "explicit"
    assert report["pip"].startswith("failed")
    command = f"{prefix}/bin/python -m pip install --no-deps -r {requirements}"
    notes = "\n".join(report["notes"])
    assert "pip packages were not restored" in notes and command in notes
    # the conda part is exact; only the pip package is missing
    assert (report["missing"], report["extra"], report["changed"]) == (["my-pip-pkg"], [], [])
    assert report["exact"] is False
    assert conda_list(conda_run, "P") == conda_packages


# --- Jupyter kernels ---------------------------------------------------------------------------


@pytest.fixture
def jupyter(conda_dirs, monkeypatch, tmp_path) -> Path:
    """A private Jupyter data dir, seen by every conda this test runs."""
    data_dir = tmp_path / "jupyter"
    (data_dir / "kernels").mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data_dir))
    return data_dir


def write_kernelspec(jupyter: Path, name: str, python: str) -> Path:
    kernel_dir = jupyter / "kernels" / name
    kernel_dir.mkdir()
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({name})",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    (kernel_dir / "logo-64x64.png").write_bytes(b"\x89PNG fake logo")
    return kernel_dir


def test_kernelspec_leaves_with_its_env_and_comes_back_with_undo(make_env, conda_run, jupyter):
    prefix = make_env("E", "gamma")
    mine = write_kernelspec(jupyter, "myk", f"{prefix}/bin/python")
    other = write_kernelspec(jupyter, "other", "/opt/elsewhere/bin/python")
    mine_before, other_before = tree(mine), tree(other)

    remove(conda_run, "E")

    assert not mine.exists()  # no stale kernel left for Jupyter or VS Code
    assert_same_tree(other, other_before)

    ok(conda_run("envguard", "undo", "E", "-y"))

    assert_same_tree(mine, mine_before)
    assert_same_tree(other, other_before)


@pytest.mark.parametrize("answers", ["n\n", "y\nn\n"], ids=["no", "yes-then-no"])
def test_kernelspec_stays_when_the_removal_is_declined(answers, make_env, conda_run, jupyter):
    prefix = make_env("E", "gamma")
    mine = write_kernelspec(jupyter, "myk", f"{prefix}/bin/python")
    before = tree(mine)

    result = conda_run("env", "remove", "-n", "E", input=answers)

    assert result.returncode == 0 and (prefix / "share" / "gamma" / "gamma.txt").is_file()
    assert_same_tree(mine, before)


@pytest.mark.parametrize("source", ["trash", "lock"])
def test_kernelspec_follows_a_restore_under_a_new_name(
    source, make_env, conda_run, conda_dirs, jupyter
):
    prefix = make_env("E", "gamma")
    mine = write_kernelspec(jupyter, "myk", f"{prefix}/bin/python")
    spec_before = json.loads((mine / "kernel.json").read_text())
    remove(conda_run, "E", purge=source == "lock")
    assert not mine.exists()
    new = conda_dirs.envs / "NEW"

    report = restore(conda_run, "E", "-n", "NEW")

    assert report["method"] == "explicit" and report["exact"] is True, report
    copy = mine.with_name("myk-NEW")  # the copy's kernel has the copy's name
    assert report["kernels"] == [str(copy)]
    spec = json.loads((copy / "kernel.json").read_text())
    assert spec["argv"] == [f"{new}/bin/python", *spec_before["argv"][1:]]
    assert spec["display_name"] == f"{spec_before['display_name']} (NEW)"
    assert (copy / "logo-64x64.png").read_bytes() == b"\x89PNG fake logo"
    if source == "trash":  # E's own kernel comes back with E, under its own name
        ok(conda_run("envguard", "undo", "E", "-y"))
        assert json.loads((mine / "kernel.json").read_text()) == spec_before


def test_kernelspec_of_a_copy_does_not_replace_the_original(
    make_env, conda_run, conda_dirs, jupyter
):
    prefix = make_env("E", "gamma")
    mine = write_kernelspec(jupyter, "myk", f"{prefix}/bin/python")
    mine_before = tree(mine)
    ok(conda_run("envguard", "snapshot", "-n", "E"))
    new = conda_dirs.envs / "NEW"

    report = restore(conda_run, "E", "-n", "NEW")

    assert report["method"] == "explicit"
    assert_same_tree(mine, mine_before)  # E's kernel still runs E
    (copy,) = [Path(k) for k in report["kernels"]]
    assert copy != mine and copy.parent == mine.parent
    spec = json.loads((copy / "kernel.json").read_text())
    assert spec["argv"][0] == f"{new}/bin/python"


def test_restore_force_never_replaces_a_protected_env(make_env, conda_run, conda_dirs):
    make_env("old", "alpha")
    remove(conda_run, "old", purge=True)
    keeper = make_env("keeper", "gamma")
    ok(conda_run("envguard", "protect", "-n", "keeper"))
    before = tree(keeper)

    result = conda_run("envguard", "restore", "old", "-n", "keeper", "--force", "-y")

    clean_error(result, "protected", "keeper", "conda envguard unprotect -n keeper")
    assert_same_tree(keeper, before)


def test_restore_never_replaces_a_directory_that_is_not_an_env(
    make_env, conda_run, conda_dirs, tmp_path
):
    make_env("old", "alpha")
    remove(conda_run, "old", purge=True)
    data = tmp_path / "data"
    data.mkdir()
    (data / "results.csv").write_text("1,2,3\n")

    result = conda_run("envguard", "restore", "old", "-p", data, "--force", "-y")

    clean_error(result, "is not a conda environment")
    assert (data / "results.csv").read_text() == "1,2,3\n"


def test_undo_force_never_replaces_a_protected_env(make_env, conda_run, conda_dirs):
    make_env("E", "alpha")
    remove(conda_run, "E")
    new = make_env("E", "gamma")
    ok(conda_run("envguard", "protect", "-n", "E"))
    before = tree(new)

    result = conda_run("envguard", "undo", "E", "--force", "-y")

    clean_error(result, "protected")
    assert_same_tree(new, before)
    assert trashed_envs_on_disk(conda_dirs)  # the removed E is still held


def test_a_time_too_far_back_is_a_clear_error(make_env, conda_run):
    make_env("E", "gamma")
    ok(conda_run("envguard", "snapshot", "-n", "E"))

    result = conda_run("envguard", "restore", "E", "--at", "99999999999d", "--dry-run")

    # an argument error, as conda's: exit 2 and the message, no traceback
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "'99999999999d' ago is before any date" in result.stderr
