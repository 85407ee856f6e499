"""Bring an env back from a snapshot (or from the trash, when it still holds that env).

Order of preference: the trash (one rename: the env exactly as it was); the explicit lock
(the exact packages, straight from the package cache when it still has them, so it works
offline right after a removal); conda's environment.yml as the fallback when the lock can't
be used (another platform, packages gone from cache and channel). Then the pip packages.
Every restore ends by comparing the env with the snapshot.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .envs import register
from .snapshot import Snapshot


@dataclass
class RestoreReport:
    snapshot_id: str
    prefix: str
    method: str = ""  # "trash", "explicit" or "environment.yml"
    pip: str = "none"  # "none", "installed" or "failed: ..."
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kernels: list[str] = field(default_factory=list)
    restored_files: list[str] = field(default_factory=list)  # settings and kept files put back
    files_differ: list[str] = field(default_factory=list)  # "path: how", see envfiles

    @property
    def exact(self) -> bool:
        return not (self.missing or self.extra or self.changed or self.files_differ)

    def to_json(self) -> dict:
        return {**self.__dict__, "exact": self.exact}


def restore(snapshot: Snapshot, target: Path) -> RestoreReport:
    """Recreate the env of `snapshot` at `target`, which must not hold an env."""
    snapshot = snapshot.full()
    report = RestoreReport(snapshot.id, str(target))
    if _restore_from_trash(snapshot, target):
        report.method = "trash"
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not _restore_from_lock(snapshot, target, report):
            _restore_from_yaml(snapshot, target)
            report.method = "environment.yml"
        _restore_pip(snapshot, target, report)
        _keep_history(snapshot, target)
        from .kernels import restore_from_snapshot

        report.kernels = restore_from_snapshot(snapshot, target)
        _put_back_files(snapshot, target, report)
        register(target)
    compare(snapshot, target, report)
    from .lost import note_back

    note_back(target)
    return report


def _restore_from_trash(snapshot: Snapshot, target: Path) -> bool:
    from .trash import Trash

    trash = Trash()
    for entry in trash.entries():
        if entry.snapshot_id == snapshot.id and entry.whole:
            try:
                trash.move_out(entry, target)
            except OSError:
                return False  # e.g. the target is on another filesystem: use the lock
            return True
    return False


def _restore_from_lock(snapshot: Snapshot, target: Path, report: RestoreReport) -> bool:
    from conda import CondaError
    from conda.base.context import context

    lock = snapshot.file("explicit.txt")
    if snapshot.meta.get("platform") not in (None, context.subdir):
        report.notes.append(
            f"the lock is for {snapshot.meta['platform']}, this is {context.subdir}: "
            "used environment.yml"
        )
        return False
    try:
        specs = [
            line.strip()
            for line in lock.read_text().splitlines()
            if line.strip() and not line.startswith("#") and line.strip() != "@EXPLICIT"
        ]
    except OSError as e:
        report.notes.append(f"no usable lock ({e.strerror}): used environment.yml")
        return False
    if not specs:
        report.notes.append("the lock lists no packages: used environment.yml")
        return False
    from .linker import install_lock
    from .pkgkeep import seed_from_store
    from .redact import with_credentials

    seed_from_store(specs, report.notes)  # packages kept by envguard, for an empty cache

    # Credentials were never stored: take them from the channels conda is configured with.
    specs = [with_credentials(spec, context.channels) for spec in specs]
    try:
        install_lock(specs, target)
    except (CondaError, OSError) as e:
        report.notes.append(f"the lock could not be used ({_first_line(e)}): used environment.yml")
        _clean_failed(target)
        return False
    except BaseException:  # e.g. Ctrl-C: no half-made env left behind, as conda does
        _clean_failed(target)
        raise
    report.method = "explicit"
    return True


def _restore_from_yaml(snapshot: Snapshot, target: Path) -> None:
    from .exceptions import RestoreFailedError

    yml = snapshot.file("environment.yml")
    if not yml.is_file():
        raise RestoreFailedError(
            f"Snapshot {snapshot.id} has neither a usable lock nor an environment.yml."
        )
    # The file gets the configured channels' credentials back in a private copy, deleted
    # right after: the store itself never holds them.
    with tempfile.TemporaryDirectory(prefix="envguard-") as private:
        copy = Path(private, "environment.yml")
        copy.write_text(_with_channel_credentials(yml.read_text()))
        result = _conda_env_create(copy, target)
    if result.returncode != 0:
        _clean_failed(target)
        raise RestoreFailedError(
            f"envguard could not recreate {target} from snapshot {snapshot.id}: neither its "
            "lock nor its environment.yml could be installed.\n"
            f"  conda said: {(result.stderr or '').strip()[-2000:]}\n"
            f"  The snapshot is unchanged; its files are in {snapshot.path}"
        )


def _with_channel_credentials(text: str) -> str:
    from conda.base.context import context

    from .redact import URL_PATTERN, with_credentials

    return URL_PATTERN.sub(lambda m: with_credentials(m.group(0), context.channels), text)


def _conda_env_create(yml: Path, target: Path) -> subprocess.CompletedProcess:
    """`conda env create` in a separate conda process: it reads the file, solves and creates
    exactly as the user's own command would, without disturbing this process's context."""
    from conda.base.context import context

    cmd = [sys.executable, "-m", "conda", "env", "create", "--yes"]
    cmd += ["-f", str(yml), "-p", str(target)]
    if context.quiet or context.json:
        cmd.append("--quiet")
    from .locks import for_child

    env = for_child({k: v for k, v in os.environ.items() if k != "CONDA_PREFIX_1"})
    return subprocess.run(
        cmd,
        env=env,
        stdout=subprocess.PIPE if context.json else None,
        stderr=subprocess.PIPE,
        text=True,
    )


def _restore_pip(snapshot: Snapshot, target: Path, report: RestoreReport) -> None:
    requirements = snapshot.file("pip.txt")
    if not requirements.is_file():
        return
    python = target / ("python.exe" if sys.platform == "win32" else "bin/python")
    command = [str(python), "-m", "pip", "install", "--no-deps", "-r", str(requirements)]
    if not python.exists():
        report.pip = "failed: the restored env has no python"
    else:
        result = subprocess.run(command, capture_output=True, text=True)
        report.pip = (
            "installed" if result.returncode == 0 else "failed: " + _last_line(result.stderr)
        )
    if report.pip != "installed":
        report.notes.append(
            "pip packages were not restored; when the env has python and pip, run:\n    "
            + " ".join(command)
        )


def _keep_history(snapshot: Snapshot, target: Path) -> None:
    """Put the env's old conda history back in front of what the restore itself wrote."""
    old = snapshot.file("history")
    new = target / "conda-meta" / "history"
    try:
        restored = new.read_text()
        new.write_text(old.read_text() + restored)
    except OSError:
        pass


