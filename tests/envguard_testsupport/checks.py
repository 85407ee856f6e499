"""What the tests compare: trees of files, how a conda run ended, what conda and envguard report.

Stdlib only, like the rest of `envguard_testsupport`. The helpers that run conda take the
suite's runners as their first argument: `conda_run` (a `python -m conda` child, see conftest's
`CondaRun`), `conda_cli` (conda in-process, from `conda.testing.fixtures`) or `cli` (conftest's
in-process runner that asserts success and parses `--json`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

__all__ = [
    "TRASH_DIRNAME",
    "assert_same_tree",
    "clean_error",
    "conda_list",
    "conda_records",
    "env_packages",
    "listed_envs",
    "listed_snapshots",
    "ok",
    "registered",
    "remove",
    "set_created",
    "short_output",
    "snapshot_entries",
    "snapshots_of",
    "take_snapshot",
    "trashed_envs_on_disk",
    "tree",
    "tree_state",
]

# Where envguard holds removed envs, beside the envs dir: `<envs>/.envguard-trash/<id>/env`.
TRASH_DIRNAME = ".envguard-trash"


# --- trees of files ------------------------------------------------------------------------


def _entries(
    prefix: Path, skip: tuple[str, ...] = ()
) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, path, lstat) of every entry under `prefix`, but the dirs in `skip` and
    what they hold."""
    for root, dirs, files in os.walk(prefix):
        dirs[:] = [d for d in dirs if os.path.relpath(os.path.join(root, d), prefix) not in skip]
        for name in dirs + files:
            path = os.path.join(root, name)
            yield os.path.relpath(path, prefix), path, os.lstat(path)


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree(prefix: Path, skip: tuple[str, ...] = (), *, with_root: bool = False) -> dict[str, tuple]:
    """Every entry under `prefix` (but the dirs in `skip`): relative path -> (kind, mode[,
    sha256 | link target]), with `"."` for `prefix` itself when `with_root`.

    What an env keeps when it is moved or rebuilt: content and permissions, no times.
    """
    out: dict[str, tuple] = {}
    if with_root:
        out["."] = ("dir", stat.S_IMODE(os.lstat(prefix).st_mode))
    for rel, path, st in _entries(prefix, skip):
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            out[rel] = ("file", stat.S_IMODE(st.st_mode), _sha256(path))
    return out


def assert_same_tree(
    prefix: Path, before: dict[str, tuple], skip: tuple[str, ...] = (), context: str = ""
) -> None:
    """`prefix` holds what `tree()` found in `before` (taken the same way, `"."` and all);
    `context` starts the failure message."""
    assert prefix.is_dir(), f"{context}{prefix} is not there"
    after = tree(prefix, skip, with_root="." in before)
    if after == before:
        return
    missing = sorted(before.keys() - after.keys())
    extra = sorted(after.keys() - before.keys())
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    raise AssertionError(
        f"{context}{prefix} differs from before: {len(missing)} missing {missing[:8]}, "
        f"{len(extra)} extra {extra[:8]}, {len(changed)} changed "
        f"{[(k, before[k], after[k]) for k in changed[:5]]}"
    )


