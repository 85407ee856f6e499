"""The hooks around conda's own commands: what is a command about to do, to which env?

Before a command that removes or overwrites an env, envguard refuses if the env is protected,
then snapshots it (no snapshot, no deletion), then moves it to the trash. Before a command
that changes an env's packages, it records the env's state in the history. After the command
completes, the trash entry is kept; if the command did not complete (the user said no, conda
refused or failed), the env is put back where it was.
"""

from __future__ import annotations

import atexit
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from .envs import is_environment, name_of

# Trash entries this process moved whose conda command has not completed yet.
_unfinished: list = []
_atexit_registered = False
# Settings this command could not read: no background expiry deletes by their defaults.
_unreadable: list[str] = []

REMOVE, OVERWRITE, RENAME, CHANGE = "remove", "overwrite", "rename", "change"
CREATE = "create"  # a create or env create of a prefix that is not an env yet
# Commands that can remove, overwrite or rename an env: one envguard cannot read is stopped.
CAN_DESTROY = frozenset({"remove", "env_remove", "create", "env_create", "rename"})


@dataclass(frozen=True)
class Target:
    prefix: Path
    action: str
    keep_dir: bool = False  # `conda remove --all --keep-env`: packages go, the directory stays


def before_command(command: str) -> None:
    from conda import CondaError

    _roll_back_unfinished()
    _release_locks()
    _unreadable.clear()
    try:
        targets = _targets(command)
    except CondaError:
        raise
    except Exception as e:
        if command in CAN_DESTROY:  # fail closed: it may be about to destroy an env
            from conda import __version__ as conda_version

            from .exceptions import GuardBlindError

            raise GuardBlindError(_command_line(), e, conda_version) from e
        _warn(
            f"envguard: could not tell which env `conda {command}` changes ({e}); its state "
            "was not recorded before the change."
        )
        return
    unreadable = _unreadable[:] = _unreadable_settings()
    _check_new_name(command)
    for target in targets:  # all of them before any snapshot: a blocked command takes none
        if target.action in (REMOVE, OVERWRITE, RENAME):
            _stop_if_protected(target)
    for target in targets:
        if target.action == CREATE:
            target = _lock_new_env(target, command)
        if target is None:
            continue
        if target.action == CHANGE:
            _record_history(target.prefix, command)
        else:
            _guard_destruction(target, command, unreadable)
    if unreadable:  # nothing was destroyed: say so, and go on
        _warn(
            "envguard: warning: these envguard settings cannot be read, and read as their "
            "defaults; a command that would remove, overwrite or rename an env stops until "
            "they are fixed:\n" + "\n".join(f"  {p}" for p in unreadable)
        )


def _unreadable_settings() -> list[str]:
    """What `settings.problems` finds, as lines; a check that fails is itself one."""
    from .settings import problems

    try:
        return [p.text for p in problems()]
    except Exception as e:
        return [f"envguard could not check its settings ({type(e).__name__}: {e})"]


def after_command(command: str) -> None:
    if _unfinished:
        _keep_trashed()
    _release_locks()
    if _unreadable:
        return  # the daily expiry would purge and prune by defaults standing in for them
    from .expiry import maybe_expire_in_background

    maybe_expire_in_background()


def _keep_trashed() -> None:
    """The command completed: what it removed stays in the trash; tell the user so."""
    from .trash import Trash

    trash = Trash()
    while _unfinished:
        entry = _unfinished.pop()
        trash.keep(entry)
        # overwritten: the command's new env is in its place, and undo must replace that one
        replaced = is_environment(entry.prefix)
        back = f"conda envguard undo {_undo_arg(entry)}" + (" --force" if replaced else "")
        why = " (the env there now is snapshotted and trashed first)" if replaced else ""
        _note(
            f"envguard: '{entry.env_name}' is in the trash until {entry.expires_at[:10]}, "
            "its disk space held until then (conda envguard trash shows how much).\n"
            f"  Bring it back:   {back}{why}\n"
            f"  Free space now:  conda envguard purge {_undo_arg(entry)}"
        )


# -- what does the command target? -------------------------------------------------------------
def _targets(command: str) -> list[Target]:
    from conda.base.context import context

    from .compat import command_arguments

    if command in ("install", "update"):
        return [Target(Path(context.target_prefix), CHANGE)]
    args = command_arguments()  # missing: before_command stops a command that can destroy

    def arg(key: str, default=None):
        return getattr(args, key, default)

    if command in ("remove", "env_remove"):
        prefix = Path(context.target_prefix)
        if command == "env_remove" or arg("all"):
            return [Target(prefix, REMOVE, keep_dir=bool(arg("keep_env")))]
        return [Target(prefix, CHANGE)]
    if command in ("create", "env_create"):
        prefix = _prefix_from_args_or_file(arg)
        if not prefix:
            return []
        if not is_environment(prefix):
            return [Target(prefix, CREATE)]
        return [_existing_env_target(prefix, command, args)]
    if command == "rename":
        source = Path(context.target_prefix)
        targets = [Target(source, RENAME)]
        destination = arg("destination")
        if destination and arg("yes"):
            from .envs import resolve

            dest = resolve(name=destination)
            if is_environment(dest) and dest != source:
                targets.append(Target(dest, OVERWRITE))
        return targets
    if command == "env_update":
        prefix = _prefix_from_args_or_file(arg)
        return [Target(prefix or Path(context.target_prefix), CHANGE)]
    return []


