"""Test infrastructure: real conda, a local channel, and no way to reach the user's own conda.

Isolation has two layers, because conda reads some locations once at import time and the rest
on every command:

* At import of this file, before anything imports conda: `HOME` moves to a scratch directory,
  inherited `CONDA_*`/`CONDARC`/XDG variables are dropped and the isolation variables set
  (`envguard_testsupport.isolation`). conda computes `user_rc_path` (`~/.condarc`) when its
  context module is imported, so this must come first; `pytest_plugins` below is loaded after
  this code runs.
* Per test (`conda_dirs`, autouse): a fresh `HOME`, package cache, envs dir and envguard store
  through conda's context-aware `monkeypatch` (it resets conda's context on undo), and
  `reset_context()` so in-process conda sees them at once. `python -m conda` children inherit
  the same `os.environ`, so both ways of running conda see the same isolated set-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Under pytest's default "prepend" import mode this directory is on sys.path already; under
# "importlib" it is not, and `envguard_testsupport` must import either way.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from envguard_testsupport.isolation import (
    conda_environ,
    is_inherited_conda_var,
    isolation_vars,
    read_registry,
    real_registries,
    run_conda,
)
from envguard_testsupport.token_server import TokenChannelServer

from conda_envguard.testing.channel import Pkg, build_channel, channel_url, fake_pip, fake_python

if TYPE_CHECKING:
    from conda.testing.fixtures import CondaCLIFixture

# The shared checks assert: pytest explains their failures as it does a test's own asserts.
pytest.register_assert_rewrite("envguard_testsupport.checks")

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="envguard-tests-"))
# conda before 25.9 adds the 'defaults' channel (on the internet) to every solve unless some
# configuration names channels: name an empty local one, so no test ever reaches out.
_NO_DEFAULTS = {"CONDA_CHANNELS": channel_url(build_channel(_SESSION_ROOT / "empty-channel", []))}
for _name in [name for name in os.environ if is_inherited_conda_var(name)]:
    del os.environ[_name]
os.environ.update(isolation_vars(_SESSION_ROOT), **_NO_DEFAULTS)
Path(os.environ["HOME"]).mkdir()

pytest_plugins = ("conda.testing", "conda.testing.fixtures")

BIGPKG_FILES = 2_000


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the per-line set (envguard_testsupport/core_set.py) `core`, and its part for the
    other Pythons `pythons`. An entry naming no collected test of a file that was collected
    stops the session: nothing drops out unseen."""
    from envguard_testsupport.core_set import CORE_SET, PYTHONS_SET

    matched: set[str] = set()
    files: set[str] = set()
    for item in items:
        file = Path(item.path).name
        files.add(file)
        name = getattr(item, "originalname", item.name)
        for key in (file, f"{file}::{item.name}", f"{file}::{name}"):
            if key in CORE_SET:
                item.add_marker(pytest.mark.core)
                matched.add(key)
            if key in PYTHONS_SET:
                item.add_marker(pytest.mark.pythons)
                matched.add(key)
    if any("::" in arg for arg in config.args):
        return  # single tests asked for: the rest of their files was never collected
    missing = [
        key
        for key in (*CORE_SET, *PYTHONS_SET)
        if key.split("::")[0] in files and key not in matched
    ]
    if missing:
        raise pytest.UsageError(
            "envguard_testsupport/core_set.py names tests that do not exist: " + ", ".join(missing)
        )


# --- the user's own registry ---------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _real_registries_untouched(request: pytest.FixtureRequest) -> Iterator[None]:
    """Leave real users' env registries as the session found them.

    conda run as root drops stale lines from every user's registry; that is conda's doing, not
    a leak of the suite, so such a registry is put back. A registry that gained lines means the
    isolation broke: that fails the session.
    """
    before = {path: read_registry(path) for path in real_registries()}
    yield
    grown = []
    for path, content in before.items():
        after = read_registry(path)
        if after == content:
            continue
        old_lines = set((content or b"").splitlines())
        if content is not None and set((after or b"").splitlines()) <= old_lines:
            path.write_bytes(content)
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"conftest: restored {path} after conda (as root) cleaned it")
        else:
            grown.append(str(path))
    assert not grown, f"the test suite wrote to real env registries: {grown}"


