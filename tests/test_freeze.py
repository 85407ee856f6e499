"""`conda envguard freeze` / `unfreeze`: conda and pip refuse to install into a frozen env, and
unfreeze removes exactly what freeze wrote, never someone else's marker.

pip is tested with a real interpreter living in the env: a link copy of the Python running the
suite (its executable and standard library, without tests and site-packages), which takes the
env as its prefix, given pip by `ensurepip` (offline, from the wheel bundled with Python).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from envguard_testsupport.checks import clean_error, env_packages, ok

from conda_envguard.exceptions import EnvGuardError

pytestmark = pytest.mark.usefixtures("no_background_expiry")

PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
REASON = "shared by the whole team"


# --- a real Python in an env -----------------------------------------------------------------


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


def python_environ(home: Path) -> dict[str, str]:
    """What a user's shell gives pip: nothing that points it at another Python or lets it
    break system packages."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PIP_NO_INPUT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def install_real_python(prefix: Path, home: Path) -> Path:
    """Put the running Python's base installation into the env, with pip; returns its python.
    Skips, saying why, where that cannot be done."""
    base = Path(sys.base_prefix)
    exe, stdlib = base / "bin" / PY, base / "lib" / PY
    if os.name == "nt" or not exe.is_file() or not (stdlib / "os.py").is_file():
        pytest.skip(f"no {PY} executable and standard library under {base} to copy")
    (prefix / "bin").mkdir(exist_ok=True)
    (prefix / "lib").mkdir(exist_ok=True)
    _link_or_copy(str(exe), str(prefix / "bin" / PY))
    os.symlink(PY, prefix / "bin" / "python")
    for lib in base.glob("lib/libpython*"):  # a shared libpython found relative to bin/
        _link_or_copy(str(lib), str(prefix / "lib" / lib.name))
    skip = shutil.ignore_patterns(
        "test", "site-packages", "__pycache__", "idlelib", "tkinter", "turtledemo"
    )
    shutil.copytree(stdlib, prefix / "lib" / PY, symlinks=True, copy_function=_link_or_copy,
                    ignore=skip, dirs_exist_ok=True)  # fmt: skip
    (prefix / "lib" / PY / "site-packages").mkdir(exist_ok=True)
    python = prefix / "bin" / "python"
    show = "import sys, sysconfig; print(sys.prefix); print(sysconfig.get_path('stdlib'))"
    where = subprocess.run(
        [python, "-c", show], capture_output=True, text=True, env=python_environ(home)
    )
    if where.returncode or where.stdout.split() != [str(prefix), str(prefix / "lib" / PY)]:
        pytest.skip(f"a copy of {exe} does not take the env as its prefix: {where}")
    pip = subprocess.run(
        [python, "-m", "ensurepip"], capture_output=True, text=True, env=python_environ(home)
    )
    if pip.returncode:
        pytest.skip(f"ensurepip cannot give the copied Python pip offline: {pip.stderr[-500:]}")
    return python


