"""Env history in git: every snapshot also committed to a working tree (`envguard_git`).

Each env is a directory, `<env>/environment.yml`, `<env>/explicit-<platform>.txt` and (with
pip packages) `<env>/requirements.txt`, committed with the trigger, the command and the
snapshot id; an unchanged env makes no commit. The `git` command line does the work, so a
team pushes to its own server and reads the history with its own tools.

A snapshot only queues its commit (`<store>/git-queue/<id>`, one empty file) and starts a
detached worker: a guarded conda command never waits for git, nor fails because of it. The
worker (and `conda envguard sync`) commits the queue oldest first under a lock of its own,
so two workers never race for git's index. A failure is written to `<store>/git-error`; the
next snapshot warns about it, and `sync` retries.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

QUEUE = "git-queue"
ERROR = "git-error"
_LOCK = "envguard-commit.lock"
_FALLBACK_AUTHOR = ("conda-envguard", "envguard@localhost")


class GitError(Exception):
    """git failed; the message is git's own last words."""


# -- running git -----------------------------------------------------------------------------
def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`git ARGS` in `repo`, never interactive: no pager, editor, prompt or user hooks."""
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PAGER": "cat",
        "GIT_EDITOR": "true",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
        "LC_ALL": "C",
    }
    command = ["git", "-c", f"core.hooksPath={os.devnull}", "-c", "commit.gpgSign=false"]
    try:
        result = subprocess.run(
            [*command, *args],
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git {args[0]}: {e}") from e
    if check and result.returncode != 0:
        words = (result.stderr or result.stdout).strip().splitlines()
        raise GitError(f"git {args[0]}: {words[-1] if words else f'exit {result.returncode}'}")
    return result


def ensure_repo(repo: Path) -> list[str]:
    """A working tree at `repo` (`git init` when there is none). Returns the options that
    give git an author when the user has configured none (git refuses to commit without)."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q")
    if git(repo, "config", "user.email", check=False).stdout.strip():
        return []
    name, email = _FALLBACK_AUTHOR
    return ["-c", f"user.name={name}", "-c", f"user.email={email}"]


