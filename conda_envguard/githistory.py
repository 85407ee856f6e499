"""Env history in git: every snapshot also committed to a working tree (`envguard_git`).

Each env is a directory of its own, `<env>--<hash>/` (the hash is of the machine's host name
and the env's prefix, so envs of one name in two prefixes, or on two machines sharing the
repo, never meet), holding `environment.yml`, `explicit-<platform>.txt`, (with pip packages)
`requirements.txt`, `portable.json` (the specs that rebuild it on another platform, see
`snapshot.portable_specs`), and `envguard-env.json` naming the env, its prefix, host and user. Each
snapshot is committed with the trigger, the command and the snapshot id; an unchanged env
makes no commit. `restore --from-git ENV` takes this machine's env of that name, or the only
one; else it lists them (`--host` or the folder's name chooses). Histories written before
read as `<env>/` with no host. The `git` command line does the work, so a team pushes to its
own server and reads the history with its own tools.

A snapshot only queues its commit (`<store>/git-queue/<id>`, one empty file) and starts a
detached worker: a guarded conda command never waits for git, nor fails because of it. The
worker (and `conda envguard sync`) commits the queue oldest first under a lock of its own,
so two workers never race for git's index. A failure is written to `<store>/git-error`; the
next snapshot warns about it, and `sync` retries. A queued snapshot that cannot be read or
committed is held in `<store>/git-held/<id>` with the reason, never dropped: `status` and
`sync` list it, and `sync` tries it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import socket
import stat
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .snapshot import PORTABLE

QUEUE = "git-queue"
HELD = "git-held"
ERROR = "git-error"
ENV_META = "envguard-env.json"
SEEDED = "git-seeded"
PUSH_TRIES = 5
_LOCK = "envguard-commit.lock"
_FALLBACK_AUTHOR = ("conda-envguard", "envguard@localhost")


class GitError(Exception):
    """git failed; the message is git's own words, all of them."""


class _Unreadable(Exception):
    """One queued snapshot cannot be committed (the others can)."""


# -- running git -----------------------------------------------------------------------------
def git(
    repo: Path, *args: str, check: bool = True, raw: bool = False
) -> subprocess.CompletedProcess:
    """`git ARGS` in `repo`, never interactive: no pager, editor, prompt or user hooks.
    `raw`: the output as bytes (a blob as it is)."""
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
            text=not raw,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git {args[0]}: {e}") from e
    if check and result.returncode != 0:
        raise GitError(f"git {args[0]}: {said(result)}")
    return result


def said(result: subprocess.CompletedProcess) -> str:
    """Everything git wrote about a failure (its first line alone, or its last, often misses
    the cause), one line each, indented under the first."""
    out = result.stderr or result.stdout
    text = out.decode(errors="replace") if isinstance(out, bytes) else out
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n    ".join(lines) if lines else f"exit {result.returncode}"


def ensure_repo(repo: Path) -> list[str]:
    """A working tree at `repo` (`git init` when there is none). Returns the options that
    give git an author when the user has configured none (git refuses to commit without)."""
    _usable(repo)
    if not (repo / ".git").exists():
        if os.path.lexists(repo) and not repo.is_dir():  # mkdir would say only "File exists"
            what = f"a link to {os.readlink(repo)}" if repo.is_symlink() else "a file"
            raise GitError(
                f"envguard_git is {repo}, which is {what}, not a folder; set it to a folder "
                "(a git working tree, or where envguard makes one): "
                "conda config --set plugins.envguard_git ~/envs-history"
            )
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q")
    if git(repo, "config", "user.email", check=False).stdout.strip():
        return []
    name, email = _FALLBACK_AUTHOR
    return ["-c", f"user.name={name}", "-c", f"user.email={email}"]


def _usable(repo: Path) -> None:
    """A relative envguard_git means another folder in each directory conda runs in: git
    repositories made all over, or commits into whatever project's repository is there."""
    if not repo.is_absolute():
        raise GitError(
            f"envguard_git is '{repo}', a relative path, so it would name another folder in "
            "each directory conda runs in (and envguard would commit into whatever git "
            "repository is there); envguard uses none. Set a full path: "
            "conda config --set plugins.envguard_git ~/envs-history"
        )