def build_wheel(directory: Path) -> Path:
    """A tiny pure-Python wheel, for pip to install offline."""
    files = {
        "envguard_probe.py": b"VALUE = 42\n",
        "envguard_probe-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: envguard-probe\nVersion: 1.0\n"
        ),
        "envguard_probe-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("envguard_probe-1.0.dist-info/RECORD,,")
    files["envguard_probe-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / "envguard_probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


# --- the whole story ---------------------------------------------------------------------------


def test_frozen_env_refuses_conda_and_pip_until_unfrozen(
    make_env, conda_run, conda_dirs, channel_args, tmp_path
):
    prefix = make_env("team", "alpha")
    python = install_real_python(prefix, conda_dirs.home)
    wheel = build_wheel(tmp_path)

    def pip_install():
        return subprocess.run(
            [python, "-m", "pip", "install", "--no-index", wheel],
            capture_output=True, text=True, env=python_environ(conda_dirs.home),
        )  # fmt: skip

    frozen = ok(conda_run("envguard", "freeze", "-n", "team", "--reason", REASON))
    assert "Froze 'team': conda and pip refuse to install into it." in frozen.stdout

    refused = conda_run("install", "-n", "team", *channel_args, "gamma", "-y")
    text = clean_error(refused, "EnvironmentIsFrozenError")
    who = f"frozen by {getpass.getuser()} on "
    assert who in text and f"({REASON})" in text
    assert "Create your own environment instead" in text
    assert "conda envguard unfreeze -n team" in text
    assert "gamma" not in env_packages(prefix)

    pip_refused = pip_install()
    assert pip_refused.returncode != 0
    assert "externally-managed-environment" in pip_refused.stderr
    assert who in pip_refused.stderr and "conda envguard unfreeze -n team" in pip_refused.stderr
    assert not list((prefix / "lib" / PY / "site-packages").glob("envguard_probe*"))

    unfrozen = ok(conda_run("envguard", "unfreeze", "-n", "team", "--json"))
    assert sorted(json.loads(unfrozen.stdout)["removed"]) == [
        "conda-meta/frozen",
        f"lib/{PY}/EXTERNALLY-MANAGED",
    ]

    ok(conda_run("install", "-n", "team", *channel_args, "gamma", "-y"))
    assert "gamma" in env_packages(prefix)
    installed = pip_install()
    assert installed.returncode == 0, installed.stderr
    probe = subprocess.run(
        [python, "-c", "import envguard_probe; print(envguard_probe.__file__)"],
        capture_output=True, text=True, env=python_environ(conda_dirs.home),
    )  # fmt: skip
    assert probe.stdout.strip().startswith(str(prefix / "lib" / PY / "site-packages"))


# --- only what freeze wrote ---------------------------------------------------------------------


def test_someone_elses_markers_are_never_touched(cli, make_env):
    prefix = make_env("shared", "alpha", "python")
    managed = prefix / "lib" / "python3.11" / "EXTERNALLY-MANAGED"
    managed.write_text("[externally-managed]\nError=Use the distribution's package manager.\n")
    own = managed.read_bytes()

    frozen = cli.json("envguard", "freeze", "-n", "shared")
    assert frozen["left_alone"] == ["lib/python3.11/EXTERNALLY-MANAGED"]
    assert managed.read_bytes() == own
    assert (prefix / "conda-meta" / "frozen").is_file()

    unfrozen = cli.json("envguard", "unfreeze", "-n", "shared")
    assert unfrozen["removed"] == ["conda-meta/frozen"]
    assert managed.read_bytes() == own, "unfreeze removed a distribution's own marker"


def test_a_hand_made_frozen_marker_stays(cli, make_env):
    prefix = make_env("by-hand", "alpha")
    marker = prefix / "conda-meta" / "frozen"
    marker.write_text('{"message": "frozen by the admin"}\n')

    # someone else's marker is all there is to write: freeze says so, and records nothing
    refused = cli("envguard", "freeze", "-n", "by-hand", "--reason", "mine", raises=EnvGuardError)
    assert "frozen already by markers envguard did not write" in str(refused.value)
    assert "Nothing was changed" in str(refused.value) and "Froze" not in str(refused.value)
    assert not (prefix / "conda-meta" / "envguard-frozen").exists()
    out, _ = cli("envguard", "unfreeze", "-n", "by-hand")

    assert marker.read_text() == '{"message": "frozen by the admin"}\n'
    assert "not written by envguard (or changed since): left as is" in out


def test_a_marker_changed_since_freeze_stays(cli, make_env):
    prefix = make_env("edited", "alpha")
    cli("envguard", "freeze", "-n", "edited")
    marker = prefix / "conda-meta" / "frozen"
    marker.write_text('{"message": "now the admin\'s"}\n')

    unfrozen = cli.json("envguard", "unfreeze", "-n", "edited")

    assert unfrozen["removed"] == [] and unfrozen["left_alone"] == ["conda-meta/frozen"]
    assert marker.read_text() == '{"message": "now the admin\'s"}\n'


def test_an_env_without_python_gets_conda_s_marker_only(cli, make_env):
    prefix = make_env("data-only", "alpha")
    out, _ = cli("envguard", "freeze", "-n", "data-only")
    assert "conda refuses to install into it (it has no Python for pip)" in out
    assert not list(prefix.rglob("EXTERNALLY-MANAGED"))


# --- what else a frozen env means -------------------------------------------------------------


def test_a_frozen_env_is_protected_and_shown_by_status(cli, make_env, conda_run):
    prefix = make_env("team", "alpha", "python")
    cli("envguard", "freeze", "-n", "team", "--reason", REASON)

    blocked = conda_run("env", "remove", "-n", "team", "-y")
    clean_error(blocked, "'conda envguard freeze' by", "conda envguard unfreeze -n team")
    assert prefix.is_dir()

    status = ok(conda_run("envguard", "status")).stdout
    assert f"Frozen:\n  team by {getpass.getuser()} on " in status
    assert f"({REASON}): conda and pip refuse installs" in status
    [entry] = [e for e in cli.json("envguard", "status")["environments"] if e["name"] == "team"]
    assert entry["frozen"]["by_envguard"] and entry["frozen"]["pip_marker"]


def test_base_can_be_frozen(make_env, conda_run, conda_dirs, channel_args, monkeypatch):
    fake_base = conda_dirs.root / "fake-base"
    shutil.move(make_env("will-be-base", "alpha"), fake_base)
    monkeypatch.setenv("CONDA_ROOT_PREFIX", str(fake_base))
    info = json.loads(ok(conda_run("info", "--json")).stdout)
    assert info["root_prefix"] == str(fake_base), "never freeze the real base in a test"

    ok(conda_run("envguard", "freeze", "-n", "base", "--reason", REASON))
    refused = conda_run("install", "-n", "base", *channel_args, "gamma", "-y")
    clean_error(refused, "EnvironmentIsFrozenError", "conda envguard unfreeze -n base")

    ok(conda_run("envguard", "unfreeze", "-n", "base"))
    ok(conda_run("install", "-n", "base", *channel_args, "gamma", "-y"))
    assert "gamma" in env_packages(fake_base)


def test_freezing_again_updates_envguards_own_markers(cli, make_env, conda_run):
    prefix = make_env("team", "alpha", "python")
    cli("envguard", "freeze", "-n", "team", "--reason", "first")
    again = cli.json("envguard", "freeze", "-n", "team", "--reason", "second")

    assert again["left_alone"] == []
    message = json.loads((prefix / "conda-meta" / "frozen").read_text())["message"]
    assert "(second)" in message and "(first)" not in message
    assert "(second)" in (prefix / "lib" / "python3.11" / "EXTERNALLY-MANAGED").read_text()
    cli("envguard", "unfreeze", "-n", "team")
    assert not (prefix / "conda-meta" / "frozen").exists()
    assert not list(prefix.rglob("EXTERNALLY-MANAGED"))
    assert not (prefix / "conda-meta" / "envguard-frozen").exists()