# --- per-test isolation --------------------------------------------------------------------


@dataclass(frozen=True)
class CondaDirs:
    """Where conda keeps everything during one test."""

    root: Path
    home: Path
    envs: Path
    pkgs: Path
    store: Path

    @property
    def condarc(self) -> Path:
        return self.home / ".condarc"

    @property
    def environments_txt(self) -> Path:
        return self.home / ".conda" / "environments.txt"


@pytest.fixture(autouse=True)
def conda_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CondaDirs]:
    """Isolate this test's conda (in-process and child processes) under a fresh directory."""
    from conda.base import context as context_module
    from conda.base.context import reset_context
    from conda.plugins.manager import get_plugin_manager

    root = tmp_path_factory.mktemp("conda")
    for name in [name for name in os.environ if is_inherited_conda_var(name)]:
        monkeypatch.delenv(name)
    for name, value in {**isolation_vars(root), **_NO_DEFAULTS}.items():
        monkeypatch.setenv(name, value)
    dirs = CondaDirs(
        root=root,
        home=Path(os.environ["HOME"]),
        envs=Path(os.environ["CONDA_ENVS_DIRS"]),
        pkgs=Path(os.environ["CONDA_PKGS_DIRS"]),
        store=Path(os.environ["CONDA_PLUGINS_ENVGUARD_STORE"]),
    )
    dirs.home.mkdir()
    # Computed from HOME once, at import: `conda config` (no --file) would write the session's.
    monkeypatch.setattr(context_module, "user_rc_path", str(dirs.condarc))
    reset_context()
    yield dirs
    # An in-process `--no-plugins` (or CONDA_NO_PLUGINS) blocks envguard in conda's cached
    # plugin manager for the rest of the session: start the next test with a fresh one.
    if any(plugin is None for _, plugin in get_plugin_manager().list_name_plugin()):
        get_plugin_manager.cache_clear()


@pytest.fixture
def no_background_expiry(conda_dirs: CondaDirs) -> None:
    """The daily background purge ran today: no detached child races a test's own commands.

    Use it for a module with `pytestmark = pytest.mark.usefixtures("no_background_expiry")`;
    a test of the background job itself sets the stamp back.
    """
    conda_dirs.store.mkdir(mode=0o700, parents=True, exist_ok=True)
    (conda_dirs.store / ".last-expiry").touch()


# --- a filesystem of its own --------------------------------------------------------------