@contextmanager
def _locked(repo: Path):
    """One committer at a time per repo (git's own index.lock fails instead of waiting)."""
    # git's own directory: `.git` is a file, not a directory, in a worktree or a submodule
    git_dir = git(repo, "rev-parse", "--absolute-git-dir").stdout.strip()
    lock_path = Path(git_dir) / _LOCK
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
    if held_back := held(store_root):
        print(
            f"envguard: warning: {len(held_back)} snapshot(s) could not be committed to {repo} "
            f"and are held in {Path(store_root) / HELD}; `conda envguard sync` says why.",
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
            _no_rebase_under_way(repo, author)
            seeding = _seed(store_root, repo)
            snaps = []
            for marker in sorted(queue.glob("*")) if queue.is_dir() else []:
                if marker.name.startswith("."):
                    continue
                try:
                    snap = load(store_root / "snapshots" / marker.name)
                    snap.order  # noqa: B018 (the sort below reads it)
                except Exception as e:
                    _hold(store_root, marker.name, _why_unloadable(store_root, marker.name, e))
                    continue
                snaps.append(snap)
            for snap in sorted(snaps, key=lambda s: s.order):
                try:
                    if _commit_one(repo, snap, author):
                        committed.append(snap.id)
                except _Unreadable as e:
                    _hold(store_root, snap.id, str(e))
                    continue
                (queue / snap.id).unlink(missing_ok=True)
            if seeding:
                (store_root / SEEDED).write_text(seeding)
    except Exception as e:  # git, the repo's disk, or a bug: recorded, and the queue stays
        reason = str(e) if isinstance(e, (GitError, OSError)) else f"{type(e).__name__}: {e}"
        try:
            error.write_text(reason + "\n")
        except OSError:
            pass
        raise GitError(reason) from e
    error.unlink(missing_ok=True)
    return committed


def _no_rebase_under_way(repo: Path, author: list[str]) -> None:
    """A rebase or merge the user left stopped at a conflict (resolving one `sync` reported,
    say) owns the working tree: a commit now would land in the middle of it."""
    run = shlex.join(["git", "-C", str(repo), *author])
    for marker, what, go_on in (
        ("rebase-merge", "a rebase", "rebase --continue"),
        ("rebase-apply", "a rebase", "rebase --continue"),
        ("MERGE_HEAD", "a merge", "commit --no-edit"),
    ):
        found = git(repo, "rev-parse", "--git-path", marker).stdout.strip()
        if (repo / found).exists():
            raise GitError(
                f"{what} is under way in {repo} (stopped at a conflict?), so envguard "
                "commits nothing there until it is done.\n"
                f"  Finish it: git -C {repo} add FILES && {run} {go_on}\n"
                f"  or give it up: git -C {repo} {what.split()[1]} --abort"
            )


def _seed(store_root: Path, repo: Path) -> str | None:
    """A history set (or changed) after envs had snapshots: queue each env's latest one, so
    the history holds every env's latest state, not only what changes from now on. Returns
    what to record in `<store>/git-seeded` once they are committed (None: seeded already)."""
    from .store import Store

    seeded = str(Path(repo).absolute())
    if _read(store_root / SEEDED) == seeded:
        return None
    latest: dict[str, str] = {}
    for snap in Store(store_root).all():  # oldest first: the last one of a prefix stays
        if not snap.meta.get("imported"):  # another machine's env is not this one's to commit
            latest[os.path.normpath(snap.prefix)] = snap.id
    if not latest:
        return None  # nothing to seed yet (a store not even made, maybe): seeded by its queue
    queue = store_root / QUEUE
    queue.mkdir(mode=0o700, exist_ok=True)
    for snap_id in latest.values():
        (queue / snap_id).touch()
    return seeded


def env_dirname(name: str) -> str:
    base = os.path.basename(name.rstrip("/\\")) or "env"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".") or "env"


