"""The trash: a removed env is moved aside in one rename, and comes back in one rename.

The trash sits beside the env (`<envs dir>/.envguard-trash/<id>/env`), on the same
filesystem, so moving even a 20,000-file env costs one `rename`. conda is then left an empty
*shell* at the prefix to remove: a `conda-meta/` holding the env's package records without
their file lists, so conda shows and asks exactly what it always does, and removes nothing
but the shell.

Every entry is also recorded in the store (`<store>/trash/<id>.json`), written before the
move: whatever moment a process is killed at, the env is either in place or in the trash,
and the record says where.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .redact import redact

TRASH_DIRNAME = ".envguard-trash"
SHELL_MARKER = Path("conda-meta", "envguard-shell")

# states of an entry, in the order they happen
MOVING = "moving"  # record written, env not moved yet
PENDING = "pending"  # env in the trash, the conda command still running
TRASHED = "trashed"  # the command completed: the env stays in the trash until undo or expiry
PURGING = "purging"


@dataclass
class TrashEntry:
    id: str
    prefix: str
    env_name: str
    location: str  # the entry's directory; the env itself is in <location>/env
    trashed_at: str
    expires_at: str
    state: str = MOVING
    snapshot_id: str | None = None
    size_bytes: int | None = None
    kernels: list = field(default_factory=list)
    command: str = ""
    pid: int = 0  # the conda process that moved the env, while its command runs
    order: int = 0  # exact order among the trash's entries (see `order`)
    # when that process started (see `process_start`): a pid the system gave to another
    # program since is not the mover; None in records of older envguards
    pid_start: int | None = None

    @property
    def env_dir(self) -> Path:
        return Path(self.location, "env")

    @property
    def in_use(self) -> bool:
        """Is the conda command that moved this env still running (e.g. at its question)?"""
        return self.state in (MOVING, PENDING) and _alive(self.pid, self.pid_start)

    @property
    def whole(self) -> bool:
        """Can this env come back as it was? Not while its command runs, nor half purged."""
        return self.state != PURGING and not self.in_use

    @property
    def expired(self) -> bool:
        return _parse(self.expires_at) <= datetime.now(timezone.utc)

    def to_json(self) -> dict:
        return dict(self.__dict__)


class Trash:
    def __init__(self, store_root: Path | None = None):
        if store_root is None:
            from .settings import store_dir

            store_root = store_dir()
        self.records_dir = Path(store_root) / "trash"
        self.damaged: list[tuple[Path, str]] = []

    # -- records ---------------------------------------------------------------------------
    def _record_path(self, entry_id: str) -> Path:
        return self.records_dir / f"{entry_id}.json"

    def save(self, entry: TrashEntry) -> None:
        from .atomic import write_text_atomic

        self.records_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_text_atomic(
            self._record_path(entry.id), json.dumps(entry.to_json(), indent=2), 0o600
        )

    def forget(self, entry: TrashEntry) -> None:
        try:
            self._record_path(entry.id).unlink()
        except FileNotFoundError:
            pass

    def entries(self) -> list[TrashEntry]:
        """Entries that hold an env, oldest first; records of moves that never happened are
        dropped on the way."""
        from conda.base.context import context

        from .integrity import check_private

        check_private(self.records_dir.parent)
        check_private(self.records_dir)
        tidy = not context.dry_run  # a dry run changes nothing, not even stale records
        out = []
        self.damaged = []  # (record, why): reported by `trash` and `verify`, never acted on
        try:
            paths = sorted(p for p in self.records_dir.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return []
        except OSError as e:  # not "an empty trash": say it can't be read
            self.damaged.append((self.records_dir, f"unreadable ({e.strerror or e})"))
            return []
        for path in paths:
            try:
                if path.is_symlink():
                    raise ValueError("a symbolic link")
                entry = TrashEntry(**json.loads(path.read_text()))
                problem = _unsound(entry, path)
            except (OSError, ValueError, TypeError) as e:
                problem = f"unreadable ({e})"
            if problem:
                self.damaged.append((path, problem))
                continue
            if not entry.env_dir.is_dir():
                if entry.state == MOVING and entry.in_use:
                    continue  # its mover is between this record and its rename: hands off
                gone = not Path(entry.location).exists()
                if tidy and (
                    gone or (entry.state in (MOVING, PURGING) and not is_shell(entry.prefix))
                ):
                    self.forget(entry)  # killed before the rename, or purged: nothing held
                    _remove_if_empty(Path(entry.location))
                continue
            out.append(entry)
        from .order import order_key

        out.sort(key=lambda e: order_key(e.order, e.trashed_at, e.id))
        return out

    def find(self, name_or_prefix: str | None = None) -> list[TrashEntry]:
        entries = self.entries()
        if not name_or_prefix:
            return entries
        wanted = (
            os.path.normpath(os.path.abspath(name_or_prefix)) if os.sep in name_or_prefix else None
        )
        return [
            e
            for e in entries
            if e.env_name == name_or_prefix
            or e.id == name_or_prefix
            or (wanted and os.path.normpath(e.prefix) == wanted)
        ]

    # -- moving ----------------------------------------------------------------------------
    def move_in(
        self, prefix: Path, name: str, entry_id: str, days: int, command: str = ""
    ) -> TrashEntry:
        """Move the env at `prefix` into the trash. Raises OSError when it can't be a rename."""
        from .order import next_stamp

        location = prefix.parent / TRASH_DIRNAME / entry_id
        now = datetime.now(timezone.utc)
        entry = TrashEntry(
            id=entry_id,
            prefix=str(prefix),
            env_name=name,
            location=str(location),
            trashed_at=now.isoformat(timespec="seconds"),
            expires_at=(now + timedelta(days=days)).isoformat(timespec="seconds"),
            snapshot_id=entry_id,
            command=redact(command),
            pid=os.getpid(),
            pid_start=process_start(os.getpid()),
            order=next_stamp(self.records_dir.parent),
        )
        if os.stat(prefix).st_dev != os.stat(prefix.parent).st_dev:
            raise OSError(18, "the environment is a mount point of its own", str(prefix))
        _make_private(location.parent, exist_ok=True)
        if problem := unsafe(location.parent):
            reason, fix = problem
            raise OSError(errno.EPERM, f"{location.parent}: {reason}; if it is yours: {fix}")
        _make_private(location)
        try:
            self.save(entry)
            os.rename(prefix, entry.env_dir)
        except BaseException:
            # e.g. Ctrl-C right after the rename: the env goes back, it is never deleted
            if entry.env_dir.is_dir() and not os.path.lexists(prefix):
                os.rename(entry.env_dir, prefix)
            if not entry.env_dir.exists():
                self.forget(entry)
                _remove_if_empty(location)
            raise
        entry.state = PENDING
        self.save(entry)
        return entry

    def keep(self, entry: TrashEntry) -> None:
        """The command that moved the env in completed: the entry stays until undo or expiry.

        Its size is measured when `trash`, `purge` or `conda doctor` show it: walking a big env
        here would cost the removal as much again as all the rest of envguard's work."""
        entry.state = TRASHED
        self.save(entry)

    def hide_kernels(self, entry: TrashEntry) -> None:
        """Jupyter kernelspecs of the trashed env leave Jupyter with it, into its entry."""
        from .kernels import move_kernels_into

        moved = move_kernels_into(entry.prefix, entry.location)
        if moved:
            entry.kernels = moved
            self.save(entry)

    def move_out(self, entry: TrashEntry, prefix: Path | None = None) -> Path:
        """Put the env of `entry` back at `prefix` (default: where it came from).

        Raises OSError (the env stays in the trash) when that can't be a rename."""
        target = Path(prefix or entry.prefix)
        if not entry.env_dir.is_dir():
            raise FileNotFoundError(2, "the trash no longer holds this env", str(entry.env_dir))
        check_safe(entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        # The shell conda was given is set aside, not deleted, until the env is back in place.
        shell = None
        if is_shell(target):
            shell = target.with_name(f".{target.name}.envguard-shell-{entry.id}")
            os.rename(target, shell)
        try:
            os.rename(entry.env_dir, target)
        except OSError:
            if shell is not None:
                os.rename(shell, target)
            raise
        if shell is not None:
            _discard_shell(shell)
        from .envs import register
        from .kernels import restore_kernels

        register(target)
        self.forget(entry)
        try:
            restore_kernels(entry, target)
        except OSError as e:  # never fail the env's return over them, never delete them
            print(
                f"envguard: {target} is back, but its Jupyter kernelspecs could not all be "
                f"put back ({e.strerror or e}); what is left of them is in "
                f"{Path(entry.location, 'kernels')}",
                file=sys.stderr,
            )
            return target
        shutil.rmtree(entry.location, ignore_errors=True)
        _remove_if_empty(Path(entry.location).parent)
        return target

    def purge(self, entry: TrashEntry) -> None:
        """Delete the entry for good, record too. What cannot be deleted stays with its
        record, as purging, so `trash` shows what is left and another `purge` tries again."""
        entry.state = PURGING
        self.save(replace(entry, size_bytes=None))  # measured again when shown: part may go
        from conda.gateways.disk.delete import rm_rf

        rm_rf(entry.location)
        if os.path.lexists(entry.location):  # rm_rf gives up quietly on some files
            shutil.rmtree(entry.location, ignore_errors=True)
        if os.path.lexists(entry.location):
            return
        self.forget(entry)
        _remove_if_empty(Path(entry.location).parent)


def _unsound(entry: TrashEntry, record: Path) -> str | None:
    """Why a record can't be trusted to say where an env is, or None. An entry lives in the
    trash beside its env (`<parent>/.envguard-trash/<id>`) and nowhere else."""
    fields = (entry.id, entry.prefix, entry.env_name, entry.location, entry.trashed_at)
    numbers = (entry.order, entry.pid, entry.pid_start or 0)
    if not all(isinstance(f, str) for f in fields) or not all(type(n) is int for n in numbers):
        return "not an envguard trash record"
    if record.name != f"{entry.id}.json" or entry.id in ("", ".", "..") or "/" in entry.id:
        return "its id does not match its file name"
    prefix = Path(entry.prefix)
    if not prefix.is_absolute() or ".." in prefix.parts:
        return f"its environment path is not absolute: {entry.prefix}"
    if os.path.normpath(entry.location) != os.path.join(
        os.path.normpath(prefix.parent), TRASH_DIRNAME, entry.id
    ):
        return f"it names a place outside the trash beside its environment: {entry.location}"
    for path in (Path(entry.location), Path(entry.location).parent, entry.env_dir):
        if path.is_symlink():
            return f"{path} is a symbolic link"
    return None


def check_safe(entry: TrashEntry) -> None:
    """Refuse (UnsafeTrashError) to bring back an env that another user could have swapped:
    the trash, the entry and the env are this user's, and only the env may be writable by
    others (inside the private entry, nobody else reaches it)."""
    location = Path(entry.location)
    for path in (location.parent, location, entry.env_dir):
        if problem := unsafe(path, mode=path != entry.env_dir):
            from .exceptions import UnsafeTrashError

            name = entry.env_name or entry.prefix
            raise UnsafeTrashError(name, str(path), *problem, entry.snapshot_id)


def _make_private(directory: Path, exist_ok: bool = False) -> None:
    """mkdir, 0700 whatever the umask (under umask 002 it would be writable by the group)."""
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        if not exist_ok:
            raise
        return
    os.chmod(directory, 0o700)


def unsafe(path: Path, mode: bool = True) -> tuple[str, str] | None:
    """Why another user could have put or swapped what is at `path` in the trash, with the
    command that fixes it; None when only this user could (as ssh asks of ~/.ssh). The trash
    sits beside the envs, and envs dirs may be shared. `mode`: group or others may not write
    it either (an env inside a private entry may keep its own mode)."""
    if not hasattr(os, "geteuid"):
        return None  # Windows: no owner or mode bits to read this way
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link", f"rm '{path}'"
    if st.st_uid != os.geteuid():
        return (
            f"it belongs to another user (uid {st.st_uid})",
            f"chown {os.geteuid()} '{path}' && chmod 700 '{path}'",
        )
    if mode and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "other users can write to it", f"chmod 700 '{path}'"
    return None


def make_shell(prefix: Path, entry: TrashEntry, with_records: bool) -> None:
    """Leave conda an env to remove that holds nothing.

    With `with_records`, the shell keeps the env's package records (without their file lists),
    so `conda remove --all` shows the real package plan and asks its usual questions. It is
    built inside the trash entry and renamed into place: the prefix is never half a shell.
    """
    shell = Path(entry.location, "shell")
    meta = shell / "conda-meta"
    meta.mkdir(parents=True)
    (shell / SHELL_MARKER).write_text(str(entry.env_dir) + "\n")
    (meta / "history").touch()
    if with_records:
        for record_path in Path(entry.env_dir, "conda-meta").glob("*.json"):
            try:
                record = json.loads(record_path.read_text())
            except (OSError, ValueError):
                continue
            record["files"] = []
            record["paths_data"] = {"paths_version": 1, "paths": []}
            (meta / record_path.name).write_text(json.dumps(record))
    os.rename(shell, prefix)


def _discard_shell(shell: Path) -> None:
    """Delete a shell set aside, unless someone put files of their own into it since."""
    try:
        foreign = sorted(p.name for p in shell.iterdir() if p.name != "conda-meta")
    except OSError:
        foreign = ["?"]
    if not foreign:
        shutil.rmtree(shell, ignore_errors=True)
        return
    shutil.rmtree(shell / "conda-meta", ignore_errors=True)  # envguard's: no env to list
    print(
        f"envguard: the stand-in envguard had left at the env's place holds files it did not "
        f"put there ({', '.join(foreign[:5])}); they are kept in {shell}",
        file=sys.stderr,
    )


def _alive(pid: int, started: int | None = None) -> bool:
    """Is process `pid`, started at `started` (see `process_start`), still running? Where the
    start can't be compared (no /proc, a record without it), any process with that pid is."""
    if not pid or pid == os.getpid():
        return False  # this very process is not waiting on anything
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # exists, owned by someone else
    now = process_start(pid) if started is not None else None
    return now is None or now == started  # another start: the pid went to another program


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (/proc/PID/stat, field 22), or
    None where the system does not say. With the pid, it names one process for good."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        # the command name (field 2) may hold spaces and parentheses: count from its end
        return int(stat[stat.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def is_shell(prefix: str | os.PathLike) -> bool:
    """Is `prefix` the stand-in envguard left conda to remove?"""
    return Path(prefix, SHELL_MARKER).is_file()


def _empty_dir(path: str | os.PathLike) -> bool:
    try:
        return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)
    except OSError:
        return False


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


def _parse(stamp: str) -> datetime:
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return datetime.now(timezone.utc)


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            break
        size /= 1024
    return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"


def set_aside_plan() -> str:
    """What `set_aside` will do, for a plan shown before it."""
    from .settings import trash_days

    if trash_days() > 0:
        return "it is snapshotted and moved to the trash first"
    return "it is snapshotted, then deleted, as envguard's trash is off"


def set_aside(prefix: Path, trigger: str, snap, contents=None) -> str:
    """Clear the place of the env at `prefix`, whose snapshot `snap` was just saved
    (`saving.save_and_set_aside`): into the trash when it can be a
    rename. Else it is deleted, saying so first, and only when the snapshot can bring back
    all of it: files no package installed (unless `envguard_unowned_files` is `ignore`) stop
    it. Used by `--force` and `clean`. `contents`: the env as read already, if it was.
    Returns the snapshot id."""
    from conda.gateways.disk.delete import rm_rf

    from .envs import name_of
    from .exceptions import EnvGuardError
    from .settings import trash_days, unowned_files

    name = name_of(prefix)
    command = f"conda envguard {trigger}"
    days = trash_days()
    why = "envguard's trash is off (envguard_trash_days is 0)"
    if days > 0:
        trash = Trash()
        try:
            entry = trash.move_in(prefix, name, snap.id, days, command)
        except OSError as e:
            why = f"it can't be moved to the trash ({e.strerror or e})"
        else:
            trash.keep(entry)
            trash.hide_kernels(entry)
            return snap.id
    if contents is None:
        from .envfiles import read_contents

        contents = read_contents(prefix)
    at_risk = contents.files.at_risk
    if at_risk and unowned_files() != "ignore":
        shown = "\n    ".join([u.path for u in at_risk[:5]] + ["..."] * (len(at_risk) > 5))
        raise EnvGuardError(
            f"envguard stopped: {prefix} would have to be deleted, as {why}, and it holds "
            f"{len(at_risk)} file(s) that no package installed and no snapshot can bring "
            f"back:\n    {shown}\n"
            f"  Nothing was deleted (snapshot {snap.id} of its packages was saved).\n"
            "  Move what you want to keep out of it, then run the command again; or, to "
            "delete them with it on purpose, run the command again with "
            "CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=ignore in front of it."
        )
    print(
        f"envguard: deleting {prefix}, as {why}. Snapshot {snap.id} can rebuild it: "
        f"conda envguard restore --snapshot {snap.id}",
        file=sys.stderr,
        flush=True,
    )
    rm_rf(str(prefix))
    if os.path.lexists(prefix) and not _empty_dir(prefix):  # a mount point stays, empty
        raise EnvGuardError(
            f"envguard could not delete all of {prefix} (see what is left there); nothing "
            f"else was changed. Snapshot {snap.id} holds what it was."
        )
    return snap.id