@pytest.fixture
def tmpfs() -> Iterator[Callable[..., Path]]:
    """`tmpfs(path, size="64M") -> path`: a filesystem of its own mounted at `path` (made if
    missing), unmounted after the test. Skips the test where a tmpfs cannot be mounted."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "64M") -> Path:
        if getattr(os, "geteuid", lambda: -1)() != 0:
            pytest.skip("mounting a tmpfs needs root")
        if not shutil.which("mount"):
            pytest.skip("no mount command to mount a tmpfs with")
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


# --- conda in-process ----------------------------------------------------------------------


@pytest.fixture
def cli(conda_cli: CondaCLIFixture) -> Callable[..., Any]:
    """conda in-process, each command as if it were its own process, as users run it.

    conda caches what it read of an env (`PrefixData`) for the life of a process; a real
    `conda install` starts with an empty cache, so each call here does too.
    `run(*args) -> (out, err)` asserts success; `run(*args, raises=E)` returns pytest's
    ExceptionInfo; `run.json(*args) -> data` adds --json and parses stdout.
    """
    from conda.core.prefix_data import PrefixData

    def run(*args, raises=None):
        PrefixData._cache_.clear()  # a new process starts with conda's caches empty
        if raises is not None:
            _out, _err, excinfo = conda_cli(*args, raises=raises)
            return excinfo
        out, err, code = conda_cli(*args)
        assert code in (0, None), f"conda {' '.join(map(str, args))} failed ({code}):\n{err}"
        return out, err

    def run_json(*args):
        out, _ = run(*args, "--json")
        return json.loads(out)

    run.json = run_json
    return run


# --- conda in a child process --------------------------------------------------------------


@dataclass
class CondaRun:
    """Run `python -m conda ARGS` in the test's isolated environment.

    stdin is empty unless `input` is given. conda takes an empty answer (end of file too) as
    the default, which is "yes" for its "Proceed ([y]/n)?" questions: pass `input="n\\n"` to
    refuse, and one line per question conda will ask.
    """

    cwd: Path

    def __call__(
        self,
        *args: str | os.PathLike[str],
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
        check: bool = False,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        environ = dict(os.environ)
        for name, value in (env or {}).items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        return run_conda(
            *args, env=environ, input=input, check=check, cwd=cwd or self.cwd, timeout=timeout
        )


@pytest.fixture
def conda_run(conda_dirs: CondaDirs, tmp_path: Path) -> CondaRun:
    """`conda_run(*args, input=None, env=None, check=False)` -> CompletedProcess (text).

    `env` adds to or (with None) removes from the isolated environment for this one run.
    """
    return CondaRun(cwd=tmp_path)


# --- the local channel ---------------------------------------------------------------------


@dataclass(frozen=True)
class LocalChannel:
    path: Path
    url: str
    pkgs: tuple[Pkg, ...]

    @property
    def args(self) -> tuple[str, str, str]:
        """Arguments that make conda use this channel only."""
        return ("--override-channels", "-c", self.url)


def standard_packages() -> tuple[Pkg, ...]:
    return (
        Pkg("alpha", "1.0"),
        Pkg("alpha", "2.0"),
        Pkg("beta", "1.0", depends=("alpha",)),
        Pkg("gamma", "1.0"),
        fake_python(),
        fake_pip(),
        Pkg("bigpkg", "1.0", n_files=BIGPKG_FILES),
    )


@pytest.fixture(scope="session")
def channel(tmp_path_factory: pytest.TempPathFactory) -> LocalChannel:
    """A file:// channel: alpha 1.0/2.0, beta 1.0 (needs alpha), gamma 1.0, python 3.11.0
    (fake; needs pip, as conda adds), pip, and bigpkg with BIGPKG_FILES files."""
    pkgs = standard_packages()
    path = build_channel(tmp_path_factory.mktemp("channel"), pkgs)
    return LocalChannel(path=path, url=channel_url(path), pkgs=pkgs)


@pytest.fixture(scope="session")
def channel_args(channel: LocalChannel) -> tuple[str, str, str]:
    """`("--override-channels", "-c", <channel url>)`."""
    return channel.args


@pytest.fixture
def token_channel(channel: LocalChannel) -> Iterator[TokenChannelServer]:
    """The channel served over HTTP on 127.0.0.1, only under `/t/<token>/chan/`.

    `.url` is `http://user:secret@127.0.0.1:PORT/t/tk-123456/chan`; `.token`, `.user`,
    `.password` are the secrets to look for; `.requests`/`.served` record what conda fetched.
    """
    with TokenChannelServer(channel.path) as server:
        yield server


# --- environments --------------------------------------------------------------------------


class EnvTemplates:
    """Envs made once per session by real conda, one per package set, to copy from."""

    def __init__(self, root: Path, channel: LocalChannel) -> None:
        self.root = root
        self.channel = channel
        self._made: dict[tuple[str, ...], Path] = {}

    def get(self, packages: tuple[str, ...]) -> Path:
        key = tuple(sorted(packages))
        if key not in self._made:
            prefix = self.root / ("tpl-" + hashlib.sha1("\0".join(key).encode()).hexdigest()[:12])
            # A child process with the session's own dirs: the test's env vars, context and
            # package cache stay out of it.
            run_conda(
                "create", "-p", prefix, *self.channel.args, *key, "--yes", "--quiet",
                env=conda_environ(_SESSION_ROOT), check=True,
            )  # fmt: skip
            self._made[key] = prefix
        return self._made[key]


@pytest.fixture(scope="session")
def env_templates(channel: LocalChannel) -> EnvTemplates:
    root = _SESSION_ROOT / "templates"
    root.mkdir()
    return EnvTemplates(root, channel)


@dataclass
class MakeEnv:
    """`make_env(name, *packages, copy=True) -> prefix` in the test's envs dir.

    copy=True copies a session template made by real conda from the local channel (a real
    copy, not hard links, so a test may edit the env's files), fixes the prefix in its
    history and registers it as conda does. copy=False runs `conda create` in-process.
    """

    dirs: CondaDirs
    templates: EnvTemplates
    conda_cli: CondaCLIFixture

    def __call__(self, name: str, *packages: str, copy: bool = True) -> Path:
        prefix = self.dirs.envs / name
        if prefix.exists():
            raise FileExistsError(f"env {name!r} exists already: {prefix}")
        if not copy:
            out, err, code = self.conda_cli(
                "create", "-n", name, *self.templates.channel.args, *packages, "--yes", "--quiet"
            )
            assert code == 0, f"conda create failed ({code}):\n{out}\n{err}"
            return prefix

        from conda.core.envs_manager import register_env

        template = self.templates.get(packages)
        # shutil.copy: content and mode; copy2's timestamps cost a third more, for nothing.
        shutil.copytree(template, prefix, symlinks=True, copy_function=shutil.copy)
        history = prefix / "conda-meta" / "history"
        history.write_text(
            history.read_text(encoding="utf-8").replace(str(template), str(prefix)),
            encoding="utf-8",
        )
        created_at = prefix / "conda-meta" / "created_at"
        if created_at.exists():
            created_at.write_text(str(time.time()), encoding="utf-8")
        register_env(str(prefix))
        return prefix


@pytest.fixture
def make_env(
    conda_dirs: CondaDirs, env_templates: EnvTemplates, conda_cli: CondaCLIFixture
) -> MakeEnv:
    return MakeEnv(conda_dirs, env_templates, conda_cli)


# --- a machine-wide policy -----------------------------------------------------------------


@pytest.fixture
def machine_condarc(
    conda_dirs: CondaDirs, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], Path]]:
    """`machine_condarc(yaml_text) -> path`: a machine-wide `.condarc` that conda reads for
    every user, in conda's root prefix (`$CONDA_ROOT/condarc.d/`, where an admin of a
    Miniforge install puts a policy), for in-process and child conda alike.

    `$CONDA_ROOT` is a directory of the test's own (conda takes the variable when it is set,
    and sets it to its own prefix only when it is not): a policy written into the real root
    prefix would reach every other conda of that installation meanwhile, those of tests
    running at the same time (pytest-xdist) included."""
    from conda.base.context import reset_context

    root = conda_dirs.root / "conda-root"
    directory = root / "condarc.d"
    written: list[Path] = []

    def write(text: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"envguard-test-{len(written)}.yml"
        written.append(path)
        path.write_text(text)
        reset_context()
        return path

    monkeypatch.setenv("CONDA_ROOT", str(root))
    reset_context()
    yield write


# --- a team's git history ------------------------------------------------------------------


@pytest.fixture
def server(tmp_path) -> Path:
    """A bare repository: the team's git server."""
    bare = tmp_path / "server.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    return bare


@pytest.fixture
def history(tmp_path, server, monkeypatch) -> Path:
    """The first machine's clone of the server, set as envguard_git."""
    repo = tmp_path / "history"
    subprocess.run(["git", "clone", "-q", str(server), str(repo)], check=True, capture_output=True)
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_GIT", str(repo))
    return repo