def history_folder(env_name: str, prefix: str, host: str) -> str:
    """The folder of one env in the history: readable, and its own per host and prefix."""
    key = hashlib.sha256(f"{host}\n{os.path.normpath(prefix)}".encode()).hexdigest()[:8]
    return f"{env_dirname(env_name or prefix)}--{key}"


def _commit_one(repo: Path, snap, author: list[str]) -> bool:
    host = socket.gethostname()
    env_name = snap.env_name or os.path.basename(snap.prefix.rstrip("/\\"))
    folder = history_folder(env_name, snap.prefix, host)
    platform = snap.meta.get("platform") or "unknown"
    files = {
        "environment.yml": snap.file("environment.yml"),
        f"explicit-{platform}.txt": snap.file("explicit.txt"),
        "requirements.txt": snap.file("pip.txt"),
        PORTABLE: snap.file(PORTABLE),
    }
    contents: dict[str, bytes | None] = {}
    for name, source in files.items():
        try:
            contents[name] = source.read_bytes()
        except FileNotFoundError:
            contents[name] = None  # e.g. no pip packages any more
        except OSError as e:
            raise _Unreadable(f"{source}: {e.strerror or e}") from e
    identity = {"env_name": env_name, "prefix": snap.prefix, "host": host}
    identity["user"] = snap.meta.get("user") or ""
    contents[ENV_META] = (json.dumps(identity, indent=2) + "\n").encode()
    replaced = _write_folder(repo, folder, contents)
    for note in replaced:
        print(
            f"envguard: warning: in the git history {repo}, {note} (envguard never writes "
            "through a link, nor outside the history).",
            file=sys.stderr,
        )
    git(repo, "add", "-A", "--", folder)
    if git(repo, "diff", "--cached", "--quiet", "--", folder, check=False).returncode == 0:
        return False
    message = (
        f"{env_name}: {snap.meta.get('trigger', 'snapshot')} ({snap.id})\n\n"
        f"Command: {snap.meta.get('command') or '-'}\n"
        f"Snapshot: {snap.id}\n"
        f"Prefix: {snap.prefix}\n"
        f"Host: {host}\n"
        f"Folder: {folder}\n"
        f"Taken: {snap.created}\n"
    )
    if replaced:
        message += "Replaced: " + "; ".join(replaced) + "\n"
    # Only this folder is committed; but git's partial commit (`-- folder`) cannot commit a
    # link replaced by a folder: with nothing else staged, the whole index is this folder.
    elsewhere = git(
        repo, "diff", "--cached", "--quiet", "--", ".", f":(exclude){folder}", check=False
    )
    git(
        repo,
        *author,
        "commit",
        "-q",
        "-m",
        message,
        *(["--", folder] if elsewhere.returncode else []),
    )
    return True


def _write_folder(repo: Path, folder: str, contents: dict[str, bytes | None]) -> list[str]:
    """Write (None: delete) the files of `folder` in the working tree, never through a link:
    the tree comes from a server others push to, and a link there may point at any file of
    the user's. A link (or anything else that is not what envguard keeps there) is removed,
    never followed, and a regular file written in its place; git still holds what it was.
    Returns what was replaced, each as `path (what it was) is now ...`."""
    replaced = []
    target = repo / folder
    if _kind(target) not in (None, "a directory"):
        replaced.append(f"{folder} ({_kind(target)}) is now a folder")
        os.unlink(target)
    target.mkdir(exist_ok=True)
    if _kind(target) != "a directory":  # made a link again meanwhile: hands off
        raise GitError(f"{target} is not a directory")
    for name, data in contents.items():
        path = target / name
        kind = _kind(path)
        if kind == "a directory":
            raise GitError(
                f"{path} is a directory where envguard keeps a file; move it away: "
                f"git -C {repo} rm -r '{folder}/{name}'"
            )
        if kind not in (None, "a regular file"):
            replaced.append(f"{folder}/{name} ({kind}) is now a regular file")
            os.unlink(path)  # the link itself, not what it points to
        if data is None:
            path.unlink(missing_ok=True)
            continue
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        with open(os.open(path, flags | getattr(os, "O_BINARY", 0), 0o644), "wb") as f:
            f.write(data)
    return replaced