def tree_state(prefix: Path, with_root: bool = True) -> dict[str, tuple]:
    """Every path under `prefix`: type, mode, mtime and (for files) size and a hash of the
    content; with `with_root`, `"."` for `prefix` itself with its inode too.

    Equal only when nothing touched the tree: not even a file rewritten as it was.
    """
    state: dict[str, tuple] = {}
    if with_root:
        st = os.lstat(prefix)
        state["."] = ("dir", st.st_mode, st.st_ino, st.st_mtime_ns)
    for rel, path, st in _entries(prefix):
        if stat.S_ISLNK(st.st_mode):
            state[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            state[rel] = ("dir", st.st_mode, st.st_mtime_ns)
        else:
            state[rel] = ("file", st.st_mode, st.st_size, st.st_mtime_ns, _sha256(path))
    return state


# --- how a conda run ended -----------------------------------------------------------------


def short_output(result: subprocess.CompletedProcess) -> str:
    """What a command printed, short: a crash under --json is reduced to its traceback's end."""
    out = result.stdout
    try:
        crash = json.loads(out)
        out = f"{crash['error']}\n...{crash['traceback'][-700:]}"
    except (ValueError, TypeError, KeyError):
        out = out[-2500:]
    return f"--- stdout\n{out}\n--- stderr\n{result.stderr[-2500:]}"


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """A `conda_run` result that succeeded, returned as it is."""
    assert result.returncode == 0, (
        f"`conda {' '.join(map(str, result.args[3:]))}` exited {result.returncode}\n"
        + short_output(result)
    )
    return result


def clean_error(result: subprocess.CompletedProcess, *phrases: str) -> str:
    """A failed command that explains itself: exit 1, the phrases, no traceback."""
    text = result.stdout + result.stderr
    assert result.returncode == 1, f"exit {result.returncode}, expected 1:\n{text}"
    assert "Traceback" not in text, text
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in:\n{text}"
    return text


# --- what conda and envguard report --------------------------------------------------------


def conda_list(conda_run, *target: str | os.PathLike) -> list[dict]:
    """`conda list --json` of an env: `conda_list(conda_run, NAME)` or with `-p PREFIX`."""
    if len(target) == 1:
        target = ("-n", target[0])
    return json.loads(ok(conda_run("list", *target, "--json")).stdout)


def listed_envs(conda_run) -> list[str]:
    """The envs `conda env list --json` shows."""
    return json.loads(ok(conda_run("env", "list", "--json")).stdout)["envs"]


def snapshots_of(conda_run, name: str) -> list[dict]:
    """What `conda envguard list -n NAME --json` lists."""
    return json.loads(ok(conda_run("envguard", "list", "-n", name, "--json")).stdout)["snapshots"]


def remove(conda_run, name: str, purge: bool = False) -> subprocess.CompletedProcess:
    """`conda env remove -n NAME -y`; with `purge`, then also empty envguard's trash of it."""
    removed = ok(conda_run("env", "remove", "-n", name, "-y"))
    if purge:
        ok(conda_run("envguard", "purge", name, "-y"))
    return removed


def listed_snapshots(conda_cli) -> list[dict]:
    """What `conda envguard list --json` lists, in-process."""
    out, err, code = conda_cli("envguard", "list", "--json")
    assert code == 0, err
    return json.loads(out)["snapshots"]


def conda_records(conda_cli, prefix: Path) -> list[dict]:
    """`conda list -p PREFIX --json`, in-process."""
    out, err, code = conda_cli("list", "-p", prefix, "--json")
    assert code == 0, err
    return json.loads(out)


def take_snapshot(cli, *target: str) -> str:
    """`conda envguard snapshot TARGET --force`; returns the new snapshot's id."""
    taken = cli.json("envguard", "snapshot", *target, "--force")["taken"]
    assert len(taken) == 1
    return taken[0]["id"]


# --- what conda and envguard keep on disk --------------------------------------------------


def registered(conda_dirs) -> set[str]:
    """The prefixes in conda's registry of envs (`~/.conda/environments.txt`)."""
    try:
        return set(conda_dirs.environments_txt.read_text().splitlines())
    except FileNotFoundError:
        return set()


def env_packages(prefix: Path) -> dict[str, str]:
    """name -> version, straight from the env's conda-meta records."""
    out = {}
    for record in (prefix / "conda-meta").glob("*.json"):
        data = json.loads(record.read_text())
        out[data["name"]] = data["version"]
    return out


def trashed_envs_on_disk(conda_dirs) -> list[Path]:
    """Envs held in the trash beside the envs dir (`<envs>/.envguard-trash/<id>/env`)."""
    return sorted(conda_dirs.envs.glob(f"{TRASH_DIRNAME}/*/env"))


def snapshot_entries(store: Path) -> list[Path]:
    """Everything in the store's snapshots dir, hidden temporary dirs included."""
    snapshots = store / "snapshots"
    return sorted(snapshots.iterdir()) if snapshots.is_dir() else []


def set_created(store: Path, snap_id: str, when: datetime) -> None:
    """Pretend a snapshot was taken at `when` (its metadata is the only record of that)."""
    path = store / "snapshots" / snap_id / "snapshot.json"
    meta = json.loads(path.read_text())
    meta["created"] = when.astimezone(timezone.utc).isoformat(timespec="seconds")
    path.write_text(json.dumps(meta, indent=2))
    # as if written so: the manifest envguard checks before a restore agrees
    manifest = path.with_name("manifest.json")
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        data["files"]["snapshot.json"] = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest.write_text(json.dumps(data))


def git(repo: Path, *args: str) -> str:
    """`git -C REPO ARGS`, which must succeed: its output."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout
