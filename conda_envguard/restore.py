"""Bring an env back from a snapshot (or from the trash, when it still holds that env).

Order of preference: the trash (one rename: the env exactly as it was), only back at the env's
own path, since every file conda wrote the prefix into names that path; the explicit lock
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
from .snapshot import PORTABLE, Snapshot


@dataclass
class RestoreReport:
    snapshot_id: str
    prefix: str
    method: str = ""  # "trash", "explicit" or "environment.yml"
    pip: str = "none"  # "none", "installed" or "failed: ..."
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    # each changed package as "name: snapshot's version build -> this env's"
    changed_how: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kernels: list[str] = field(default_factory=list)
    restored_files: list[str] = field(default_factory=list)  # settings and kept files put back
    files_differ: list[str] = field(default_factory=list)  # "path: how", see envfiles
    # files of the env (and kernelspecs) that still name the snapshot's own prefix
    old_prefix: list[str] = field(default_factory=list)
    # secret variables (and files holding secrets) whose values this snapshot does not hold
    secrets_missing: list[str] = field(default_factory=list)
    saved_first: str = ""  # in place: the snapshot of the live env taken before changing it
    # files no package installed that the env held and the snapshot did not keep: not here
    unowned_missing: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (
            self.missing
            or self.extra
            or self.changed
            or self.files_differ
            or self.old_prefix
            or self.secrets_missing
            or self.unowned_missing
        )

    def to_json(self) -> dict:
        return {**self.__dict__, "exact": self.exact}


def restore(snapshot: Snapshot, target: Path, extracted: Path | None = None) -> RestoreReport:
    """Recreate the env of `snapshot` at `target`, which must not hold an env. `extracted`:
    a package cache of checked packages this process made (see `pkgkeep.kept_packages_for`)."""
    snapshot = snapshot.full()
    report = RestoreReport(snapshot.id, str(target))
    if _restore_from_trash(snapshot, target, report):
        report.method = "trash"
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not _restore_from_lock(snapshot, target, report, extracted):
            if other_platform(snapshot) and snapshot.file(PORTABLE).is_file():
                _restore_from_portable(snapshot, target, report)
                report.method = "portable specs"
            else:
                _restore_from_yaml(snapshot, target)
                report.method = "environment.yml"
        _restore_pip(snapshot, target, report)
        _keep_history(snapshot, target, report)
        from .kernels import restore_from_snapshot

        report.kernels = restore_from_snapshot(snapshot, target)
        _put_back_files(snapshot, target, report)
        register(target)
    compare(snapshot, target, report)
    from .lost import note_back

    note_back(target)
    return report


# -- in place: the live env made to match the snapshot -----------------------------------------
# Settings the roll-back never removes when the snapshot lacks them: a protection someone set
# since stays (the comparison says so).
_KEEP_PROTECTION = ("conda-meta/frozen", "conda-meta/envguard-protected")
# Unowned files the roll-back removes when added since: activation scripts and variables.
_ACTIVATION_DIRS = ("etc/conda/activate.d/", "etc/conda/deactivate.d/", "etc/conda/env_vars.d/")


@dataclass
class InPlacePlan:
    """What an in-place restore changes in the live env."""

    sync: object  # linker.LockSync
    pip_remove: list[str]  # name==version now in the env
    pip_install: list[str]  # name==version from the snapshot
    put_back: list[str]  # settings and kept files written from the snapshot
    remove_files: list[str]  # settings and activation files added since

    def to_json(self) -> dict:
        removed, added, changed = self.conda_changes()
        return {
            "conda": {"remove": removed, "add": added, "change": changed},
            "pip": {"remove": self.pip_remove, "install": self.pip_install},
            "files": {"put_back": self.put_back, "remove": self.remove_files},
        }

    def conda_changes(self) -> tuple[list[str], list[str], list[str]]:
        from .linker import lock_line_key

        old = {r.name: f"{r.name} {r.version} {r.build}" for r in self.sync.unlink}
        new = {}
        for line in self.sync.link:
            name, version, build = lock_line_key(line)[0].rsplit("-", 2)
            new[name] = f"{name} {version} {build}"
        both = sorted(old.keys() & new.keys())
        changed = [
            f"{old[n]} -> {new[n].split(' ', 1)[1]}" if old[n] != new[n] else f"{old[n]} (again)"
            for n in both
        ]
        return (
            [old[n] for n in sorted(old.keys() - new.keys())],
            [new[n] for n in sorted(new.keys() - old.keys())],
            changed,
        )

    @property
    def empty(self) -> bool:
        return self.sync.empty and not (
            self.pip_remove or self.pip_install or self.put_back or self.remove_files
        )


def plan_in_place(snapshot: Snapshot, target: Path) -> InPlacePlan:
    """What makes the live env at `target` match `snapshot`. Raises RestoreFailedError when
    the snapshot has no lock this machine can use (in place needs the exact packages)."""
    from .envfiles import differences, read_contents, read_listing, read_private
    from .envstate import read_state
    from .exceptions import RestoreFailedError
    from .linker import plan_lock_sync

    snapshot = snapshot.full()
    specs = _usable_lock(snapshot)
    if specs is None:
        raise RestoreFailedError(
            f"Snapshot {snapshot.id} has no lock for this machine's platform, and an in-place "
            "restore installs exactly the snapshot's packages.\n"
            f"  Rebuild it as a new env instead: conda envguard restore --snapshot "
            f"{snapshot.id} -n NEW_NAME"
        )
    wanted = _pip_wanted(snapshot)
    live = {_pip_name(n): f"{n}=={v}" for n, v in read_state(target).pip}
    pip_remove = sorted(spec for key, spec in live.items() if wanted.get(key) != spec)
    pip_install = sorted(spec for key, spec in wanted.items() if live.get(key) != spec)

    put, remove = [], []
    listing = read_listing(snapshot.path)
    if listing is not None:
        originals, _ = read_private(snapshot.path, listing, snapshot.secret_vars)
        for line in differences(snapshot.path, listing, target, originals, snapshot.secret_vars):
            relpath, _, how = line.rpartition(": ")
            if how == "not in the snapshot":
                if relpath not in _KEEP_PROTECTION:
                    remove.append(relpath)
            elif how != "its copy in the snapshot is unreadable":
                put.append(relpath)
        before = {u["path"] for u in listing.get("unowned", ())}
        remove += [
            u.path
            for u in read_contents(target).files.unowned
            if u.path.startswith(_ACTIVATION_DIRS) and u.path not in before and u.kept
        ]
    pip_files = _pip_files(target) if pip_remove else {}
    doomed = {f for spec in pip_remove for f in pip_files.get(_pip_key(spec), ())}
    sync = plan_lock_sync(specs, target, doomed)
    return InPlacePlan(sync, pip_remove, pip_install, put, remove)


def _pip_key(spec: str) -> str:
    name, _, version = spec.partition("==")
    return f"{_pip_name(name)}=={version}"


def _pip_files(target: Path) -> dict[str, list[str]]:
    """name==version -> the files its RECORD lists (as conda reads it), of each pip package."""
    from conda.core.prefix_data import PrefixData

    prefix_data = PrefixData(str(target), interoperability=True)
    prefix_data.reload()
    return {
        f"{_pip_name(r.name)}=={r.version}": list(r.files)
        for r in prefix_data.get_python_packages()
    }


def _usable_lock(snapshot: Snapshot) -> list[str] | None:
    if other_platform(snapshot):
        return None
    try:
        return lock_specs(snapshot) or None
    except OSError:
        return None


def _pip_name(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_wanted(snapshot: Snapshot) -> dict[str, str]:
    try:
        lines = snapshot.file("pip.txt").read_text().splitlines()
    except OSError:
        return {}
    return {_pip_name(ln.split("==")[0]): ln.strip() for ln in lines if "==" in ln}


def restore_in_place(snapshot: Snapshot, target: Path, plan: InPlacePlan) -> RestoreReport:
    """Make the live env at `target` match `snapshot` (see `plan_in_place`), after saving
    it as a snapshot of its own so that this is undone the same way."""
    from conda import CondaError

    from .envs import name_of
    from .exceptions import RestoreFailedError
    from .linker import apply_lock_sync
    from .pkgkeep import kept_packages_for
    from .saving import save

    snapshot = snapshot.full()
    report = RestoreReport(snapshot.id, str(target), method="in place")
    name = name_of(target)
    command = f"conda envguard restore {name} --snapshot {snapshot.id} --in-place"
    try:
        before = save(target, name, "restore --in-place", command)
    except (OSError, CondaError) as e:
        raise RestoreFailedError(
            f"envguard could not save {target} as it is now, so it changed nothing: a roll-back "
            f"it could not undo is not one it makes.\n  Reason: {_first_line(e)}"
        ) from e
    report.saved_first = before.id
    # pip's removals first: files pip wrote over a conda package's come back with it below
    _pip_remove(target, plan, report)
    if not plan.sync.empty:
        from conda.base.context import context

        from .redact import with_credentials

        link = [with_credentials(line, context.channels) for line in plan.sync.link]
        plan.sync.link = link
        try:
            with kept_packages_for(link, report.notes):
                apply_lock_sync(plan.sync, target)
        except (CondaError, OSError) as e:
            raise RestoreFailedError(
                f"conda could not change the packages of {target} to those of snapshot "
                f"{snapshot.id}.\n  conda said: {_first_line(e)}\n"
                "  conda's transaction rolls back what it started; the env as it was is "
                f"snapshot {before.id}:\n"
                f"    conda envguard restore --snapshot {before.id} --in-place"
            ) from e
    _pip_install(target, plan, report)
    _files_in_place(snapshot, target, plan, report)
    compare(snapshot, target, report)
    return report


def _pip_remove(target: Path, plan: InPlacePlan, report: RestoreReport) -> None:
    """Uninstall what pip added since, as pip does (every file its RECORD lists, which conda
    reads for us): no working pip needed, which a broken env may lack."""
    from conda.gateways.disk.delete import rm_rf

    if plan.pip_remove:
        records = _pip_files(target)
        for spec in plan.pip_remove:
            name = spec.partition("==")[0]
            files = records.get(_pip_key(spec), [])
            if not files:
                report.notes.append(
                    f"the pip package {spec} was not removed (no RECORD of its files): "
                    f"{target / 'bin' / 'python'} -m pip uninstall -y {name}"
                )
                continue
            for relpath in files:
                path = os.path.normpath(target / relpath)
                if path.startswith(str(target) + os.sep):
                    rm_rf(path)
            _remove_empty_dirs(target, files)


def _pip_install(target: Path, plan: InPlacePlan, report: RestoreReport) -> None:
    """Install what the snapshot had and the env lacks, with the env's own pip."""
    from .redact import redact

    if plan.pip_install:
        python = target / ("python.exe" if sys.platform == "win32" else "bin/python")
        command = [str(python), "-m", "pip", "install", "--no-deps", *plan.pip_install]
        result = (
            subprocess.run(command, capture_output=True, text=True) if python.exists() else None
        )
        if result is None or result.returncode != 0:
            why = "the env has no python" if result is None else redact(_last_line(result.stderr))
            report.pip = f"failed: {why}"
            report.notes.append(
                "pip packages were not restored; when the env has python and pip, run:\n    "
                + " ".join(command)
            )
            return
    if plan.pip_remove or plan.pip_install:
        report.pip = "installed"