def _kind(path: Path) -> str | None:
    """What is at `path`, its link not followed: None when nothing."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return f"a symbolic link to {os.readlink(path)!r}"  # as pushed: no control characters
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    return "a regular file" if stat.S_ISREG(st.st_mode) else "not a regular file"


def _why_unloadable(store_root: Path, snap_id: str, error: Exception) -> str:
    if not os.path.lexists(Path(store_root) / "snapshots" / snap_id):
        return "it is no longer in the store (pruned before it was committed)"
    return f"it cannot be read ({error})"


def _hold(store_root: Path, snap_id: str, reason: str) -> None:
    """Set a queued snapshot aside, with why: never dropped in silence."""
    from .atomic import write_text_atomic

    held_dir = Path(store_root) / HELD
    held_dir.mkdir(mode=0o700, exist_ok=True)
    write_text_atomic(held_dir / snap_id, reason + "\n")
    (Path(store_root) / QUEUE / snap_id).unlink(missing_ok=True)


def held(store_root: Path) -> list[dict]:
    """Queued snapshots set aside: `{"id", "reason"}` each, oldest id first."""
    held_dir = Path(store_root) / HELD
    try:
        names = sorted(p.name for p in held_dir.iterdir() if not p.name.startswith("."))
    except OSError:
        return []
    return [{"id": name, "reason": _read(held_dir / name)} for name in names]


def _requeue_held(store_root: Path) -> list[dict]:
    """Put held snapshots back in the queue for another try; those no longer in the store are
    let go, and returned (for `sync` to say so, once)."""
    dropped = []
    for entry in held(store_root):
        if not os.path.lexists(Path(store_root) / "snapshots" / entry["id"]):
            dropped.append(entry)
            (Path(store_root) / HELD / entry["id"]).unlink(missing_ok=True)
            continue
        queue = Path(store_root) / QUEUE
        queue.mkdir(mode=0o700, exist_ok=True)
        (queue / entry["id"]).touch()
        (Path(store_root) / HELD / entry["id"]).unlink(missing_ok=True)
    return dropped


# -- sync --------------------------------------------------------------------------------------
def pending(store_root: Path, repo: Path) -> dict:
    """What `sync` would do, found without writing anything: the snapshots it would try to
    commit (queued, held, and each env's latest for a history not seeded yet), the remote."""
    from .store import Store

    _usable(repo)
    store_root = Path(store_root)
    ids = {p.name for p in _listed(store_root / QUEUE)} | {h["id"] for h in held(store_root)}
    if _read(store_root / SEEDED) != str(Path(repo).absolute()):
        latest = {}
        for snap in Store(store_root).all():
            if not snap.meta.get("imported"):
                latest[os.path.normpath(snap.prefix)] = snap.id
        ids |= set(latest.values())
    remote = None
    if (repo / ".git").exists():
        remotes = git(repo, "remote").stdout.split()
        remote = ("origin" if "origin" in remotes else remotes[0]) if remotes else None
    existing = [i for i in sorted(ids) if os.path.lexists(store_root / "snapshots" / i)]
    return {"commit": existing, "remote": remote}


def _listed(directory: Path) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if not p.name.startswith(".")]
    except OSError:
        return []


