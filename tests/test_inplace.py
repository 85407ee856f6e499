"""`conda envguard restore ENV --in-place`: the live env, base included, rolled back where it is.

A conda root whose base is a real conda env made from a channel of the test's own, with a real
interpreter in it (a venv over the fake python package's site-packages) so that pip really
installs into it. conda runs in-process; the checks are what the user sees: conda's list of
the env, the pip packages, the variables, the report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conda_envguard.testing.channel import Pkg, build_channel, channel_url, fake_pip, fake_python

pytestmark = pytest.mark.usefixtures("no_background_expiry")

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}.0"
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


@dataclass
class Root:
    base: Path
    channel: Path
    wheels: Path

    @property
    def args(self) -> tuple[str, str, str]:
        return ("--override-channels", "-c", channel_url(self.channel))


def _wheel(directory: Path, name: str, version: str) -> Path:
    """A pure-Python wheel pip installs offline."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }

    def digest(data: bytes) -> str:
        raw = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        return f"sha256={raw.decode()}"

    record = "".join(f"{p},{digest(d)},{len(d)}\n" for p, d in files.items())
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for rel, data in files.items():
            archive.writestr(rel, data)
    return path


@pytest.fixture
def root(conda_dirs, cli, monkeypatch, tmp_path) -> Root:
    """A conda root whose base (python, pip, alpha 1.0) is a real env with a real python."""
    from conda.base.context import reset_context

    channel = build_channel(
        tmp_path / "channel",
        [Pkg("alpha", "1.0"), Pkg("alpha", "2.0"), Pkg("gamma", "1.0"), fake_python(PYTHON),
         fake_pip()],
    )  # fmt: skip
    base = conda_dirs.root / "root" / "base"
    root = Root(base, channel, tmp_path / "wheels")
    cli("create", "-p", base, *root.args, "python", "alpha=1.0", "--yes", "--quiet")
    # a real interpreter whose site-packages is the env's, and pip for it from this process
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", base], check=True)
    pip_path = tmp_path / "pip-path"
    pip_path.mkdir()
    import pip

    (pip_path / "pip").symlink_to(Path(pip.__file__).parent)
    root.wheels.mkdir()
    for name, version in (("brokenlib", "1.0"), ("okpkg", "1.0"), ("okpkg", "2.0")):
        _wheel(root.wheels, name, version)
    for name, value in {
        "CONDA_ROOT_PREFIX": str(base),
        "PYTHONPATH": str(pip_path),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(root.wheels),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }.items():
        monkeypatch.setenv(name, value)
    reset_context()
    return root


def conda_list(cli, env: str = "base") -> set[tuple[str, str, str]]:
    return {(p["name"], p["version"], p["build_string"]) for p in cli.json("list", "-n", env)}


def pip_list(prefix: Path) -> set[str]:
    found = {p.name for p in (prefix / SITE).glob("*.dist-info")}
    return {n for n in found if not n.startswith(("pip-",))}


def env_vars(cli, env: str = "base") -> dict:
    return cli.json("env", "config", "vars", "list", "-n", env)


def break_base(cli, root: Root) -> None:
    """What breaks a base: an upgrade, a pip install, a variable changed."""
    cli("install", "-n", "base", *root.args, "alpha=2.0", "gamma", "--yes", "--quiet")
    subprocess.run(
        [root.base / "bin" / "python", "-m", "pip", "install", "-q", "brokenlib", "okpkg==2.0"],
        check=True,
    )
    cli("env", "config", "vars", "set", "MODE=broken", "EXTRA=1", "-n", "base")


