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
    # files of the env (and kernelspecs) that still name the snapshot's own prefix
    old_prefix: list[str] = field(default_factory=list)
    # secret variables (and files holding secrets) whose values this snapshot does not hold
    secrets_missing: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (
            self.missing
            or self.extra
            or self.changed
            or self.files_differ
            or self.old_prefix
            or self.secrets_missing
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

    if snapshot.meta.get("platform") not in (None, context.subdir):
        report.notes.append(
            f"the lock is for {snapshot.meta['platform']}, this is {context.subdir}: "
            "used environment.yml"
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
        with kept_packages_for(specs, report.notes, extracted):
            install_lock(with_creds, target)
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
        absent = [u["path"] for u in lost if not os.path.lexists(target / u["path"])]
        if absent:
            report.notes.append(
                f"{len(absent)} file(s) no package installed were in the env but not in the "
                f"snapshot, and are not here (see conda envguard show {snapshot.id}): "
                + ", ".join(absent[:5])
                + (", ..." if len(absent) > 5 else "")
            )
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
