"""Can the store be trusted? Its snapshots match their manifests, and only its user can write it.

A snapshot's `manifest.json` is written last, just before the snapshot is renamed into place:
the sha256 of every file in the snapshot directory, snapshot.json included, as they are on disk.
Whatever a snapshot holds is covered, whoever adds a file to snapshots later. A restore checks
it first: `explicit.txt` and `environment.yml` say what gets installed (and post-link scripts
run code), so a snapshot edited since it was written is not restored unless the user says so.

Like ssh with `~/.ssh`, envguard reads snapshots and trash records only from directories owned
by the user and writable by nobody else.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def write_manifest(snapshot_dir: Path) -> None:
    """Record the digest of every file now in `snapshot_dir` (call it last)."""
    from .atomic import write_text_atomic

    files = {rel: _digest(snapshot_dir / rel) for rel in _files(snapshot_dir)}
    data = {"format": 1, "algorithm": "sha256", "files": files}
    write_text_atomic(snapshot_dir / MANIFEST, json.dumps(data, indent=1), 0o600)


def verify(snapshot_dir: Path) -> list[dict]:
    """What in `snapshot_dir` does not match its manifest: [{"file": ..., "problem": ...}].

    A snapshot made before manifests existed is checked against the digests its snapshot.json
    lists (which cover all but snapshot.json itself)."""
    try:
        st = os.lstat(snapshot_dir)
    except OSError as e:
        return [{"file": ".", "problem": f"cannot be read ({e.strerror})"}]
    if not stat.S_ISDIR(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        return [{"file": ".", "problem": f"is {kind}"}]
    expected, legacy = _expected(snapshot_dir)
    if expected is None:
        return [{"file": MANIFEST, "problem": legacy}]
    problems = []
    present = set(_files(snapshot_dir)) - {MANIFEST}
    for rel, digest in sorted(expected.items()):
        path = snapshot_dir / rel
        if rel not in present:
            problems.append({"file": rel, "problem": _missing(path)})
        elif _digest(path) != digest:
            problems.append({"file": rel, "problem": "changed since the snapshot was taken"})
    if not legacy:
        for rel in sorted(present - set(expected)):
            problems.append({"file": rel, "problem": "added since the snapshot was taken"})
    return problems


def _expected(snapshot_dir: Path) -> tuple[dict | None, str]:
    """(relative path -> sha256, "") from the manifest; from snapshot.json for an old
    snapshot (then the second item says so); (None, why) when neither can be read."""
    try:
        data = json.loads(_read_regular(snapshot_dir / MANIFEST))
        files = data["files"]
        if isinstance(files, dict) and all(isinstance(v, str) for v in files.values()):
            return {str(k): v for k, v in files.items() if _safe_rel(str(k))}, ""
        return None, "is not an envguard manifest"
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"cannot be read ({_reason(e)})"
    from .snapshot import META

    try:
        files = json.loads(_read_regular(snapshot_dir / META))["files"]
        if isinstance(files, dict) and all(isinstance(v, str) for v in files.values()):
            return {str(k): v for k, v in files.items() if _safe_rel(str(k))}, "legacy"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None, "is missing, and snapshot.json lists no checksums"


# Outside the manifest: where an imported snapshot came from (bundle.py), noted after it was
# written; the private originals of masked secrets (envfiles.PRIVATE), which a bundle or the
# git history never carries (restore checks each against its manifest-covered copy instead).
_NOTES = frozenset({"imported.json", "secrets.json"})


def _files(directory: Path) -> list[str]:
    """Every entry below `directory` that is not a directory, relative, '/'-separated."""
    out = []
    for root, dirs, names in os.walk(directory):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            out.append(Path(os.path.relpath(os.path.join(root, name), directory)).as_posix())
    return sorted(rel for rel in out if rel not in _NOTES)


def _digest(path: Path) -> str:
    """sha256 of a regular file; a marker that matches no digest for anything else."""
    digest = hashlib.sha256()
    try:
        with open(_regular(path), "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError as e:
        return f"unreadable: {e.strerror}"
    return digest.hexdigest()


def _read_regular(path: Path) -> str:
    with open(_regular(path), encoding="utf-8") as f:
        return f.read()


def _regular(path: Path) -> Path:
    """`path`, refused (OSError) when it is a symbolic link or not a regular file: a snapshot
    never leads out of the store."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(0, "not a regular file", str(path))
    return path


def _missing(path: Path) -> str:
    try:
        _regular(path)
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return e.strerror or "cannot be read"
    return "cannot be read"


def _safe_rel(rel: str) -> bool:
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


# -- who may write the store ----------------------------------------------------------------
def check_private(path: Path, writing: bool = False) -> None:
    """Refuse (UnsafeStoreError) a directory that another user owns or that group or others can
    write, to read from it or (`writing`) to write into it. One that does not exist yet is
    fine: envguard makes it private."""
    if not hasattr(os, "geteuid"):
        return  # Windows: no owner or mode bits to read this way
    try:
        st = os.lstat(path)
    except OSError:
        return  # not there (or not reachable): the read that follows says so, or finds nothing
    from .exceptions import UnsafeStoreError

    if stat.S_ISLNK(st.st_mode):
        raise UnsafeStoreError(
            str(path), "it is a symbolic link", f"replace it with a directory: {path}", writing
        )
    if st.st_uid != os.geteuid():
        raise UnsafeStoreError(
            str(path),
            f"it belongs to another user (uid {st.st_uid})",
            f"chown -R {os.geteuid()} '{path}'   # or move the store: "
            "conda config --set plugins.envguard_store DIR",
            writing,
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeStoreError(
            str(path), "other users can write to it", f"chmod -R go-w '{path}'", writing
        )
