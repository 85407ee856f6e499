"""Locks between conda processes: one per env, one for store-wide writes.

Two conda processes acting on the same env (remove, create over it, undo, restore, purge,
snapshot) never both act: the second waits, for `envguard_lock_timeout` seconds at most, then
stops with a "busy" error. Deleting snapshots (prune) takes the store lock exclusively; a
restore holds it shared, so the snapshot it reads is not pruned under it.

The locks are `flock`s (`msvcrt.locking` on Windows) on small files in `<store>/locks/`: the
kernel releases them when their holder exits, even killed with SIGKILL, so a crashed process
never blocks anyone. A process may take a lock it already holds (it is counted), and so may a
conda process it runs while holding it (see `for_child`): the parent waits for that child.

Order, to rule out deadlocks: an env's lock before the store lock, never the other way.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_POLL_SECONDS = 0.05
DEFAULT_TIMEOUT = 60.0
# Set for a conda process run by one holding locks: {"pid": parent's pid, "locks": [paths]}
_INHERITED = "CONDA_ENVGUARD_INHERITED_LOCKS"

# lock file path -> what this process holds there
_held: dict[str, _Held] = {}
# locks held for a whole conda command (taken in the pre-command hook), released after it
_for_command: list[str] = []


@dataclass
class _Held:
    fd: int
    count: int
    shared: bool


def env_lock(prefix: str | os.PathLike) -> str:
    """The lock name of the env at `prefix`."""
    key = hashlib.sha256(os.path.normpath(os.path.abspath(str(prefix))).encode()).hexdigest()
    return f"env-{key[:24]}"


STORE = "store"


@contextmanager
def hold(
    store_root: Path, name: str, what: str, shared: bool = False, timeout: float | None = None
) -> Iterator[None]:
    """Hold lock `name` of the store at `store_root` for the block; `what` names what it
    guards in the busy error ("the environment 'x'")."""
    path = acquire(store_root, name, what, shared, timeout)
    try:
        yield
    finally:
        release(path)


def acquire(
    store_root: Path, name: str, what: str, shared: bool = False, timeout: float | None = None
) -> str | None:
    """Take lock `name`; returns its handle for `release`, or None when the store can't hold a
    lock file (then nothing can be written there either, and the write says why)."""
    directory = Path(store_root) / "locks"
    path = str(directory / f"{name}.lock")
    if _inherited(path):
        return None  # the parent holds it, and waits for this process
    held = _held.get(path)
    if held is not None:
        held.count += 1
        return path
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    if timeout is None:
        from .settings import lock_timeout

        timeout = lock_timeout()
    deadline = time.monotonic() + timeout
    said = False
    while not _try_lock(fd, shared):
        if time.monotonic() >= deadline:
            holder = _holder(fd)
            os.close(fd)
            from .exceptions import BusyError

            raise BusyError(what, holder, timeout)
        if not said:  # once, as the wait starts: a silent wait looks like a hang
            _say_waiting(what, fd, timeout)
            said = True
        time.sleep(_POLL_SECONDS)
    if not shared:
        _write_holder(fd)
    _held[path] = _Held(fd, 1, shared)
    return path


def for_child(env: dict[str, str]) -> dict[str, str]:
    """`env` for a conda process this one runs and waits for: the child acts under this
    process's locks instead of waiting for them (a restore's `conda env create`)."""
    env[_INHERITED] = json.dumps({"pid": os.getpid(), "locks": sorted(_held)})
    return env


def _inherited(path: str) -> bool:
    raw = os.environ.get(_INHERITED)
    if not raw:
        return False
    try:
        given = json.loads(raw)
        return given["pid"] == os.getppid() and path in given["locks"]
    except (ValueError, KeyError, TypeError):
        return False


def release(path: str | None) -> None:
    held = _held.get(path) if path else None
    if held is None:
        return
    held.count -= 1
    if held.count > 0:
        return
    del _held[path]
    try:
        _unlock(held.fd)
    finally:
        os.close(held.fd)


def acquire_for_command(store_root: Path, name: str, what: str) -> None:
    """Hold a lock until the running conda command ends (see `release_command_locks`)."""
    release_later(acquire(store_root, name, what))


def release_later(path: str | None) -> None:
    """Release an acquired lock when the running command ends."""
    if path is not None:
        _for_command.append(path)


def release_command_locks() -> None:
    while _for_command:
        release(_for_command.pop())


def _holder_lines(fd: int) -> list[str]:
    """What the holder wrote: its pid, then its command line (either may be missing)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 4096).decode(errors="replace").splitlines()
    except OSError:
        return []


def _holder(fd: int) -> str:
    lines = _holder_lines(fd)
    return lines[0].strip() if lines else ""


def _say_waiting(what: str, fd: int, timeout: float) -> None:
    import sys

    lines = _holder_lines(fd)
    pid = lines[0].strip() if lines and lines[0].strip().isdigit() else ""
    command = lines[1].strip() if pid and len(lines) > 1 else ""
    by = f"process {pid}" + (f": {command}" if command else "") if pid else "another process"
    print(
        f"envguard: {what} is busy ({by}); waiting for it, up to {timeout:g} s "
        "(envguard_lock_timeout)...",
        file=sys.stderr,
        flush=True,
    )


def _write_holder(fd: int) -> None:
    """Write this process's pid and command line, for whoever waits for the lock."""
    import shlex
    import sys

    from .redact import redact

    # no credentials in the store: a channel URL on the command line may hold a token
    command = redact(shlex.join(["conda", *sys.argv[1:]])) if sys.argv else ""
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n{command[:1000]}\n".encode(errors="replace"))
    except OSError:
        pass  # only for the busy message


try:
    import fcntl

    def _try_lock(fd: int, shared: bool) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # Windows: msvcrt locks one byte, exclusively only
    import msvcrt

    def _try_lock(fd: int, shared: bool) -> bool:
        os.lseek(fd, 1 << 20, os.SEEK_SET)  # past the holder's pid, which stays readable
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 1 << 20, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
