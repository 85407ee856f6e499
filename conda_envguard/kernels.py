"""Jupyter kernelspecs that run inside an env: recorded, taken out with it, put back with it.

A kernelspec is a directory `<jupyter data dir>/kernels/<name>/` whose kernel.json `argv`
starts a program; it "belongs" to an env when that program lives in the env. When the env is
removed, its kernelspecs are moved into its trash entry (no stale kernel left in Jupyter or
VS Code); undo and restore put them back, pointing at wherever the env now lives.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path


def jupyter_data_dirs() -> list[Path]:
    """User, env-local and system Jupyter data dirs, as jupyter_core orders them. Env-local
    means `<prefix>/share/jupyter` of the envs Jupyter may run from: base and the envs in
    conda's envs dirs."""
    dirs: list[Path] = []
    if os.environ.get("JUPYTER_DATA_DIR"):
        dirs.append(Path(os.environ["JUPYTER_DATA_DIR"]))
    elif sys.platform == "darwin":
        dirs.append(Path.home() / "Library" / "Jupyter")
    elif sys.platform == "win32":
        dirs.append(Path(os.environ.get("APPDATA", Path.home())) / "jupyter")
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        dirs.append(Path(xdg) / "jupyter")
    dirs += [Path(p) for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    dirs += [Path(prefix, "share", "jupyter") for prefix in _conda_prefixes()]
    if sys.platform == "win32":
        dirs.append(Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "jupyter")
    else:
        dirs += [Path("/usr/local/share/jupyter"), Path("/usr/share/jupyter")]
    return list(dict.fromkeys(dirs))


def _conda_prefixes() -> list[str]:
    """base and the envs of conda's envs dirs: a few directory listings, no registry parsing."""
    from conda.base.context import context

    prefixes = [context.root_prefix]
    for envs_dir in context.envs_dirs:
        try:
            prefixes += [e.path for e in os.scandir(envs_dir) if e.is_dir()]
        except OSError:
            continue
    return prefixes


def _specs():
    for data_dir in jupyter_data_dirs():
        try:
            kernel_dirs = list((data_dir / "kernels").iterdir())
        except OSError:
            continue
        for kernel_dir in kernel_dirs:
            try:
                spec = json.loads((kernel_dir / "kernel.json").read_text())
            except (OSError, ValueError):
                continue
            if isinstance(spec, dict):
                yield kernel_dir, spec


def _runs_in(spec: dict, prefix: str) -> bool:
    root = os.path.normpath(prefix) + os.sep
    return any(
        isinstance(a, str) and os.path.normpath(a).startswith(root) for a in spec.get("argv", ())
    )


def kernels_of(prefix: str | os.PathLike) -> list[dict]:
    """The kernelspecs outside the env whose command runs inside it (its own share/jupyter
    goes wherever the env goes)."""
    own = os.path.normpath(prefix) + os.sep
    return [
        {"name": kdir.name, "dir": str(kdir), "spec": spec}
        for kdir, spec in _specs()
        if _runs_in(spec, str(prefix)) and not os.path.normpath(kdir).startswith(own)
    ]


def stale_kernels() -> list[dict]:
    """Kernelspecs whose program is gone (typically: its env was removed without envguard)."""
    out = []
    for kdir, spec in _specs():
        argv = spec.get("argv") or []
        program = argv[0] if argv and isinstance(argv[0], str) else ""
        if os.path.isabs(program) and not os.path.exists(program):
            out.append({"name": kdir.name, "dir": str(kdir), "program": program})
    return out


def save_into_snapshot(prefix: Path, dest: Path) -> list[dict]:
    """Copy the env's kernelspecs into a snapshot directory; returns what was recorded."""
    recorded = kernels_of(prefix)
    for i, kernel in enumerate(recorded):
        kernel["saved_as"] = f"kernels/{i}-{kernel['name']}"
        shutil.copytree(kernel["dir"], dest / kernel["saved_as"], symlinks=True)
    return recorded


def move_kernels_into(prefix: str | os.PathLike, location: str | os.PathLike) -> list[dict]:
    """Move the kernelspecs of the env at `prefix` into `location` (a trash entry); returns
    what moved, for the entry's record."""
    moved = []
    for i, kernel in enumerate(kernels_of(prefix)):
        held = Path(location, "kernels", f"{i}-{kernel['name']}")
        try:
            held.parent.mkdir(exist_ok=True)
            shutil.move(kernel["dir"], held)
        except OSError:
            continue
        moved.append({"name": kernel["name"], "dir": kernel["dir"], "held": str(held)})
    return moved


def restore_kernels(entry, prefix: str | os.PathLike) -> list[str]:
    """Put back the kernelspecs held by a trash entry, pointing at `prefix`."""
    placed = []
    for kernel in entry.kernels or []:
        held = Path(kernel["held"])
        if not held.is_dir():
            continue
        placed.append(_place(held, Path(kernel["dir"]), entry.prefix, str(prefix), move=True))
    return placed


def restore_from_snapshot(snapshot, prefix: str | os.PathLike) -> list[str]:
    """Install the kernelspecs recorded in a snapshot, pointing at `prefix`. Only what the
    snapshot itself holds, only into Jupyter's kernel dirs (a record may come from a bundle)."""
    placed = []
    for kernel in recorded(snapshot.meta):
        saved = snapshot.path / kernel["saved_as"]
        if saved.is_symlink() or not saved.is_dir():
            continue
        try:
            placed.append(
                _place(
                    saved,
                    _destination(kernel, bool(snapshot.meta.get("imported"))),
                    snapshot.prefix,
                    str(prefix),
                    move=False,
                )
            )
        except OSError:
            continue  # the restore's comparison counts the kernelspecs that came back
    return placed


def plain_component(name: object) -> bool:
    """One file name on every OS: no separator (`/`, `\\`), drive letter, `..` or NUL."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and name not in (".", "..")
        and not any(c in name for c in "/\\:\0")
    )


def recorded(meta: dict) -> list[dict]:
    """The snapshot's kernel records that are sound: a plain name, held in its own
    `kernels/` folder, from a kernel dir of that name."""
    kernels = meta.get("kernels")
    out = []
    for kernel in kernels if isinstance(kernels, list) else []:
        if not isinstance(kernel, dict) or not plain_component(kernel.get("name")):
            continue
        saved, where = kernel.get("saved_as"), kernel.get("dir")
        if not isinstance(saved, str) or not isinstance(where, str):
            continue
        folder, _, held = saved.partition("/")
        if folder == "kernels" and plain_component(held):
            out.append(kernel)
    return out


def _destination(kernel: dict, imported: bool) -> Path:
    """Where a recorded kernelspec goes back: its own dir when that is a kernel dir Jupyter
    reads (and named as recorded), else (and always for another machine's snapshot) the
    user's Jupyter kernels dir."""
    homes = [data_dir / "kernels" for data_dir in jupyter_data_dirs()]
    recorded_dir = Path(os.path.normpath(kernel["dir"]))
    if not imported and recorded_dir.name == kernel["name"] and recorded_dir.parent in homes:
        return recorded_dir
    return homes[0] / kernel["name"]


def _place(source: Path, wanted: Path, old_prefix: str, new_prefix: str, move: bool) -> str:
    moved = os.path.normpath(old_prefix) != os.path.normpath(new_prefix)
    # A copy of the env elsewhere gets kernels of its own name: the original's (in the trash,
    # or still in use) keep theirs. A name taken meanwhile is never overwritten.
    target = _free(wanted.with_name(f"{wanted.name}-{Path(new_prefix).name}") if moved else wanted)
    target.parent.mkdir(parents=True, exist_ok=True)
    if move:
        shutil.move(str(source), str(target))
    else:
        shutil.copytree(source, target, symlinks=True)
    if moved:
        _repoint(target / "kernel.json", old_prefix, new_prefix)
    return str(target)


def _free(wanted: Path) -> Path:
    target, n = wanted, 1
    while os.path.lexists(target):
        n += 1
        target = wanted.with_name(f"{wanted.name}-{n}")
    return target


def runs_in(kernel_dir: str | os.PathLike, prefix: str) -> bool:
    """Does the kernelspec in `kernel_dir` start a program inside `prefix`?"""
    try:
        spec = json.loads(Path(kernel_dir, "kernel.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(spec, dict) and _runs_in(spec, prefix)


def _repoint(kernel_json: Path, old_prefix: str, new_prefix: str) -> None:
    try:
        spec = json.loads(kernel_json.read_text())
    except (OSError, ValueError):
        return
    old = os.path.normpath(old_prefix)
    old_name, new_name = Path(old).name, Path(new_prefix).name
    display = spec.get("display_name")
    if isinstance(display, str) and old_name != new_name:
        pattern = rf"(?<![\w.-]){re.escape(old_name)}(?![\w.-])"
        spec["display_name"] = (
            re.sub(pattern, new_name, display)
            if re.search(pattern, display)
            else f"{display} ({new_name})"
        )
    spec["argv"] = [
        new_prefix + a[len(old) :]
        if isinstance(a, str) and (a == old or a.startswith(old + os.sep))
        else a
        for a in spec.get("argv", [])
    ]
    kernel_json.write_text(json.dumps(spec, indent=1))