def _put_back_files(snapshot: Snapshot, target: Path, report: RestoreReport) -> None:
    """The env's settings and kept files, last: the frozen marker would stop a later conda."""
    from .envfiles import put_back, read_listing

    listing = read_listing(snapshot.path)
    if listing is not None:
        report.restored_files = put_back(snapshot.path, listing, target)


def compare(snapshot: Snapshot, target: Path, report: RestoreReport) -> None:
    from .diff import diff_packages, live_packages
    from .envfiles import differences, read_listing

    changes = diff_packages(snapshot.packages(), live_packages(target))
    report.missing = [c["name"] for c in changes["removed"]]
    report.extra = [c["name"] for c in changes["added"]]
    report.changed = [c["name"] for c in changes["changed"]]
    listing = read_listing(snapshot.path)
    if listing is not None:
        report.files_differ = differences(snapshot.path, listing, target)
        lost = [u for u in listing.get("unowned", ()) if not u.get("kept")]
        absent = [u["path"] for u in lost if not os.path.lexists(target / u["path"])]
        if absent:
            report.notes.append(
                f"{len(absent)} file(s) no package installed were in the env but not in the "
                f"snapshot, and are not here (see conda envguard show {snapshot.id}): "
                + ", ".join(absent[:5])
                + (", ..." if len(absent) > 5 else "")
            )
    else:
        report.notes.append(
            "this snapshot is older than envguard's copies of env settings: only packages "
            "were compared"
        )


def _clean_failed(target: Path) -> None:
    from conda.gateways.disk.delete import rm_rf

    if target.exists():
        rm_rf(str(target))


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "pip failed"