def _remove_empty_dirs(target: Path, files: list[str]) -> None:
    """The directories a removed distribution leaves empty (its package, __pycache__)."""
    import shutil

    dirs = {os.path.dirname(os.path.normpath(target / f)) for f in files}
    for directory in sorted(dirs, key=len, reverse=True):
        while directory.startswith(str(target) + os.sep):
            cache = os.path.join(directory, "__pycache__")
            if os.path.isdir(cache) and not os.path.islink(cache):
                shutil.rmtree(cache, ignore_errors=True)
            try:
                os.rmdir(directory)
            except OSError:
                break
            directory = os.path.dirname(directory)


def _files_in_place(
    snapshot: Snapshot, target: Path, plan: InPlacePlan, report: RestoreReport
) -> None:
    """Settings, activation scripts and markers: the snapshot's put back, those added since
    removed (the snapshot saved first holds them)."""
    from conda.gateways.disk.delete import rm_rf

    from .envfiles import put_back, read_listing, read_private

    listing = read_listing(snapshot.path)
    settings = set(listing.get("settings", ())) if listing else set()
    # A kept file is written back only where nothing is (see put_back): with the snapshot's
    # packages back, no package owns these, and the snapshot saved first holds them.
    replaced = [p for p in plan.put_back if p not in settings]
    for relpath in [*plan.remove_files, *replaced]:
        rm_rf(str(target / relpath))
    if listing is not None and plan.put_back:
        originals, why = read_private(snapshot.path, listing, snapshot.secret_vars)
        if why:
            report.notes.append(f"{why}: the secrets in them were not put back")
        wanted = set(plan.put_back)
        subset = {**listing, "modes": {p: m for p, m in listing["modes"].items() if p in wanted}}
        report.restored_files = put_back(snapshot.path, subset, target, originals)
    report.restored_files += [f"{p} (removed)" for p in plan.remove_files]
    report.secrets_missing = _unset_masked_vars(target)