def test_base_is_rolled_back_in_place_and_the_roll_back_undone(cli, root):
    from conda.base.context import context

    assert os.path.samefile(context.root_prefix, root.base)
    cli("env", "config", "vars", "set", "MODE=good", "-n", "base")
    pip = [root.base / "bin" / "python", "-m", "pip", "install", "-q", "okpkg==1.0"]
    subprocess.run(pip, check=True)
    good = (conda_list(cli), pip_list(root.base), env_vars(cli))
    moment = datetime.now(timezone.utc).isoformat()
    break_base(cli, root)
    broken = (conda_list(cli), pip_list(root.base), env_vars(cli))
    assert broken != good and "brokenlib-1.0.dist-info" in broken[1]

    # the plan, and a dry run that writes nothing
    store = Path(os.environ["CONDA_PLUGINS_ENVGUARD_STORE"]) / "snapshots"
    snapshots = sorted(store.iterdir())
    out, _ = cli("envguard", "restore", "base", "--at", moment, "--in-place", "--dry-run")
    assert "alpha 2.0 0 -> 1.0 0" in out and "gamma 1.0 0" in out, out
    assert "brokenlib==1.0" in out and "conda-meta/state" in out, out
    assert "okpkg==2.0" in out and "okpkg==1.0" in out, out  # uninstalled, then installed
    assert (conda_list(cli), pip_list(root.base), env_vars(cli)) == broken
    assert sorted(store.iterdir()) == snapshots

    report = cli.json("envguard", "restore", "base", "--at", moment, "--in-place", "-y")
    assert report["exact"] and report["method"] == "in place", report
    assert (conda_list(cli), pip_list(root.base), env_vars(cli)) == good
    # conda's own history says what the transaction did
    history = (root.base / "conda-meta" / "history").read_text().splitlines()
    assert any(ln.startswith("-") and ln.endswith("::alpha-2.0-0") for ln in history), history

    # the roll-back is itself undone the same way; `undo`, which knows only the trash, says how
    from conda_envguard.exceptions import TrashEntryNotFoundError

    for env in ("base", None):
        excinfo = cli("envguard", "undo", *filter(None, [env]), raises=TrashEntryNotFoundError)
        message = str(excinfo.value)
        assert "'base' was rolled back in place, not removed" in message, message
        printed = f"conda envguard restore --snapshot {report['saved_first']} --in-place"
        assert printed in message, message
    again = cli.json(*printed.split()[1:], "-y")
    assert again["exact"], again
    assert (conda_list(cli), pip_list(root.base), env_vars(cli)) == broken


def test_in_place_works_from_kept_packages_when_cache_and_channel_lost_them(cli, root):
    from conda import CondaError

    moment = datetime.now(timezone.utc).isoformat()
    cli("install", "-n", "base", *root.args, "alpha=2.0", "--yes", "--quiet")
    repodata = root.channel / "noarch" / "repodata.json"
    data = json.loads(repodata.read_text())
    del data["packages"]["alpha-1.0-0.tar.bz2"]
    repodata.write_text(json.dumps(data))
    (root.channel / "noarch" / "alpha-1.0-0.tar.bz2").unlink()
    cli("clean", "--all", "--yes")
    # conda's own way back fails: alpha 1.0 is nowhere
    cli("install", "-n", "base", *root.args, "--revision", "0", "--yes", raises=CondaError)
    assert ("alpha", "2.0", "0") in conda_list(cli)

    report = cli.json("envguard", "restore", "base", "--at", moment, "--in-place", "-y")
    assert report["exact"], report
    assert ("alpha", "1.0", "0") in conda_list(cli)
    assert any("kept packages" in note for note in report["notes"]), report


def test_restore_of_base_without_in_place_says_to_use_it(cli, root):
    cli("install", "-n", "base", *root.args, "gamma", "--yes", "--quiet")
    from conda_envguard.exceptions import EnvGuardError

    excinfo = cli("envguard", "restore", "base", "--force", "-y", raises=EnvGuardError)
    message = str(excinfo.value)
    assert "is base" in message and "--in-place" in message, message
    assert ("gamma", "1.0", "0") in conda_list(cli)


def test_a_frozen_env_is_rolled_back_only_with_override_frozen(cli, root):
    from conda_envguard.exceptions import EnvGuardError

    moment = datetime.now(timezone.utc).isoformat()
    cli("install", "-n", "base", *root.args, "gamma", "--yes", "--quiet")
    (root.base / "conda-meta" / "frozen").write_text(json.dumps({"message": "team base"}))
    excinfo = cli(
        "envguard", "restore", "base", "--at", moment, "--in-place", "-y", raises=EnvGuardError
    )
    assert "--override-frozen" in str(excinfo.value)
    assert ("gamma", "1.0", "0") in conda_list(cli)
    report = cli.json(
        "envguard", "restore", "base", "--at", moment, "--in-place", "-y", "--override-frozen"
    )
    assert ("gamma", "1.0", "0") not in conda_list(cli)
    # a freeze set since stays, and the comparison says so
    assert (root.base / "conda-meta" / "frozen").exists()
    assert "conda-meta/frozen: not in the snapshot" in report["files_differ"], report