@contextmanager
def _locked(repo: Path):
    """One committer at a time per repo (git's own index.lock fails instead of waiting)."""
    lock_path = repo / ".git" / _LOCK
    with open(lock_path, "a") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: git's index.lock still refuses a second writer
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- after a snapshot ------------------------------------------------------------------------
def queue_commit(snapshot, store_root: Path, detached: bool = True) -> None:
    """Queue `snapshot` for the git history and start a detached committer (not with
    `detached=False`: the caller commits the queue itself, `commit_queued`)."""
    from .settings import git_dir

    repo = git_dir()
    if repo is None:
        return
    queue = Path(store_root) / QUEUE
    queue.mkdir(mode=0o700, exist_ok=True)
    (queue / snapshot.id).touch()
    if not detached:
        return
    error = Path(store_root) / ERROR
    if error.is_file():
        print(
            f"envguard: warning: the last commit to {repo} failed ({_read(error)}); "
            "run `conda envguard sync` to retry.",
            file=sys.stderr,
        )
    subprocess.Popen(
        [sys.executable, "-m", "conda_envguard.githistory", str(store_root), str(repo)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def commit_queued(store_root: Path, repo: Path) -> list[str]:
    """Commit every queued snapshot, oldest first. Returns the ids committed (an unchanged
    env's snapshot makes no commit and is not listed). Raises GitError."""
    from .snapshot import load

    store_root = Path(store_root)
    queue = store_root / QUEUE
    error = store_root / ERROR
    try:
        author = ensure_repo(repo)
        committed = []
        with _locked(repo):
            snaps = []
            for marker in sorted(queue.glob("*")) if queue.is_dir() else []:
                try:
                    snaps.append(load(store_root / "snapshots" / marker.name))
                except Exception:
                    marker.unlink(missing_ok=True)  # pruned meanwhile: nothing to commit
            for snap in sorted(snaps, key=lambda s: s.order):
                if _commit_one(repo, snap, author):
                    committed.append(snap.id)
                (queue / snap.id).unlink(missing_ok=True)
    except (GitError, OSError) as e:
        try:
            error.write_text(str(e) + "\n")
        except OSError:
            pass
        raise GitError(str(e)) from e
    error.unlink(missing_ok=True)
    return committed


def env_dirname(name: str) -> str:
    base = os.path.basename(name.rstrip("/\\")) or "env"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".") or "env"


def _commit_one(repo: Path, snap, author: list[str]) -> bool:
    folder = env_dirname(snap.env_name or snap.prefix)
    target = repo / folder
    target.mkdir(exist_ok=True)
    platform = snap.meta.get("platform") or "unknown"
    files = {
        "environment.yml": snap.file("environment.yml"),
        f"explicit-{platform}.txt": snap.file("explicit.txt"),
        "requirements.txt": snap.file("pip.txt"),
    }
    for name, source in files.items():
        try:
            data = source.read_bytes()
        except FileNotFoundError:
            (target / name).unlink(missing_ok=True)  # e.g. no pip packages any more
            continue
        (target / name).write_bytes(data)
    git(repo, "add", "-A", "--", folder)
    if git(repo, "diff", "--cached", "--quiet", "--", folder, check=False).returncode == 0:
        return False
    message = (
        f"{folder}: {snap.meta.get('trigger', 'snapshot')} ({snap.id})\n\n"
        f"Command: {snap.meta.get('command') or '-'}\n"
        f"Snapshot: {snap.id}\n"
        f"Prefix: {snap.prefix}\n"
        f"Taken: {snap.created}\n"
    )
    git(repo, *author, "commit", "-q", "-m", message, "--", folder)
    return True


# -- sync --------------------------------------------------------------------------------------
def sync(store_root: Path, repo: Path) -> dict:
    """Commit what is queued, then (when the repo has a remote) rebase onto it and push."""
    committed = commit_queued(store_root, repo)
    author = ensure_repo(repo)  # a rebase commits too
    result = {"repo": str(repo), "committed": committed, "remote": None, "pushed": False}
    remotes = git(repo, "remote").stdout.split()
    if not remotes:
        return result
    remote = "origin" if "origin" in remotes else remotes[0]
    result["remote"] = remote
    branch = git(repo, "symbolic-ref", "--short", "HEAD").stdout.strip()
    with _locked(repo):
        git(repo, "fetch", "-q", remote)
        upstream = f"{remote}/{branch}"
        if git(repo, "rev-parse", "--verify", "-q", upstream, check=False).returncode == 0:
            has_head = git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False)
            if has_head.returncode != 0:
                git(repo, "reset", "-q", "--hard", upstream)  # nothing here yet: take theirs
            elif git(repo, *author, "rebase", "-q", upstream, check=False).returncode != 0:
                git(repo, "rebase", "--abort", check=False)
                raise GitError(
                    f"git rebase: the history on {remote} changed the same env files; "
                    f"merge it by hand in {repo}"
                )
        if git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode == 0:
            git(repo, "push", "-q", "-u", remote, f"HEAD:{branch}")
            result["pushed"] = True
    return result


