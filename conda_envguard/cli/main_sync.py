"""`conda envguard sync`: commit queued snapshots to the git history, pull and push."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

    p = verbs.add_parser(
        "sync",
        help="Commit queued snapshots to the git history (envguard_git), then pull and push.",
        description="Commit every snapshot not yet in the git history set by envguard_git, "
        "then, when the repository has a remote, rebase onto it and push (for cron).",
        epilog="Example:\n  conda config --set plugins.envguard_git ~/envs-history\n"
        "  conda envguard sync",
    )
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from ..exceptions import EnvGuardError, GitSyncError
    from ..githistory import HELD, GitError, sync
    from ..settings import git_dir
    from ..store import Store
    from .common import emit

    repo = git_dir()
    if repo is None:
        raise EnvGuardError(
            "No git history is set up: envguard_git is empty.\n"
            "  Set one with: conda config --set plugins.envguard_git ~/envs-history"
        )
    try:
        result = sync(Store().root, repo)
    except GitError as e:
        raise GitSyncError(str(repo), str(e)) from e
    count = len(result["committed"])
    if count:
        lines = [f"Committed {count} snapshot(s) to {repo}."]
    elif result["held"] or result["dropped"]:
        lines = [f"Committed nothing new to {repo}."]
    else:
        lines = [f"{repo} has every snapshot already (or they changed nothing)."]
    if result["held"]:
        lines.append(
            f"  {len(result['held'])} queued snapshot(s) could not be committed; they are held "
            f"in {Store().root / HELD} and tried again by the next sync:"
        )
        lines += [f"    {h['id']}: {h['reason']}" for h in result["held"]]
    if result["dropped"]:
        lines.append(
            f"  {len(result['dropped'])} queued snapshot(s) left the store before they could "
            "be committed (pruned), so git has no commit of them:"
        )
        lines += [f"    {h['id']}" for h in result["dropped"]]
    if result["remote"] is None:
        lines.append("  No remote to push to (add one with: git -C REPO remote add origin URL).")
    elif result["pushed"]:
        lines.append(f"  Pushed to {result['remote']}.")
    emit(result, "\n".join(lines))
    return 0
