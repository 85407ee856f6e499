"""An environment for conda that cannot see or touch the real user's conda set-up.

Stdlib only, like the rest of `envguard_testsupport`, so scripts outside pytest can use it too.

conda finds its configuration, package cache, envs and env registry through `HOME` (`~/.condarc`,
`~/.conda/...`), the XDG variables, and `CONDA_*` variables; it also takes the active env from
`CONDA_PREFIX`. `conda_environ` drops everything inherited of that kind and points the rest at
one scratch directory, so the same dictionary serves an in-process conda (applied to
`os.environ`) and a `python -m conda` child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "REAL_HOME",
    "CondaRunError",
    "conda_environ",
    "is_inherited_conda_var",
    "isolation_vars",
    "read_registry",
    "real_registries",
    "run_conda",
]

# The user's home as it was when this module was first imported: import it before moving HOME.
# pytest-xdist's workers inherit the moved HOME from the main process: the variable below,
# which isolation does not drop, carries the real one to them.
REAL_HOME = Path(os.environ.setdefault("ENVGUARD_TESTS_REAL_HOME", str(Path.home())))

# Inherited variables that would steer conda towards the real user's set-up or an active env,
# or envguard towards the user's Jupyter kernelspecs (JUPYTER_DATA_DIR, JUPYTER_PATH). Unset,
# the XDG and Jupyter user dirs fall back to ones under the isolated HOME.
_DROP_EXACT = frozenset({"CONDARC", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"})
_DROP_PREFIXES = ("CONDA_", "_CE_", "JUPYTER_")


def is_inherited_conda_var(name: str) -> bool:
    """Whether an inherited variable must go before conda runs in isolation."""
    return name in _DROP_EXACT or name.startswith(_DROP_PREFIXES)


def isolation_vars(root: str | Path) -> dict[str, str]:
    """The variables to set for an isolated conda whose files all live under `root`."""
    root = Path(root)
    no_proxy = ",".join(
        dict.fromkeys(
            [*filter(None, os.environ.get("NO_PROXY", "").split(",")), "127.0.0.1", "localhost"]
        )
    )
    return {
        # ~/.condarc, ~/.conda/environments.txt, the notices cache, Jupyter's user dir: here.
        "HOME": str(root / "home"),
        "CONDA_PKGS_DIRS": str(root / "pkgs"),
        "CONDA_ENVS_DIRS": str(root / "envs"),
        "CONDA_PLUGINS_ENVGUARD_STORE": str(root / "store"),
        # libmamba is conda's default but not installed here; the classic solver is (pycosat).
        "CONDA_SOLVER": "classic",
        # Unset, conda uploads a crash report when it is not on a tty and `-y` is given.
        "CONDA_REPORT_ERRORS": "false",
        # The token channel server listens on 127.0.0.1: never send that through a proxy.
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def conda_environ(root: str | Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A full environment (default: a copy of `os.environ`) isolated under `root`."""
    base = os.environ if base is None else base
    env = {name: value for name, value in base.items() if not is_inherited_conda_var(name)}
    env.update(isolation_vars(root))
    return env


class CondaRunError(subprocess.CalledProcessError):
    """A failed `python -m conda` run, with its output in the message pytest shows."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_conda(
    *args: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = 600,
    python: str = sys.executable,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m conda ARGS` and capture its text output.

    `input` is typed on stdin, one line per question (e.g. "y\\nn\\n"). Without it stdin is
    empty, and conda takes end-of-file as the default answer, which is *yes* for "Proceed
    ([y]/n)?": a run never hangs, but it does not refuse either. So does input that runs out.
    `env` defaults to the current `os.environ` (isolate it first, see `conda_environ`).
    With `check`, a non-zero exit raises `CondaRunError`, whose message holds the output.
    """
    result = subprocess.run(
        [python, "-m", "conda", *map(str, args)],
        env=dict(os.environ if env is None else env),
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )
    if check and result.returncode:
        raise CondaRunError(result.returncode, result.args, result.stdout, result.stderr)
    return result


def real_registries() -> list[Path]:
    """The `environments.txt` files of real users that a conda run here could read or write.

    As root, `conda env list` reads every user's `~/.conda/environments.txt` (found through
    the password database, not `HOME`) and rewrites any that lists a missing env.
    """
    homes = {REAL_HOME}
    if getattr(os, "geteuid", lambda: -1)() == 0:
        import pwd

        homes.update(Path(entry.pw_dir) for entry in pwd.getpwall() if entry.pw_dir)
    return sorted(home / ".conda" / "environments.txt" for home in homes)


def read_registry(path: Path) -> bytes | None:
    """A registry's bytes, None when it does not exist (or cannot be read)."""
    try:
        return path.read_bytes()
    except OSError:
        return None