def test_activation_scripts_and_pins_come_back_in_place(cli, root):
    scripts = root.base / "etc" / "conda" / "activate.d"
    scripts.mkdir(parents=True)
    (scripts / "team.sh").write_text("export TEAM=1\n")
    cli("envguard", "snapshot", "-n", "base")
    (saved,) = [s["id"] for s in cli.json("envguard", "list", "-n", "base")["snapshots"]]
    (scripts / "team.sh").write_text("export TEAM=2\n")
    (scripts / "added.sh").write_text("export ADDED=1\n")
    (root.base / "conda-meta" / "pinned").write_text("alpha 1.0\n")
    cli("install", "-n", "base", *root.args, "gamma", "--yes", "--quiet")

    plan = cli.json("envguard", "restore", "base", "--snapshot", saved, "--in-place", "--dry-run")
    assert plan["dry_run"] and plan["plan"]["conda"]["remove"] == ["gamma 1.0 0"], plan
    assert plan["plan"]["files"] == {
        "put_back": ["etc/conda/activate.d/team.sh"],
        "remove": ["conda-meta/pinned", "etc/conda/activate.d/added.sh"],
    }, plan
    assert (scripts / "added.sh").exists()
    report = cli.json("envguard", "restore", "base", "--snapshot", saved, "--in-place", "-y")
    assert report["exact"], json.dumps(report)
    assert (scripts / "team.sh").read_text() == "export TEAM=1\n"
    assert not (scripts / "added.sh").exists()
    assert not (root.base / "conda-meta" / "pinned").exists()
    shutil.rmtree(scripts.parent)


def test_the_active_env_is_rolled_back_in_place_not_replaced(cli, make_env, monkeypatch):
    from conda.base.context import reset_context

    from conda_envguard.exceptions import EnvGuardError

    prefix = make_env("work", "alpha")
    moment = datetime.now(timezone.utc).isoformat()
    channel = cli.json("list", "-n", "work")[0]["base_url"]
    cli("install", "-n", "work", "--override-channels", "-c", channel, "gamma", "-y", "-q")
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    reset_context()
    excinfo = cli("envguard", "restore", "work", "--force", "-y", raises=EnvGuardError)
    assert "is the active environment" in str(excinfo.value), excinfo.value
    assert "--in-place" in str(excinfo.value)
    report = cli.json("envguard", "restore", "work", "--at", moment, "--in-place", "-y")
    assert report["exact"], report
    assert [p["name"] for p in cli.json("list", "-n", "work")] == ["alpha"]


def test_a_conda_package_pip_wrote_over_comes_back_whole(cli, make_env):
    """`pip install` over a conda package (a file both own): removing pip's install deletes
    that file, so the conda package is linked again."""
    prefix = make_env("work", "python", "alpha")
    cli("envguard", "snapshot", "-n", "work")
    (saved,) = [s["id"] for s in cli.json("envguard", "list", "-n", "work")["snapshots"]]
    owned = prefix / "share" / "alpha" / "alpha.txt"
    original = owned.read_bytes()
    site = prefix / "lib" / "python3.11" / "site-packages"
    dist = site / "alpha_tools-9.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: alpha-tools\nVersion: 9.0\n")
    (dist / "INSTALLER").write_text("pip\n")
    (dist / "RECORD").write_text(
        "../../../share/alpha/alpha.txt,,\n"
        "alpha_tools-9.0.dist-info/METADATA,,\n"
        "alpha_tools-9.0.dist-info/INSTALLER,,\n"
        "alpha_tools-9.0.dist-info/RECORD,,\n"
    )
    owned.unlink()  # pip replaces a file, it does not write through a hard link
    owned.write_text("pip's alpha\n")

    out, _ = cli("envguard", "restore", "work", "--snapshot", saved, "--in-place", "--dry-run")
    assert "alpha-tools==9.0" in out and "alpha 2.0 0 (again)" in out, out
    report = cli.json("envguard", "restore", "work", "--snapshot", saved, "--in-place", "-y")
    assert report["exact"], report
    assert owned.read_bytes() == original
    assert not dist.exists()
