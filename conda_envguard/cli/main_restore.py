"""`conda envguard restore`: recreate an env from a snapshot (or from the trash)."""

from __future__ import annotations

import os
import shlex
from argparse import Namespace
from datetime import datetime, timedelta, timezone
from pathlib import Path


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options, add_parser_prefix

    p = verbs.add_parser(
        "restore",
        help="Recreate an environment from its latest (or a chosen) snapshot.",
        description="Recreate an environment from a snapshot: from the trash when it still holds "
        "it (instant), else from the snapshot's explicit lock (exact packages, offline from the "
        "package cache when possible), else from its environment.yml; then its pip packages. "
        "Ends by comparing the result with the snapshot.",
        epilog="Examples:\n"
        "  conda envguard restore pytorch-exp1\n"
        "  conda envguard restore pytorch-exp1 -n pytorch-exp1-copy\n"
        "  conda envguard restore pytorch-exp1 --snapshot 20261128-1423 --force\n"
        "  conda envguard restore pytorch-exp1 --at 2026-11-20T09:00 --force\n"
        "  conda envguard restore base --at 2h --in-place\n"
        "  conda envguard restore pytorch-exp1 --from-git --rev HEAD~3",
    )
    p.add_argument(
        "env", nargs="?", metavar="ENV", help="The environment to bring back (its name or path)."
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--snapshot", metavar="ID", help="Restore this snapshot (default: latest).")
    which.add_argument(
        "--at",
        metavar="TIME",
        help="Restore the state the env had at TIME: 2026-11-20, 2026-11-20T14:30, or 3h/2d ago.",
    )
    which.add_argument(
        "--from-git",
        action="store_true",
        help="Restore ENV as committed in the git history (envguard_git), e.g. on a new machine.",
    )
    p.add_argument(
        "--rev", metavar="REV", help="With --from-git: the git revision (default: HEAD)."
    )
    p.add_argument(
        "--host",
        metavar="HOST",
        help="With --from-git: the env of that name committed from this machine (its host "
        "name), when several machines committed one (default: this machine's, or the only one).",
    )
    add_parser_prefix(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="Replace an existing environment at the target (envguard snapshots it first).",
    )
    p.add_argument(
        "--in-place",
        action="store_true",
        help="Make the existing environment match the snapshot without replacing it: one conda "
        "transaction removes and adds only what differs, then pip packages, variables and "
        "settings. For base and the active environment too. envguard snapshots it first.",
    )
    from conda.cli.helpers import add_parser_frozen_env

    add_parser_frozen_env(p)
    p.add_argument(
        "--ignore-damage",
        action="store_true",
        help="Restore even a snapshot whose files no longer match its manifest "
        "(see 'conda envguard verify'). Only for a snapshot you have checked yourself.",
    )
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    if (
        getattr(args, "from_git", False)
        or getattr(args, "rev", None)
        or getattr(args, "host", None)
    ):
        return _execute_from_git(args)
    return _execute(args)


def _execute_from_git(args: Namespace) -> int:
    import shutil
    import tempfile

    from conda.exceptions import ArgumentError

    from ..exceptions import GitHistoryError
    from ..githistory import GitError, materialize
    from ..settings import git_dir

    if not args.from_git:
        raise ArgumentError(f"{'--rev' if args.rev else '--host'} goes with --from-git.")
    if not args.env:
        raise ArgumentError("Name the environment to restore from the git history.")
    repo = git_dir()
    if repo is None:
        from ..exceptions import EnvGuardError

        raise EnvGuardError(
            "--from-git needs the git history, and envguard_git is empty.\n"
            "  Clone it, then: conda config --set plugins.envguard_git PATH"
        )
    scratch = Path(tempfile.mkdtemp(prefix="envguard-git-"))
    try:
        try:
            snap = materialize(repo, args.env, args.rev, scratch / "snapshot", host=args.host)
        except GitError as e:
            raise GitHistoryError(
                f"envguard could not read the git history in {repo}: {e}",
                f"See what git says with: git -C {repo} status",
            ) from e
        return _execute(args, snap)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _execute(args: Namespace, snap=None, extracted=None, imported: dict | None = None) -> int:
    """`extracted`: packages checked and extracted by an import in this process; `imported`:
    that import's report, which the restore's own report then includes."""
    from ..bundle import IMPORTED
    from ..envs import name_of, plain_name, prefix_for_name, resolve
    from ..exceptions import CorruptSnapshotError, TargetExistsError
    from ..restore import restore
    from ..saving import save_and_set_aside
    from ..store import Store
    from ..trash import Trash
    from .common import check_target, emit, lock_env, lock_store, plan_and_confirm, say

    store = Store()
    damaged: list[str] = []
    from_store = snap is None
    snap = snap or _choose_snapshot(store, args)
    target = resolve(args.name, args.prefix) if args.name or args.prefix else Path(snap.prefix)
    if not (args.name or args.prefix) and (not snap.prefix or snap.file(IMPORTED).exists()):
        if not plain_name(snap.env_name):
            from ..exceptions import EnvGuardError

            raise EnvGuardError(
                f"Snapshot {snap.id} came from another machine, and its env name "
                f"{snap.env_name!r} is not a plain name: say where to restore it.\n"
                f"  conda envguard restore --snapshot {shlex.quote(snap.id)} -n NEW_NAME"
            )
        target = prefix_for_name(snap.env_name)  # from another machine: this one's envs dir
    if getattr(args, "in_place", False):
        return _execute_in_place(args, snap, target, store, from_store)
    _refuse_running_env(target, snap)
    lock_env(target, name_of(target))
    if from_store:  # a snapshot from the git history is read from git, not the store
        lock_store(shared=True)  # no prune deletes the snapshot while it is read
        snap = store.get(snap.id)  # as it is now that no other command acts on it
        damaged = _check_integrity(snap, args, _again(args, "--ignore-damage"))
    occupied = check_target(
        target,
        args.force,
        f"{_again(args, target=False)} -n NEW_NAME (or -p /another/path)",
        TargetExistsError(str(target), _again(args, target=False), _again(args, "--force")),
    )
    method = _planned_method(snap, target)
    plan = {
        "snapshot": snap.id,
        "env_name": snap.env_name,
        "target": str(target),
        "method": method,
        "replaces_existing": occupied,
        "counts": _planned_counts(snap, method),
    }
    if not snap.file("explicit.txt").is_file() and not snap.file("environment.yml").is_file():
        raise CorruptSnapshotError(
            str(snap.path), "it has neither explicit.txt nor environment.yml"
        )
    contents = None
    if occupied:
        from ..unowned import check_before_destroy

        contents = check_before_destroy(
            target, name_of(target), "replace", _again(args, conda=False)
        )
    text = _plan_text(plan)
    if not plan_and_confirm(plan, text, f"{text}\n(dry run: nothing changed)", "Restore it?"):
        return 0
    if occupied:
        replaced = save_and_set_aside(target, "restore --force", contents)
        trashed = any(e.id == replaced for e in Trash().entries())
        say(
            f"Saved the env that was at {target} as snapshot {replaced}"
            + (", and moved it to envguard's trash." if trashed else ".")
        )
    report = restore(snap, target, extracted)
    if from_store:  # `status` counts it as the env's latest snapshot, whatever prefix it names
        store.remember(target, snap)
    data = {**plan, **report.to_json(), "damage_ignored": damaged}  # a dry run's keys too
    if imported is not None:
        data = {"import": imported, **data}
    emit(data, _report_text(report, damaged))
    return 0


def _refuse_running_env(target: Path, snap) -> None:
    """base and the active env cannot be set aside while conda runs from them: say what can."""
    from conda.base.context import context

    from ..envs import cli_arg, is_environment
    from ..exceptions import EnvGuardError
    from ..restore import same_path

    running = [p for p in (context.root_prefix, context.active_prefix) if p]
    if is_environment(target) and any(same_path(target, p) for p in running):
        what = "base" if same_path(target, context.root_prefix) else "the active environment"
        raise EnvGuardError(
            f"{target} is {what}: conda runs from it, so envguard cannot move it aside and "
            "rebuild it.\n"
            "  Roll it back where it is instead (envguard snapshots it first):\n"
            f"    conda envguard restore {cli_arg(target, flag=False)} --snapshot "
            f"{shlex.quote(snap.id)} --in-place\n"
            "  or rebuild the snapshot as a new env: conda envguard restore --snapshot "
            f"{shlex.quote(snap.id)} -n NEW_NAME"
        )


def _execute_in_place(args: Namespace, snap, target: Path, store, from_store: bool) -> int:
    from conda.base.context import context

    from ..envs import cli_arg, is_environment, name_of
    from ..exceptions import EnvGuardError
    from ..restore import plan_in_place, restore_in_place
    from .common import emit, lock_env, lock_store, plan_and_confirm

    if not is_environment(target):
        raise EnvGuardError(
            f"There is no environment at {target} to roll back in place.\n"
            f"  Recreate it instead: conda envguard restore --snapshot {shlex.quote(snap.id)}"
            + (f" {cli_arg(target)}" if args.name or args.prefix else "")
        )
    if (target / "conda-meta" / "frozen").exists() and context.protect_frozen_envs:
        raise EnvGuardError(
            f"{target} is frozen (conda-meta/frozen): conda changes nothing in it, and neither "
            "does envguard.\n"
            "  To roll it back anyway, as conda's own --override-frozen allows:\n"
            f"    conda envguard restore {cli_arg(target, flag=False)} --snapshot "
            f"{shlex.quote(snap.id)} --in-place --override-frozen"
        )
    lock_env(target, name_of(target))
    damaged: list[str] = []
    if from_store:
        lock_store(shared=True)
        snap = store.get(snap.id)
        damaged = _check_integrity(snap, args, _again(args, "--ignore-damage"))
    plan = plan_in_place(snap, target)
    data = {
        "snapshot": snap.id,
        "env_name": snap.env_name,
        "target": str(target),
        "method": "in place",
        "plan": plan.to_json(),  # its own key: the report's `pip` and `changed` mean other things
    }
    text = _in_place_plan_text(data["plan"], data["target"], snap.id)
    if plan.empty:
        emit({**data, "already_matches": True}, f"{target} matches snapshot {snap.id} already.")
        return 0
    if not plan_and_confirm(data, text, f"{text}\n(dry run: nothing changed)", "Roll it back?"):
        return 0
    report = restore_in_place(snap, target, plan)
    data = {**data, **report.to_json(), "damage_ignored": damaged}
    emit(data, _report_text(report, damaged))
    return 0


def _in_place_plan_text(data: dict, target: str, snapshot_id: str) -> str:
    lines = [
        f"Roll back {target} in place to snapshot {snapshot_id}",
        "  (envguard snapshots it as it is first, so this is undone the same way)",
    ]
    sections = (
        ("conda packages to remove", data["conda"]["remove"]),
        ("conda packages to add", data["conda"]["add"]),
        ("conda packages to change", data["conda"]["change"]),
        ("pip packages to uninstall", data["pip"]["remove"]),
        ("pip packages to install", data["pip"]["install"]),
        ("settings and files to put back", data["files"]["put_back"]),
        ("settings and files added since, to remove", data["files"]["remove"]),
    )
    for label, items in sections:
        if items:
            lines.append(f"  {label}:")
            lines += [f"    {item}" for item in items]
    return "\n".join(lines)


def _again(args: Namespace, *extra: str, target: bool = True, conda: bool = True) -> str:
    """This restore as typed (from its parsed arguments, ready to paste), with `extra` added;
    without `target`, the -n/-p left out for the caller to give another."""
    argv = ["envguard", "restore"]
    if args.env:
        argv.append(args.env)
    for flag, value in (("--snapshot", args.snapshot), ("--at", args.at)):
        if value:
            argv += [flag, value]
    if args.from_git:
        argv.append("--from-git")
    for flag, value in (("--rev", args.rev), ("--host", args.host)):
        if value:
            argv += [flag, value]
    if target and (args.name or args.prefix):
        argv += ["-n", args.name] if args.name else ["-p", args.prefix]
    for flag, dest in (("--force", "force"), ("--ignore-damage", "ignore_damage"), ("-y", "yes")):
        if getattr(args, dest, False) and flag not in extra:
            argv.append(flag)
    if getattr(args, "json", False):
        argv.append("--json")
    return ("conda " if conda else "") + shlex.join([*argv, *extra])


def _check_integrity(snap, args, how_to_force: str) -> list[str]:
    """A restore installs what the snapshot's files say: they must be what envguard wrote.
    Returns the damaged files restored from all the same (--ignore-damage)."""
    from ..exceptions import DamagedSnapshotError
    from ..integrity import verify
    from .common import say

    problems = verify(snap.path)
    if not problems:
        return []
    if not args.ignore_damage:
        raise DamagedSnapshotError(snap.id, problems, how_to_force)
    for problem in problems:
        say(f"warning: {problem['file']}: {problem['problem']} (restoring it as you asked)")
    return [problem["file"] for problem in problems]


def _choose_snapshot(store, args):
    from ..exceptions import SnapshotNotFoundError
    from ..store import newest

    if args.snapshot:
        return store.get(args.snapshot)
    if not args.env:
        from conda.exceptions import ArgumentError

        raise ArgumentError("Name the environment to restore, or give --snapshot ID.")
    wanted = os.path.abspath(os.path.expanduser(args.env)) if os.sep in args.env else None
    snaps = store.for_env(name=args.env, prefix=wanted)
    if not snaps:
        raise SnapshotNotFoundError(args.env)
    if newest(snaps) is None:
        from ..exceptions import EnvGuardError

        raise EnvGuardError(
            f"'{args.env}' has only snapshots imported from bundles, and an env of this "
            "machine is at the path they name: envguard does not take them for its latest.\n"
            "  To restore one anyway, give its id: conda envguard restore --snapshot "
            f"{shlex.quote(snaps[-1].id)} -n NEW_NAME"
        )
    own = [s for s in snaps if not s.meta.get("imported")]
    snaps = own or snaps
    if args.at:
        moment = parse_time(args.at)
        # A snapshot records the state an env had *until* it was taken (just before a change):
        # the state at a moment is the first snapshot taken after it.
        later = [s for s in snaps if datetime.fromisoformat(s.created) >= moment]
        if not later:
            from ..exceptions import EnvGuardError

            raise EnvGuardError(
                f"'{args.env}' has not changed (as far as envguard saw) since {args.at}: "
                "its state then is its state now. See its snapshots: "
                f"conda envguard list -n {args.env}"
            )
        return later[0]
    return newest(snaps)


def parse_time(text: str) -> datetime:
    from conda.exceptions import ArgumentError

    text = text.strip()
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if text[:-1].isdigit() and text[-1:] in units:
        try:
            return datetime.now(timezone.utc) - timedelta(**{units[text[-1]]: int(text[:-1])})
        except OverflowError:
            raise ArgumentError(f"'{text}' ago is before any date envguard can read.") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ArgumentError(
            f"Cannot read the time '{text}'. Use 2026-11-20, 2026-11-20T14:30, or 3h / 2d (ago)."
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time without a zone is the user's local time
    return moment


def _planned_method(snap, target: Path) -> str:
    from ..restore import trash_entry_for

    if trash_entry_for(snap, target) is not None:
        return "trash"
    from ..restore import other_platform
    from ..snapshot import PORTABLE

    if other_platform(snap) and snap.file(PORTABLE).is_file():
        return "portable specs"
    return "explicit" if snap.file("explicit.txt").is_file() else "environment.yml"


def _planned_counts(snap, method: str) -> dict:
    """What the plan says gets installed: the lock's own lines when the lock is used (a
    snapshot's counts are its own claim, and one from a bundle may understate them)."""
    from ..restore import lock_specs

    counts = dict(snap.meta.get("counts") or {})
    if method == "explicit":
        try:
            counts["conda"] = len(lock_specs(snap))
        except OSError:
            pass  # the restore falls back to environment.yml and says so
    return counts


def _plan_text(plan: dict) -> str:
    how = {
        "trash": "from the trash (one move, the env exactly as it was)",
        "explicit": "from its explicit lock (exact packages; the environment.yml if that fails)",
        "environment.yml": "from its environment.yml",
        "portable specs": "from its portable specs, solved for this platform at the "
        "snapshot's versions (its lock is for another platform)",
    }[plan["method"]]
    counts = plan["counts"]
    lines = [
        f"Restore snapshot {plan['snapshot']} of '{plan['env_name']}'",
        f"  to      {plan['target']}",
        f"  how     {how}",
        f"  with    {counts.get('conda', 0)} conda and {counts.get('pip', 0)} pip packages",
    ]
    if plan["replaces_existing"]:
        from ..trash import set_aside_plan

        lines.append(f"  replaces the env there now ({set_aside_plan()})")
    return "\n".join(lines)


def _report_text(report, damaged: list[str]) -> str:
    from ..envs import cli_arg

    lines = [f"Restored {report.prefix} from snapshot {report.snapshot_id} ({report.method})."]
    if report.saved_first:
        lines.append(
            f"  as it was before: snapshot {report.saved_first} (conda envguard restore "
            f"--snapshot {report.saved_first} --in-place puts it back)"
        )
    if report.restored_files:
        lines.append(f"  settings and files put back: {', '.join(report.restored_files)}")
    if report.exact and damaged:
        lines.append(
            "It matches the snapshot's files as they are now, which are not what envguard "
            f"wrote (restored all the same, as you asked): {', '.join(damaged)}"
        )
    elif report.exact:
        lines.append("It matches the snapshot exactly.")
    else:
        lines.append("It differs from the snapshot:")
        for label, names in (
            ("missing", report.missing),
            ("not in the snapshot", report.extra),
            ("different version or build", report.changed_how or report.changed),
            ("settings and files", report.files_differ),
            (
                "files no package installed, not kept by the snapshot "
                f"(conda envguard show {report.snapshot_id})",
                report.unowned_missing,
            ),
        ):
            if names:
                lines.append(f"  {label}: {', '.join(names)}")
        if report.secrets_missing:
            lines.append(
                "  secrets not restored (their values never leave the machine they were "
                f"saved on): {', '.join(report.secrets_missing)}\n"
                "    set each one again: conda env config vars set NAME=VALUE "
                + cli_arg(report.prefix)
            )
        if damaged:
            lines.append(
                "  the snapshot's files are not what envguard wrote (restored all the same, as "
                f"you asked): {', '.join(damaged)}"
            )
        if report.old_prefix:
            lines.append(
                "  still naming the env's old path (conda did not relocate them): "
                + ", ".join(report.old_prefix)
            )
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines)