def _check_new_name(command: str) -> None:
    """The naming rules, for the name a create, env create or rename gives a new env."""
    from conda import CondaError

    if command not in ("create", "env_create", "rename"):
        return
    from .compat import command_arguments

    try:
        args = command_arguments()

        def arg(key: str, default=None):
            return getattr(args, key, default)

        if command == "rename":
            from .envs import prefix_for_name

            destination = arg("destination")
            # a destination with a separator is a path, not a name
            prefix = (
                prefix_for_name(destination) if destination and os.sep not in destination else None
            )
        else:
            prefix = _prefix_from_args_or_file(arg)
        if prefix is None or is_environment(prefix):
            return  # not a new name: an env that exists keeps the one it has
        name = name_of(prefix)
        if name == str(prefix):
            return  # a path outside conda's envs dirs: no name to check
        from .naming import check_new_name

        check_new_name(name)
    except CondaError:
        raise
    except Exception as e:  # a naming rule that can't be read must not crash the command
        _warn(f"envguard: warning: could not check the new env's name ({e}).")


def _prefix_from_args_or_file(arg) -> Path | None:
    """The env a create/env update targets: -n/-p, else the name or prefix in its file."""
    from conda.base.context import context

    from .envs import prefix_for_name

    if arg("name") or arg("prefix"):
        return Path(context.target_prefix)
    files = arg("file")
    if isinstance(files, str):
        files = [files]
    if not files:
        return None
    from .compat import name_prefix_from_env_file

    name, prefix = name_prefix_from_env_file(files[0])
    if name:
        return prefix_for_name(name)
    return Path(os.path.abspath(os.path.expanduser(prefix))) if prefix else None


# -- destruction --------------------------------------------------------------------------------
def _stop_if_protected(target: Target) -> bool:
    """Raise if the command would remove, overwrite or rename a protected env; False when
    there is nothing to guard (no env there, or conda refuses the command itself)."""
    from conda.base.context import context

    from .exceptions import ProtectedEnvironmentError
    from .policy import protection_of

    prefix = target.prefix
    if not is_environment(prefix) or _conda_refuses(prefix, target.action):
        return False  # conda stops the command itself, before touching anything
    protection = protection_of(prefix)
    if protection and protection.kind == "frozen" and not context.protect_frozen_envs:
        protection = None  # --override-frozen: the user asked on purpose
    if protection:
        raise ProtectedEnvironmentError(
            target.action, name_of(prefix), str(prefix), protection.rule, protection.how_to
        )
    return True


def _guard_destruction(target: Target, command: str, unreadable: list[str]) -> None:
    from conda.base.context import context

    prefix = target.prefix
    if not _stop_if_protected(target):
        return
    name = name_of(prefix)
    if unreadable and not context.dry_run:
        from .exceptions import UnreadableSettingsError

        raise UnreadableSettingsError(target.action, name, str(prefix), unreadable)
    if context.dry_run:
        return  # a dry run changes nothing
    if not _lock_env(prefix, name):
        return  # another conda command removed it while this one waited: conda says so
    if target.action == RENAME:
        # conda renames by cloning, then deleting the original: a failure half-way is undone
        # only from a snapshot. The env keeps its contents, so nothing goes to the trash.
        _snapshot_or_stop(prefix, name, command)
        return
    contents = None if target.keep_dir else _unowned_files_or_stop(prefix, name, target.action)
    snapshot = _snapshot_or_stop(prefix, name, command, contents)
    if not target.keep_dir:
        _move_to_trash(prefix, name, snapshot, target.action, contents)


def _lock_new_env(target: Target, command: str) -> Target | None:
    """Hold the lock of the env a create makes, so that two creates of one name never write
    into one prefix at once. Another command may have made the env while this one waited:
    then it is an env like any other (the create overwrites or changes it)."""
    from conda.base.context import context

    if context.dry_run:
        return None
    _lock_env(target.prefix, name_of(target.prefix))
    if not is_environment(target.prefix):
        return None
    from .compat import command_arguments

    return _existing_env_target(target.prefix, command, command_arguments())