def trash_entry_for(snapshot: Snapshot, target: Path):
    """The trash entry that can come back as this restore, or None. Only at the env's own
    prefix: shebangs, prefix-patched files and entry points name that path, and a copy
    elsewhere must leave the trashed env in place for `undo`. Raises UnsafeTrashError when
    another user could have swapped it (before the plan: nothing is set aside for it)."""
    from .trash import check_safe

    entry = _trashed(snapshot)
    if entry is None or not same_path(entry.prefix, target):
        return None
    check_safe(entry)
    return entry


def _trashed(snapshot: Snapshot):
    from .trash import Trash

    for entry in Trash().entries():
        if entry.snapshot_id == snapshot.id and entry.whole:
            return entry
    return None


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    return os.path.normpath(str(a)) == os.path.normpath(str(b))


def _restore_from_trash(snapshot: Snapshot, target: Path, report: RestoreReport) -> bool:
    from .trash import Trash

    entry = _trashed(snapshot)
    if entry is None:
        return False
    if not same_path(entry.prefix, target):
        report.notes.append(
            "rebuilt from the snapshot, not moved out of the trash (files there name "
            f"{entry.prefix}); the trash still holds that env: "
            f"conda envguard undo {entry.env_name or entry.prefix}"
        )
        return False
    try:
        Trash().move_out(entry, target)
    except OSError as e:  # e.g. the target is on another filesystem: use the lock
        report.notes.append(
            f"the trash's copy could not be moved to {target} ({_first_line(e)}): rebuilt "
            f"from the snapshot; the trash still holds it"
        )
        return False
    return True