def sync(store_root: Path, repo: Path) -> dict:
    """Commit what is queued (held snapshots tried again), then (when the repo has a remote)
    rebase onto it and push."""
    dropped = _requeue_held(store_root)
    committed = commit_queued(store_root, repo)
    author = ensure_repo(repo)  # a rebase commits too
    result = {
        "repo": str(repo),
        "committed": committed,
        "held": held(store_root),
        "dropped": dropped,
        "remote": None,
        "pushed": False,
    }
    remotes = git(repo, "remote").stdout.split()
    if not remotes:
        return result
    remote = "origin" if "origin" in remotes else remotes[0]
    result["remote"] = remote
    branch = git(repo, "symbolic-ref", "--short", "HEAD").stdout.strip()
    with _locked(repo):
        # Another machine may push between our fetch and our push: then fetch, rebase and
        # push again. Folders are per host and prefix, so a rebase conflicts only when two
        # clones wrote the same env's folder.
        for attempt in range(1, PUSH_TRIES + 1):
            _rebase_onto(repo, remote, branch, author)
            head = git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False)
            theirs = git(repo, "rev-parse", "--verify", "-q", f"{remote}/{branch}", check=False)
            if head.returncode or head.stdout == theirs.stdout:
                break  # nothing to push: "pushed" stays false, as the report says
            push = git(repo, "push", "-q", "-u", remote, f"HEAD:{branch}", check=False)
            if push.returncode == 0:
                result["pushed"] = True
                break
            if attempt == PUSH_TRIES or not _moved(repo, remote, branch):
                raise GitError(f"git push: {said(push)}")
    return result


def _moved(repo: Path, remote: str, branch: str) -> bool:
    """Has `remote`'s branch moved past what we have (someone pushed meanwhile)?"""
    before = git(repo, "rev-parse", "-q", "--verify", f"{remote}/{branch}", check=False)
    git(repo, "fetch", "-q", remote)
    after = git(repo, "rev-parse", "-q", "--verify", f"{remote}/{branch}", check=False)
    return after.stdout.strip() != before.stdout.strip()


def _rebase_onto(repo: Path, remote: str, branch: str, author: list[str]) -> None:
    """Fetch `remote` and put our commits on top of its `branch`; a conflict is undone and
    reported with the commands that resolve it."""
    git(repo, "fetch", "-q", remote)
    upstream = f"{remote}/{branch}"
    if git(repo, "rev-parse", "--verify", "-q", upstream, check=False).returncode:
        return  # the remote has no such branch yet: the push makes it
    if git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode:
        git(repo, "reset", "-q", "--hard", upstream)  # nothing here yet: take theirs
        return
    rebase = git(repo, *author, "rebase", "-q", upstream, check=False)
    if not rebase.returncode:
        return
    both = git(repo, "diff", "--name-only", "--diff-filter=U", check=False).stdout.split()
    git(repo, "rebase", "--abort", check=False)
    if not both:
        raise GitError(f"git rebase onto {upstream}: {said(rebase)}")
    # A rebase commits: without an identity of the user's, git refuses it, so the commands
    # carry the one envguard commits with.
    run = shlex.join(["git", "-C", str(repo), *author])
    raise GitError(
        f"the history on {remote} changed the same env files as this machine "
        f"({', '.join(both)}), so envguard cannot put its commits on top; nothing was "
        "pushed, and the history here is as it was before this sync.\n"
        "  Keep this machine's version of those files:\n"
        f"    {run} rebase -X theirs {upstream}\n"
        "  or merge them by hand:\n"
        f"    {run} rebase {upstream}    (stops at the conflict)\n"
        f"    edit the files, then: git -C {repo} add FILES && {run} rebase --continue\n"
        "  then push: conda envguard sync"
    )


