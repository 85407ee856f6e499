"""An isolated place to run real conda: its own channel, package cache, envs dir and store.

Nothing the user has leaks in (no `~/.condarc`, no `CONDA_*` variables, no envs, no Jupyter
kernels) and nothing leaks out: every path conda or envguard writes to is under one
temporary directory.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

# The channel builder is shared with the test suite (stdlib only, imports no conda).
from conda_envguard.expiry import STAMP as EXPIRY_STAMP
from conda_envguard.testing.channel import Pkg, build_channel, channel_url

from .timing import Run

REPO_ROOT = Path(__file__).resolve().parent.parent
# Variables that would point conda or envguard at the user's own config, envs or kernels.
_DROPPED = ("CONDA", "_CE_", "MAMBA", "JUPYTER")


class CondaFailed(RuntimeError):
    """A conda command of the benchmark failed: the numbers would mean nothing."""


class Sandbox:
    """A temporary conda world; `conda(...)` runs `python -m conda` inside it and times it."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.channel = root / "channel"
        self.index_channel = root / "channel-index"
        self.pkgs_dir = root / "pkgs"
        self.envs_dir = root / "envs"
        self.store = root / "store"
        self.specs_dir = root / "specs"
        for directory in (self.home, self.pkgs_dir, self.envs_dir, self.specs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.prepare_store(self.store)
        self.channel_url = channel_url(self.channel)
        self.env = self._isolated_env()

    @classmethod
    def create(cls) -> Sandbox:
        return cls(Path(tempfile.mkdtemp(prefix="envguard-bench-")).resolve())

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _isolated_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(_DROPPED) and k != "PYTHONDONTWRITEBYTECODE"
        }
        env.update(
            # Installed packages have their bytecode; a checkout run with
            # PYTHONDONTWRITEBYTECODE would compile envguard's modules on every command, a
            # cost no user pays. The sandbox keeps its own bytecode: nothing written elsewhere.
            PYTHONPYCACHEPREFIX=str(self.root / "pycache"),
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            CONDA_PKGS_DIRS=str(self.pkgs_dir),
            CONDA_ENVS_DIRS=str(self.envs_dir),
            CONDA_PLUGINS_ENVGUARD_STORE=str(self.store),
            CONDA_SOLVER="classic",
            CONDA_CHANNELS=self.channel_url,
            # no network here, and nothing that might try it
            CONDA_NOTIFY_OUTDATED_CONDA="false",
            CONDA_NUMBER_CHANNEL_NOTICES="0",
        )
        return env

    @staticmethod
    def prepare_store(store: Path) -> None:
        """A store as envguard makes it, whose daily expiry has already run.

        The first guarded command of a day starts a background `purge --expired`: here that
        would be a stray process competing for the cores during the timed runs.
        """
        store.mkdir(mode=0o700, parents=True, exist_ok=True)
        (store / EXPIRY_STAMP).touch()

    def write_env_script(self) -> Path:
        """`source` it to run conda by hand in this sandbox (e.g. under a profiler)."""
        keys = sorted(
            k for k in self.env if k.startswith(("CONDA", "XDG_", "PYTHONPYCACHE")) or k == "HOME"
        )
        dropped = [k for k in os.environ if k.startswith(_DROPPED)] + ["PYTHONDONTWRITEBYTECODE"]
        lines = [f"unset {k}" for k in sorted(dropped)]
        lines += [f"export {k}={shlex.quote(self.env[k])}" for k in keys]
        lines.append(f'conda() {{ {shlex.quote(sys.executable)} -m conda "$@"; }}')
        path = self.root / "env.sh"
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- running conda ------------------------------------------------------------------------
    def conda(self, *args: str, plugins: bool = True, env: Mapping[str, str] | None = None) -> Run:
        """Run `python -m conda ARGS` (with `--no-plugins` unless `plugins`); time it."""
        command = [sys.executable, "-m", "conda", *([] if plugins else ["--no-plugins"]), *args]
        return self.run(command, env)

    def run(self, command: list[str], env: Mapping[str, str] | None = None) -> Run:
        # wait4 gives this one child's CPU time, so its output goes to files rather than
        # pipes read by communicate()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.perf_counter()
            proc = subprocess.Popen(
                command,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,  # a question conda asks must fail, not hang
                stdout=out,
                stderr=err,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0), err.seek(0)
            stdout, stderr = (
                out.read().decode(errors="replace"),
                err.read().decode(errors="replace"),
            )
        if proc.returncode != 0:
            tail = "\n".join((stderr or stdout).strip().splitlines()[-15:])
            raise CondaFailed(f"`{shlex.join(command[1:])}` exited {proc.returncode}:\n{tail}")
        return Run(seconds, usage.ru_utime + usage.ru_stime, stdout)

    def peak_mb(self, command: list[str], env: Mapping[str, str] | None = None) -> float:
        """The largest resident set of `command` (or of its largest child), in MB.

        Started from a small Python that waits for it: a child forked from this process
        would count this process's own memory in its peak (Linux keeps the high-water mark
        across exec)."""
        probe = (
            "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:], "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "_, status, usage = os.wait4(p.pid, 0); "
            "print(usage.ru_maxrss if status == 0 else -1)"
        )
        kb = float(self.run([sys.executable, "-c", probe, *command], env).stdout)
        if kb < 0:
            raise CondaFailed(f"`{shlex.join(command[1:])}` failed")
        return kb / 1024  # KB on Linux

    def compile_bytecode(self) -> None:
        """Bytecode for conda and envguard up front, so no timed run compiles them."""
        dirs = []
        for package in ("conda", "conda_envguard"):
            spec = importlib.util.find_spec(package)  # finds, does not import
            if spec and spec.submodule_search_locations:
                dirs += list(spec.submodule_search_locations)
        self.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *dirs])

    # -- channel and envs ---------------------------------------------------------------------
    def build_channel(self, pkgs: Iterable[Pkg]) -> None:
        build_channel(self.channel, pkgs)

    def prefix(self, name: str) -> Path:
        return self.envs_dir / name

    def create_explicit(self, name: str, pkgs: Iterable[Pkg]) -> None:
        """Create env `name` from an @EXPLICIT list: no solve, so a 1,000-package env is quick."""
        urls = [f"{self.channel_url}/{p.subdir}/{p.filename}" for p in pkgs]
        spec = self.specs_dir / f"{name}.txt"
        spec.write_text("@EXPLICIT\n" + "\n".join(urls) + "\n")
        self.conda("create", "-n", name, "--file", str(spec), "-y", plugins=False)

    def remove_dir(self, name: str) -> None:
        """Delete an env's directory without conda: clean-up outside the timed part."""
        shutil.rmtree(self.prefix(name), ignore_errors=True)