def _existing_env_target(prefix: Path, command: str, args) -> Target:
    """A create or env create of an env that exists: conda overwrites it, or (`env create
    -f` without --yes before conda 26.7) installs the file's packages into it."""
    from .compat import env_create_replaces_existing

    return Target(prefix, OVERWRITE if env_create_replaces_existing(command, args) else CHANGE)


def _lock_env(prefix: Path, name: str) -> bool:
    """Hold the env's lock until this command ends; False when the env went meanwhile."""
    from .locks import acquire_for_command, env_lock
    from .settings import store_dir
    from .trash import is_shell

    acquire_for_command(store_dir(), env_lock(prefix), f"the environment '{name}'")
    # A shell: a killed command left the env in the trash (undo brings it back); conda may
    # remove the empty stand-in as it is.
    return is_environment(prefix) and not is_shell(prefix)


def _release_locks() -> None:
    locks = sys.modules.get(f"{__package__}.locks")
    if locks is not None:  # imported only by a command that took a lock
        locks.release_command_locks()


def _conda_refuses(prefix: Path, action: str) -> bool:
    """Will conda itself refuse to remove this env (so nothing is to be done)?"""
    if action != REMOVE:
        return False
    from conda.base.context import context

    from .compat import default_activation_prefix

    def same(a, b) -> bool:
        try:
            return bool(a) and bool(b) and os.path.samefile(a, b)
        except OSError:
            return False

    return (
        same(prefix, context.root_prefix)
        # conda refuses the "current" env: CONDA_PREFIX, or CONDA_DEFAULT_ENV without it
        or same(prefix, context.active_prefix)
        or same(prefix, context.default_prefix)
        or same(prefix, default_activation_prefix())
    )


def _unowned_files_or_stop(prefix: Path, name: str, action: str):
    """Files no package installed: stop here unless the setting lets them go (unowned.py)."""
    from conda import CondaError

    from .unowned import check_before_destroy

    try:
        return check_before_destroy(prefix, name, action, _command_line(with_conda=False))
    except CondaError:
        raise
    except Exception as e:  # unreadable: the snapshot reads the env again, and fails closed
        _warn(
            f"envguard: warning: could not look for files no package installed in {prefix} ({e})."
        )
        return None


def _snapshot_or_stop(prefix: Path, name: str, command: str, contents=None):
    from .exceptions import (
        SnapshotBugError,
        SnapshotFailedError,
        UnsafeStoreError,
        UnsafeStoreWriteError,
    )
    from .integrity import check_private
    from .saving import save
    from .settings import require_snapshot
    from .store import Store
    from .trash import Trash

    store = Store()
    try:
        # the snapshot and the trash record go there: both must be the user's alone
        check_private(Trash(store.root).records_dir, writing=True)
        snapshot = save(
            prefix, name, _trigger(command), _command_line(), contents=contents, store=store
        )
    except Exception as e:
        # Only the system's refusals (disk full, permissions) are the user's to fix; anything
        # else is a bug of envguard's or an error from conda's API, and says so.
        if isinstance(e, UnsafeStoreError):
            reason = f"{e.path}: {e.reason}"
        elif isinstance(e, OSError):
            reason = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
        else:
            reason = f"{type(e).__name__}: {e}"
        if require_snapshot():
            command_line = _command_line(with_conda=False)
            if isinstance(e, UnsafeStoreError):
                raise UnsafeStoreWriteError(e.path, e.reason, e.fix, command_line) from e
            if isinstance(e, OSError):
                raise SnapshotFailedError(
                    str(prefix), str(store.root), reason, command_line
                ) from e
            from conda import __version__ as conda_version

            raise SnapshotBugError(str(prefix), e, conda_version, command_line) from e
        _warn(f"envguard: no snapshot of {name} ({reason}); going on as you asked.")
        return None
    _note(f"envguard: saved snapshot {snapshot.id} of '{name}'.")
    return snapshot


def _move_to_trash(prefix: Path, name: str, snapshot, action: str, contents) -> None:
    from .settings import trash_days, unowned_files
    from .store import new_id
    from .trash import Trash, make_shell

    days = trash_days()
    if days <= 0:
        return
    with_records = action == REMOVE
    trash = Trash()
    entry_id = snapshot.id if snapshot else new_id(name)
    try:
        entry = trash.move_in(prefix, name, entry_id, days, _command_line())
    except OSError as e:
        at_risk = contents.files.at_risk if contents is not None else []
        if at_risk and unowned_files() != "ignore":
            # they were let go to the trash, which cannot take them: conda would delete them
            from .unowned import files_at_risk_error

            command = _command_line(with_conda=False)
            why = f"{e.strerror or e}"
            raise files_at_risk_error(
                action, name, prefix, at_risk, command, trash_on=True, no_trash_because=why
            ) from e
        _warn(
            f"envguard: {prefix} can't be moved to the trash ({e.strerror or e}); conda removes "
            "it as usual" + (f", and snapshot {snapshot.id} can restore it." if snapshot else ".")
        )
        return
    _unfinished.append(entry)
    _register_atexit()
    try:
        make_shell(prefix, entry, with_records)
    except OSError:
        _roll_back_unfinished()
        raise
    trash.hide_kernels(entry)