# -- restore from the repo --------------------------------------------------------------------
def materialize(repo: Path, env: str, rev: str | None, dest: Path, host: str | None = None):
    """A snapshot (in `dest`) of `env` as committed in `repo` at `rev` (default: HEAD).
    `env` is an env name (this machine's env of that name, or the only one; `host` chooses
    among machines) or a folder of the history."""
    from conda.base.context import context

    from .exceptions import GitHistoryError
    from .snapshot import META, Snapshot

    _usable(repo)
    if not (repo / ".git").exists():
        raise GitHistoryError(
            f"envguard_git is {repo}, which is not a git working tree.",
            f"Clone the team's history there first: git clone URL {repo}",
        )
    rev = rev or "HEAD"
    found = git(repo, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
    if found.returncode != 0:
        raise GitHistoryError(
            f"{repo} has no revision '{rev}'.",
            f"See the history with: git -C {repo} log --oneline",
        )
    commit = found.stdout.strip()
    chosen = _choose(repo, commit, rev, env, host)
    folder, env_name, files = chosen["folder"], chosen["env_name"], chosen["files"]
    names = set(files)

    def show(name: str) -> bytes | None:
        if name not in names:
            return None
        if files[name] not in _REGULAR:  # a link's blob is where it points: never read there
            raise GitHistoryError(
                f"{folder}/{name} in {repo} at {rev} is not a regular file (git mode "
                f"{files[name]}, a symbolic link when 120000), so envguard does not read it.",
                f"See who put it there with: git -C {repo} log -- '{folder}/{name}'",
            )
        return git(repo, "show", f"{commit}:{folder}/{name}", raw=True).stdout

    dest.mkdir(parents=True, exist_ok=True)
    lock_name = f"explicit-{context.subdir}.txt"
    platform = context.subdir if lock_name in names else None
    if platform is None:
        others = sorted(n for n in names if n.startswith("explicit-"))
        platform = others[0][len("explicit-") : -len(".txt")] if others else None
    lock = show(lock_name)
    yml = show("environment.yml")
    pip = show("requirements.txt")
    portable = show(PORTABLE)
    for name, data in (
        ("explicit.txt", lock),
        ("environment.yml", yml),
        ("pip.txt", pip),
        (PORTABLE, portable),
    ):
        if data is not None:
            (dest / name).write_bytes(data)
    try:
        packages = _packages_from_lock(lock) if lock else _packages_from_yaml(yml or b"")
        packages += [
            {"name": n, "version": v, "kind": "pypi"}
            for n, _, v in (line.partition("==") for line in (pip or b"").decode().splitlines())
            if n
        ]
    except (ValueError, TypeError, AttributeError, RecursionError) as e:
        raise GitHistoryError(
            f"The files of {folder} in {repo} at {rev} are not what envguard writes "
            f"({type(e).__name__}: {e}), so envguard does not restore from them.",
            f"See what changed them with: git -C {repo} log -p -- '{folder}'",
        ) from e
    (dest / "packages.json").write_text(json.dumps({"packages": packages}, indent=1))
    stamp = git(repo, "show", "-s", "--format=%cI", commit).stdout.strip()
    meta = {
        "id": f"git-{commit[:12]}-{folder}",
        "env_name": env_name,
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
        "git_folder": folder,
        "git_host": chosen.get("host"),
    }
    (dest / META).write_text(json.dumps(meta, indent=2))
    return Snapshot(dest, meta)


_REGULAR = ("100644", "100755")
_FOLDER = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")
_HOST = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")


def _tree(repo: Path, commit: str) -> dict[str, dict[str, str]]:
    """The env folders at `commit`: folder -> {file name: git mode}. The history comes from
    a server others push to: a folder whose name envguard would not write is not one."""
    by_folder: dict[str, dict[str, str]] = {}
    for record in git(repo, "ls-tree", "-r", "-z", commit, raw=True).stdout.split(b"\0"):
        head, _, path = record.decode(errors="replace").partition("\t")
        folder, _, name = path.partition("/")
        if name and "/" not in name and _FOLDER.fullmatch(folder):
            by_folder.setdefault(folder, {})[name] = head.split(" ")[0]
    return by_folder


def _candidates(repo: Path, commit: str, env: str) -> tuple[list[dict], list[str]]:
    """The env folders at `commit` that `env` may mean: its name's folders (one per host and
    prefix), a folder named `env` itself, and the folder of a history written before. Also
    the folders it may mean that envguard does not read, with why."""
    readable = env_dirname(env)
    out, refused = [], []
    for folder, files in sorted(_tree(repo, commit).items()):
        names = set(files)
        if not (names & {"environment.yml"} or any(n.startswith("explicit-") for n in names)):
            continue
        if ENV_META in names and (folder == env or folder.startswith(f"{readable}--")):
            identity, problem = _identity(repo, commit, folder, files[ENV_META])
            if problem:
                refused.append(f"{folder}: its {ENV_META} {problem}")
                continue
            if folder == env or identity["env_name"] == env:
                out.append({**identity, "folder": folder, "files": files})
        elif ENV_META not in names and folder == readable:
            old = {"folder": folder, "env_name": folder, "host": None, "prefix": None}
            out.append({**old, "files": files})
    return out, refused


def _identity(repo: Path, commit: str, folder: str, mode: str) -> tuple[dict, str | None]:
    """The `envguard-env.json` of `folder`, checked as what it is: data anyone could push.
    Returns (identity, None), or ({}, why it is not read)."""
    if mode not in _REGULAR:
        return {}, f"is not a regular file (git mode {mode}; 120000 is a symbolic link)"
    try:
        identity = json.loads(git(repo, "show", f"{commit}:{folder}/{ENV_META}", raw=True).stdout)
    except (GitError, ValueError, RecursionError) as e:
        return {}, f"cannot be read ({type(e).__name__})"
    if not isinstance(identity, dict):
        return {}, "is not a JSON object"
    out = {}
    for key in ("env_name", "prefix", "host", "user"):
        value = identity.get(key, "" if key == "user" else None)
        if not isinstance(value, str) or len(value) > 4096:
            return {}, f"has no valid '{key}'"
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            return {}, f"has control characters in '{key}'"
        out[key] = value
    name = out["env_name"]
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        return {}, f"names no env ('env_name' is {name!r})"
    if not folder.startswith(f"{env_dirname(name)}--"):
        return {}, f"names env {name!r}, which is not the folder's"
    if not _HOST.fullmatch(out["host"]):
        return {}, f"names no host ('host' is {out['host']!r})"
    return out, None


def _choose(repo: Path, commit: str, rev: str, env: str, host: str | None) -> dict:
    from .exceptions import GitHistoryError

    candidates, refused = _candidates(repo, commit, env)
    if host is not None:
        candidates = [c for c in candidates if c.get("host") == host]
    if not candidates:
        on = f" from host '{host}'" if host is not None else ""
        unread = "".join(f"\n    {why}, so envguard does not read it" for why in refused)
        raise GitHistoryError(
            f"{repo} holds no env '{env}'{on} at {rev}.{unread}",
            f"See the envs it holds with: git -C {repo} ls-tree --name-only {rev}",
        )
    if len(candidates) == 1:
        return candidates[0]
    here = socket.gethostname()
    mine = [c for c in candidates if c.get("host") == here]
    if len(mine) > 1:
        from .envs import prefix_for_name

        default = os.path.normpath(str(prefix_for_name(env)))
        mine = [c for c in mine if os.path.normpath(c.get("prefix") or "") == default]
    if len(mine) == 1:
        return mine[0]
    listed = "\n".join(f"    {_described(repo, commit, c)}" for c in candidates)
    hosts = [c.get("host") for c in candidates]
    # both examples choose the same env: the first by host
    example = min(candidates, key=lambda c: (c.get("host") or "", c["folder"]))
    by_folder = f"conda envguard restore {example['folder']} --from-git"
    if None in hosts or len(set(hosts)) < len(hosts):  # a host alone would not choose
        hint = f"Choose one by its folder: {by_folder}"
    else:
        hint = (
            f"Choose one by its machine: conda envguard restore {env} --from-git "
            f"--host {example['host']}\n  or by its folder: {by_folder}"
        )
    raise GitHistoryError(
        f"{repo} holds {len(candidates)} envs named '{env}' at {rev}:\n{listed}", hint
    )


def _described(repo: Path, commit: str, candidate: dict) -> str:
    last = git(repo, "log", "-1", "--format=%cs", commit, "--", candidate["folder"])
    when = last.stdout.strip() or "?"
    if candidate.get("host") is None:
        return f"{candidate['folder']}: written before envguard recorded hosts; last commit {when}"
    who = f", by {candidate['user']}" if candidate.get("user") else ""
    return (
        f"{candidate['folder']}: host {candidate['host']}, {candidate.get('prefix')}{who}; "
        f"last commit {when}"
    )


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

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"environment.yml is not YAML: {e}") from e
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