def lock_specs(snapshot: Snapshot) -> list[str]:
    """The packages the snapshot's explicit lock installs. Raises OSError."""
    return [
        line.strip()
        for line in snapshot.file("explicit.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#") and line.strip() != "@EXPLICIT"
    ]


def _restore_from_lock(
    snapshot: Snapshot, target: Path, report: RestoreReport, extracted: Path | None = None
) -> bool:
    from conda import CondaError
    from conda.base.context import context

    if other_platform(snapshot):
        fallback = "portable specs" if snapshot.file(PORTABLE).is_file() else "environment.yml"
        report.notes.append(
            f"the lock is for {snapshot.meta['platform']}, this is {context.subdir}: "
            f"rebuilt from its {fallback}"
        )
        return False
    try:
        specs = lock_specs(snapshot)
    except OSError as e:
        report.notes.append(f"no usable lock ({e.strerror}): used environment.yml")
        return False
    if not specs:
        report.notes.append("the lock lists no packages: used environment.yml")
        return False
    from .linker import install_lock
    from .pkgkeep import kept_packages_for
    from .redact import with_credentials

    # Credentials were never stored: take them from the channels conda is configured with.
    with_creds = [with_credentials(spec, context.channels) for spec in specs]
    try:
        # packages kept by envguard, for an empty cache, in a package cache of the restore's own
        with kept_packages_for(specs, report.notes, extracted) as own_cache:
            install_lock(with_creds, target, movable=own_cache)
    except (CondaError, OSError) as e:
        report.notes.append(f"the lock could not be used ({_first_line(e)}): used environment.yml")
        _clean_failed(target)
        return False
    except BaseException:  # e.g. Ctrl-C: no half-made env left behind, as conda does
        _clean_failed(target)
        raise
    report.method = "explicit"
    return True


def other_platform(snapshot: Snapshot) -> bool:
    """Is the snapshot's lock for another platform than this machine's?"""
    from conda.base.context import context

    return snapshot.meta.get("platform") not in (None, context.subdir)


