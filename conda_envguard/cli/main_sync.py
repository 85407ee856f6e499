"""`conda envguard sync`: commit queued snapshots to the git history, pull and push."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options

    p = verbs.add_parser(
        "sync",
        help="Commit queued snapshots to the git history (envguard_git), then pull and push.",
        description="Commit every snapshot not yet in the git history set by envguard_git, "
        "then, when the repository has a remote, rebase onto it and push (for cron).",
        epilog="Example:\n  conda config --set plugins.envguard_git ~/envs-history\n"
        "  conda envguard sync",
    )
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..exceptions import EnvGuardError, GitSyncError
    from ..githistory import HELD, GitError, held, pending, sync
    from ..settings import git_dir
    from ..store import Store
    from .common import emit

    repo = git_dir()
    if repo is None:
        raise EnvGuardError(
            "No git history is set up: envguard_git is empty.\n"
            "  Set one with: conda config --set plugins.envguard_git ~/envs-history"
        )
    store = Store()
    if context.dry_run:
        try:
            plan = pending(store.root, repo)
        except GitError as e:
            raise GitSyncError(str(repo), str(e)) from e
        result = {
            "repo": str(repo),
            "committed": plan["commit"],
            "held": held(store.root),
            "dropped": [],
            "remote": plan["remote"],
            "pushed": False,
            "not_committed": _not_committed(store),
        }
        then = f", then rebase onto {plan['remote']} and push" if plan["remote"] else ""
        emit(
            result,
            f"Would commit {len(plan['commit'])} snapshot(s) to {repo} (those that change its "
            f"files){then}. Nothing was changed.",
        )
        return 0
    try:
        result = sync(store.root, repo)
    except GitError as e:
        raise GitSyncError(str(repo), str(e)) from e
    result["not_committed"] = _not_committed(store)
    count = len(result["committed"])
    if count:
        lines = [f"Committed {count} snapshot(s) to {repo}."]
    elif result["held"] or result["dropped"] or result["not_committed"]:
        lines = [f"Committed nothing new to {repo}."]
    else:
        lines = [
            f"Nothing new to commit to {repo}: every queued snapshot is in it, and no env "
            "changed since its latest snapshot."
        ]
    if missing := result["not_committed"]:
        lines.append(
            f"  {len(missing)} env(s) are not in the history as they are now (only snapshots "
            "are committed):"
        )
        lines += [f"    {m['env_name']} ({m['prefix']}): {m['reason']}" for m in missing]
        lines.append("  Commit them with: conda envguard snapshot --all && conda envguard sync")
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
        lines.append(
            f"  No remote to push to (add one with: git -C {repo} remote add origin URL)."
        )
    elif result["pushed"]:
        lines.append(f"  Pushed to {result['remote']}.")
    else:
        lines.append(f"  {result['remote']} has every commit already: nothing to push.")
    emit(result, "\n".join(lines))
    return 0


def _not_committed(store) -> list[dict]:
    """The envs whose present state no snapshot holds, so no commit either: with none, or
    changed since their latest."""
    from ..envs import known_prefixes, name_of

    out = []
    for prefix in known_prefixes():
        if store.is_unchanged(prefix):
            continue
        reason = "changed since its latest snapshot" if store.recorded(prefix) else "no snapshot"
        out.append({"env_name": name_of(prefix), "prefix": str(prefix), "reason": reason})
    return out