# -- restore from the repo --------------------------------------------------------------------
def materialize(repo: Path, env: str, rev: str | None, dest: Path):
    """A snapshot (in `dest`) of `env` as committed in `repo` at `rev` (default: HEAD)."""
    from conda.base.context import context

    from .exceptions import GitHistoryError
    from .snapshot import META, Snapshot

    if not (repo / ".git").exists():
        raise GitHistoryError(
            f"envguard_git is {repo}, which is not a git working tree.",
            f"Clone the team's history there first: git clone URL {repo}",
        )
    rev = rev or "HEAD"
    folder = env_dirname(env)
    found = git(repo, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
    if found.returncode != 0:
        raise GitHistoryError(
            f"{repo} has no revision '{rev}'.",
            f"See the env's history with: git -C {repo} log --oneline -- {folder}",
        )
    commit = found.stdout.strip()
    listing = git(repo, "ls-tree", "--name-only", commit, f"{folder}/").stdout.split()
    names = {os.path.basename(p) for p in listing}
    if "environment.yml" not in names and not any(n.startswith("explicit-") for n in names):
        raise GitHistoryError(
            f"{repo} holds no env '{folder}' at {rev}.",
            f"See the envs it holds with: git -C {repo} ls-tree --name-only {rev}",
        )

    def show(name: str) -> bytes | None:
        if name not in names:
            return None
        return subprocess.run(
            ["git", "show", f"{commit}:{folder}/{name}"],
            cwd=repo,
            capture_output=True,
            check=True,
            env={**os.environ, "GIT_PAGER": "cat"},
        ).stdout

    dest.mkdir(parents=True, exist_ok=True)
    lock_name = f"explicit-{context.subdir}.txt"
    platform = context.subdir if lock_name in names else None
    if platform is None:
        others = sorted(n for n in names if n.startswith("explicit-"))
        platform = others[0][len("explicit-") : -len(".txt")] if others else None
    lock = show(lock_name)
    yml = show("environment.yml")
    pip = show("requirements.txt")
    for name, data in (("explicit.txt", lock), ("environment.yml", yml), ("pip.txt", pip)):
        if data is not None:
            (dest / name).write_bytes(data)
    packages = _packages_from_lock(lock) if lock else _packages_from_yaml(yml or b"")
    packages += [
        {"name": n, "version": v, "kind": "pypi"}
        for n, _, v in (line.partition("==") for line in (pip or b"").decode().splitlines())
        if n
    ]
    (dest / "packages.json").write_text(json.dumps({"packages": packages}, indent=1))
    stamp = git(repo, "show", "-s", "--format=%cI", commit).stdout.strip()
    meta = {
        "id": f"git-{commit[:12]}-{folder}",
        "env_name": folder,
        "prefix": "",
        "created": datetime.fromisoformat(stamp).astimezone(timezone.utc).isoformat()
        if stamp
        else "",
        "trigger": "git",
        "command": f"git {rev} ({commit[:12]}) of {repo}",
        "platform": platform,
        "counts": {
            "conda": sum(p["kind"] == "conda" for p in packages),
            "pip": sum(p["kind"] == "pypi" for p in packages),
        },
        "git_commit": commit,
    }
    (dest / META).write_text(json.dumps(meta, indent=2))
    return Snapshot(dest, meta)


def _packages_from_lock(lock: bytes) -> list[dict]:
    from .envstate import channel_name
    from .pkgkeep import lock_entries

    out = []
    for entry in lock_entries(lock.decode()):
        name, version, build = entry.stem.rsplit("-", 2)
        channel = entry.url.rsplit("/", 2)[0]
        out.append(
            {
                "name": name,
                "version": version,
                "build": build,
                "channel": channel_name({"channel": channel}),
                "kind": "conda",
            }
        )
    return out


def _packages_from_yaml(text: bytes) -> list[dict]:
    import yaml

    from .envstate import channel_name

    data = yaml.safe_load(text) or {}
    channels = data.get("channels") or []
    channel = channel_name({"channel": channels[0]}) if len(channels) == 1 else ""
    out = []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, str):
            name, _, rest = dep.partition("=")
            version, _, build = rest.partition("=")
            out.append(
                {
                    "name": name,
                    "version": version,
                    "build": build,
                    "channel": channel,
                    "kind": "conda",
                }
            )
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return "?"


if __name__ == "__main__":  # the detached committer started by queue_commit
    try:
        commit_queued(Path(sys.argv[1]), Path(sys.argv[2]))
    except GitError:
        sys.exit(1)