def portable_plan(snapshot: Snapshot) -> tuple[list[str], list[str], list[str]]:
    """The channels, the specs to solve on this platform, and a note for each spec that could
    not be pinned to the snapshot's version (this platform's channels lack it) or is left out
    (they have no build of it at all). Raises RestoreFailedError for an unreadable file."""
    import json

    from conda.base.context import context
    from conda.core.subdir_data import SubdirData
    from conda.models.match_spec import MatchSpec

    from .exceptions import RestoreFailedError

    try:
        data = json.loads(snapshot.file(PORTABLE).read_text())
        channels = [str(c) for c in data["channels"]]
        requested = [
            (str(r["name"]), str(r["spec"]), str(r["version"])) for r in data["requested"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RestoreFailedError(
            f"Snapshot {snapshot.id}'s {PORTABLE} cannot be read ({_first_line(e)}), and its "
            f"lock is for {snapshot.meta.get('platform')}, not {context.subdir}."
        ) from e
    specs, notes = [], []
    for name, spec, version in requested:
        found = SubdirData.query_all(MatchSpec(name), channels, context.subdirs)
        if not found:
            notes.append(
                f"{name}: the channels have no build of it for {context.subdir}: left out"
            )
        elif any(str(r.version) == version for r in found):
            specs.append(f"{name}=={version}")
        else:
            notes.append(
                f"{name}: version {version} has no build for {context.subdir}: solved as '{spec}'"
            )
            specs.append(spec)
    return channels, specs, notes


def _restore_from_portable(snapshot: Snapshot, target: Path, report: RestoreReport) -> None:
    """Solve the snapshot's requested specs for this platform, at the snapshot's versions
    where this platform has them, from the channels the env was built from."""
    from conda.base.context import context

    from .exceptions import RestoreFailedError
    from .locks import for_child
    from .redact import redact, with_credentials

    channels, specs, notes = portable_plan(snapshot)
    report.notes += notes
    if not specs:
        raise RestoreFailedError(
            f"None of the packages snapshot {snapshot.id} asked for has a build for "
            f"{context.subdir} in its channels ({', '.join(channels) or 'none'})."
        )
    cmd = [sys.executable, "-m", "conda", "create", "--yes", "-p", str(target)]
    cmd += ["--override-channels"]
    for channel in channels:
        cmd += ["-c", with_credentials(channel, context.channels)]
    cmd += specs
    if context.quiet or context.json:
        cmd.append("--quiet")
    env = for_child({k: v for k, v in os.environ.items() if k != "CONDA_PREFIX_1"})
    result = subprocess.run(
        cmd,
        env=env,
        stdout=subprocess.PIPE if context.json else None,
        stderr=subprocess.PIPE,
        text=True,
    )
    if result.returncode != 0:
        _clean_failed(target)
        raise RestoreFailedError(
            f"envguard could not rebuild {target} for {context.subdir} from snapshot "
            f"{snapshot.id}'s portable specs ({' '.join(specs)}).\n"
            f"  conda said: {redact((result.stderr or '').strip()[-2000:])}\n"
            f"  The snapshot is unchanged; its files are in {snapshot.path}"
        )


def _restore_from_yaml(snapshot: Snapshot, target: Path) -> None:
    from .exceptions import RestoreFailedError
    from .redact import redact

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
        trashed = _trashed(snapshot)
        undo = (
            f"\n  The trash still holds the env: conda envguard undo "
            f"{trashed.env_name or trashed.prefix} puts it back at {trashed.prefix}"
            if trashed is not None
            else ""
        )
        raise RestoreFailedError(
            f"envguard could not recreate {target} from snapshot {snapshot.id}: neither its "
            "lock nor its environment.yml could be installed.\n"
            f"  conda said: {redact((result.stderr or '').strip()[-2000:])}\n"
            f"  The snapshot is unchanged; its files are in {snapshot.path}{undo}"
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
    from .redact import redact

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
            "installed"
            if result.returncode == 0
            else "failed: " + redact(_last_line(result.stderr))  # an index URL's credentials
        )
    if report.pip != "installed":
        report.notes.append(
            "pip packages were not restored; when the env has python and pip, run:\n    "
            + " ".join(command)
        )


def _keep_history(snapshot: Snapshot, target: Path, report: RestoreReport) -> None:
    """Put the env's old conda history back in front of what the restore itself wrote."""
    old = snapshot.file("history")
    if not old.is_file():
        return  # e.g. a snapshot from the git history, which holds none
    new = target / "conda-meta" / "history"
    try:
        restored = new.read_text()
        new.write_text(old.read_text() + restored)
    except OSError as e:
        report.notes.append(f"the env's earlier conda history was not put back ({e})")


def _put_back_files(snapshot: Snapshot, target: Path, report: RestoreReport) -> None:
    """The env's settings and kept files, last: the frozen marker would stop a later conda.
    Secrets come from the snapshot's private file; a variable whose value it lacks (a snapshot
    from a bundle or the git history) is left unset, not set to its mask."""
    from .envfiles import put_back, read_listing, read_private

    listing = read_listing(snapshot.path)
    if listing is not None:
        originals, why = read_private(snapshot.path, listing, snapshot.secret_vars)
        if why:
            report.notes.append(f"{why}: the secrets in them were not put back")
        report.restored_files = put_back(snapshot.path, listing, target, originals)
    elif variables := _yaml_variables(snapshot, report.notes):  # e.g. from the git history
        _set_vars(target, variables)
        report.restored_files = ["conda-meta/state"]
    report.secrets_missing = _unset_masked_vars(target)


def _yaml_variables(snapshot: Snapshot, notes: list[str] | None = None) -> dict[str, str]:
    """The `variables:` of the snapshot's environment.yml (a note in `notes` when it cannot
    be read)."""
    import yaml

    try:
        data = yaml.safe_load(snapshot.file("environment.yml").read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, yaml.YAMLError) as e:
        if notes is not None:
            notes.append(f"environment.yml cannot be read ({_first_line(e)}): its variables "
                         "were neither restored nor compared")  # fmt: skip
        return {}
    variables = data.get("variables") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in variables.items()} if isinstance(variables, dict) else {}


def _set_vars(target: Path, variables: dict[str, str]) -> None:
    import json

    from .atomic import write_text_atomic

    state = target / "conda-meta" / "state"
    try:
        data = json.loads(state.read_text())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    current = data.get("env_vars") if isinstance(data.get("env_vars"), dict) else {}
    data["env_vars"] = {**current, **variables}
    write_text_atomic(state, json.dumps(data, indent=2))


def _unset_masked_vars(target: Path) -> list[str]:
    """Remove from the env's variables those holding a mask; returns their names."""
    import json

    from .atomic import write_text_atomic
    from .redact import is_masked

    state = target / "conda-meta" / "state"
    try:
        data = json.loads(state.read_text())
        variables = data.get("env_vars")
    except FileNotFoundError:
        return []
    except (OSError, ValueError, AttributeError) as e:
        return [f"conda-meta/state: unreadable after the restore ({e})"]
    if not isinstance(variables, dict):
        return []
    masked = [k for k, v in variables.items() if isinstance(v, str) and is_masked(v)]
    if masked:
        for name in masked:
            del variables[name]
        write_text_atomic(state, json.dumps(data, indent=2))
    return masked


def compare(snapshot: Snapshot, target: Path, report: RestoreReport) -> None:
    from .diff import diff_packages, live_packages
    from .envfiles import differences, read_listing, read_private

    changes = diff_packages(snapshot.packages(), live_packages(target))
    report.missing = [c["name"] for c in changes["removed"]]
    report.extra = [c["name"] for c in changes["added"]]
    report.changed = [c["name"] for c in changes["changed"]]
    report.changed_how = [
        f"{c['name']}: {' '.join(c['old'].get(f, '') for f in c['fields'])} -> "
        f"{' '.join(c['new'].get(f, '') for f in c['fields'])}"
        for c in changes["changed"]
    ]
    report.files_differ = _kernels_missing(snapshot, target)
    if snapshot.prefix and not same_path(snapshot.prefix, target):
        report.old_prefix = _naming_old_prefix(
            snapshot.prefix, target, report.kernels, report.files_differ
        )
    listing = read_listing(snapshot.path)
    if listing is not None:
        extra = snapshot.secret_vars
        originals, _ = read_private(snapshot.path, listing, extra)
        report.files_differ += differences(snapshot.path, listing, target, originals, extra)
        report.secrets_missing += _masked_files(listing, target, originals)
        if _state_differs_only_by(snapshot, target, report.secrets_missing):
            report.files_differ.remove("conda-meta/state: different content")
        if listing["unreadable"]:
            report.notes.append(
                "the snapshot could not read these files of the env, so they are not back: "
                + ", ".join(listing["unreadable"])
            )
        lost = [u for u in listing.get("unowned", ()) if not u.get("kept")]
        report.unowned_missing = [
            u["path"] for u in lost if not os.path.lexists(target / u["path"])
        ]
    else:
        report.files_differ += _vars_differ(snapshot, target, report.secrets_missing)
        report.notes.append(
            "this snapshot holds no copies of the env's settings files (older than them, or "
            "from the git history): packages and environment.yml's variables were compared"
        )


def _vars_differ(snapshot: Snapshot, target: Path, not_restored: list[str]) -> list[str]:
    """environment.yml's variables that the env at `target` does not have as saved."""
    from .envfiles import env_vars_and_pins

    live, _ = env_vars_and_pins(target)
    out = []
    for name, value in _yaml_variables(snapshot).items():
        if name in not_restored:
            continue
        if name not in live:
            out.append(f"env var {name}: missing")
        elif live[name] != value:
            out.append(f"env var {name}: different value")
    return out


def _state_differs_only_by(snapshot: Snapshot, target: Path, unset: list[str]) -> bool:
    """Is the env's conda-meta/state the snapshot's copy but for the variables in `unset`
    (whose values the snapshot lacks), so that they alone need saying?"""
    import json

    from .envfiles import COPIES_DIR

    try:
        saved = json.loads(snapshot.file(f"{COPIES_DIR}/conda-meta/state").read_text())
        live = json.loads((target / "conda-meta" / "state").read_text())
        saved["env_vars"] = {k: v for k, v in saved["env_vars"].items() if k not in unset}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return bool(unset) and saved == live


def _masked_files(listing: dict, target: Path, originals: dict) -> list[str]:
    """Kept files of the env that hold a mask where the snapshot had a secret."""
    from .envfiles import kept_paths
    from .redact import is_masked

    out = []
    for relpath in kept_paths(listing):
        if relpath in originals or relpath == "conda-meta/state":  # state: see _put_back_files
            continue
        try:
            text = (target / relpath).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if is_masked(text):
            out.append(f"{relpath} (its secret values)")
    return out


# Where conda writes the prefix into a package's file: a placeholder it replaces, or an entry
# point it generates (its shebang).
_PREFIXED_TYPES = ("unix_python_entry_point", "windows_python_entry_point_script")


def _naming_old_prefix(
    old: str, target: Path, kernels: list[str], unchecked: list[str]
) -> list[str]:
    """Files of the env at `target` where conda wrote the prefix in (per each package's record)
    that still name `old`; and kernelspecs of the env whose command still runs in `old`.
    A record that cannot be read goes to `unchecked`."""
    import json

    from .kernels import runs_in

    found = []
    for record_file in sorted((target / "conda-meta").glob("*.json")):
        try:
            record = json.loads(record_file.read_text())
            entries = record.get("paths_data", {}).get("paths", [])
        except (OSError, ValueError, AttributeError):
            unchecked.append(f"conda-meta/{record_file.name}: unreadable, its files not checked")
            continue
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("_path"), str):
                continue
            if entry.get("prefix_placeholder") or entry.get("path_type") in _PREFIXED_TYPES:
                try:
                    data = (target / entry["_path"]).read_bytes()
                except OSError:
                    continue  # missing or unreadable: it names no path at all
                if names_old_prefix(data, old.encode(), str(target).encode()):
                    found.append(entry["_path"])
    return found + [k for k in kernels if runs_in(k, old)]


def names_old_prefix(data: bytes, old: bytes, new: bytes) -> bool:
    """Does `data` hold `old` other than as part of `new` (a new prefix may contain the old
    one: /envs/a -> /envs/a2)?"""
    offsets = [k for k in range(len(new) - len(old) + 1) if new[k : k + len(old)] == old]
    start = data.find(old)
    while start != -1:
        if not any(data[start - k : start - k + len(new)] == new for k in offsets if start >= k):
            return True
        start = data.find(old, start + 1)
    return False


def _kernels_missing(snapshot: Snapshot, target: Path) -> list[str]:
    """The snapshot's kernelspecs that no kernelspec running in `target` stands for."""
    from .kernels import kernels_of

    recorded = [k for k in snapshot.meta.get("kernels") or [] if isinstance(k, dict)]
    if not recorded:
        return []
    present = len(kernels_of(target))
    if present >= len(recorded):
        return []
    names = ", ".join(str(k.get("name")) for k in recorded)
    return [f"Jupyter kernelspecs: {present} of {len(recorded)} ({names}) run in this env"]


def _clean_failed(target: Path) -> None:
    from conda.gateways.disk.delete import rm_rf

    if target.exists():
        rm_rf(str(target))


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "pip failed"