def _roll_back_unfinished() -> None:
    """Put back envs whose command did not complete (declined, refused, failed)."""
    if not _unfinished:
        return  # the usual case: nothing to import, nothing to do
    from conda.gateways.disk.delete import rm_rf

    from .trash import Trash, is_shell

    trash = Trash()
    while _unfinished:
        entry = _unfinished.pop()
        prefix = Path(entry.prefix)
        try:
            if prefix.exists() and not is_shell(prefix):
                rm_rf(str(prefix))  # what the failed command half-made in its place
            trash.move_out(entry)
            from .lost import note_back

            note_back(prefix)
            _note(f"envguard: the command did not complete; '{entry.env_name}' is back as it was.")
        except Exception as e:
            name = _undo_arg(entry)
            where = (
                f"It is safe in the trash: conda envguard undo {name}"
                if entry.env_dir.is_dir()
                else f"Its snapshot can rebuild it: conda envguard restore {name}"
            )
            _warn(f"envguard: could not put '{entry.env_name}' back ({e}). {where}")


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_roll_back_unfinished)
        _atexit_registered = True


# -- history --------------------------------------------------------------------------------------
def _record_history(prefix: Path, command: str) -> None:
    """Snapshot the env's current state before a command changes it, unless unchanged."""
    from conda.base.context import context

    from .settings import history_enabled

    if context.dry_run or not history_enabled() or not is_environment(prefix):
        return
    from .saving import save
    from .store import Store

    try:
        store = Store()
        if store.is_unchanged(prefix):
            return
        save(prefix, name_of(prefix), _trigger(command), _command_line(), store=store)
    except Exception as e:
        _warn(
            f"envguard: warning: could not record the state of {prefix} before this change ({e})."
        )


# -- messages -------------------------------------------------------------------------------------
def _trigger(command: str) -> str:
    from .compat import command_as_newest_conda_names_it

    return command_as_newest_conda_names_it(command).replace("_", " ")


def _command_line(with_conda: bool = True) -> str:
    """The command as typed, for metadata and for messages that repeat it."""
    argv = sys.argv[1:] if sys.argv and "conda" in os.path.basename(sys.argv[0] or "") else []
    if not argv and sys.argv and sys.argv[0].endswith(os.path.join("conda", "__main__.py")):
        argv = sys.argv[1:]
    text = shlex.join(argv) if argv else "..."
    return f"conda {text}" if with_conda else text


def _undo_arg(entry) -> str:
    """The env of a trash entry as `conda envguard undo` takes it, safe to paste."""
    from .envs import cli_arg

    return cli_arg(entry.prefix, flag=False)


def _note(message: str) -> None:
    from conda.base.context import context

    if not context.quiet:
        print(message, file=sys.stderr)


def _warn(message: str) -> None:
    """What the user must know even under --json and -q: stderr, always."""
    print(message, file=sys.stderr)


# -- removal asked of envguard itself ---------------------------------------------------------
def remove_env(prefix: Path, trigger: str) -> str:
    """Remove the env at `prefix` for an envguard command (`clean`), by the rules of any
    removal: never base, the active env or a protected env (raises); files no package
    installed only as `envguard_unowned_files` lets them go (raises); snapshot first (raises
    when it can't be written); then into the trash, so `conda envguard undo` brings it back.
    Returns the snapshot id."""
    from conda.core.envs_manager import unregister_env

    from .exceptions import EnvGuardError, ProtectedEnvironmentError, UnreadableSettingsError
    from .policy import protection_of
    from .saving import save_and_set_aside

    name = name_of(prefix)
    if protection := protection_of(prefix):
        raise ProtectedEnvironmentError(
            REMOVE, name, str(prefix), protection.rule, protection.how_to
        )
    if unreadable := _unreadable_settings():
        raise UnreadableSettingsError(REMOVE, name, str(prefix), unreadable)
    if _conda_refuses(prefix, REMOVE):
        raise EnvGuardError(
            f"'{name}' is base, the active env or the default activation env: conda does not "
            "remove it, nor does envguard."
        )
    if not _lock_env(prefix, name):
        raise EnvGuardError(f"'{name}' was removed by another conda command meanwhile.")
    from .unowned import check_before_destroy

    contents = check_before_destroy(prefix, name, REMOVE, _command_line(with_conda=False))
    snapshot_id = save_and_set_aside(prefix, trigger, contents)
    unregister_env(str(prefix))
    return snapshot_id
