"""Every error envguard shows a user: what happened, why, and the command that gets them on.

Each is a `CondaError`, so conda prints it cleanly (and as JSON under `--json`) with no
traceback, and attributes set here become fields of that JSON.
"""

from __future__ import annotations

from conda import CondaError


class EnvGuardError(CondaError):
    """Base of envguard's errors."""


class ProtectedEnvironmentError(EnvGuardError):
    """A command would remove, overwrite or rename a protected env."""

    def __init__(self, action: str, env_name: str, prefix: str, rule: str, how_to: str):
        self.env_name = env_name
        self.prefix = prefix
        self.rule = rule
        super().__init__(
            f"envguard stopped this command: it would {action} the protected environment "
            f"'{env_name}' ({prefix}).\n"
            f"  Protected by: {rule}\n"
            "  Nothing was changed.\n"
            f"  To {action} it on purpose: {how_to}"
        )


class SnapshotFailedError(EnvGuardError):
    """The snapshot before a destructive command could not be written: the system refused
    (disk full, no permission, read-only store). The cause is the user's to fix."""

    def __init__(self, prefix: str, store: str, reason: str, command: str):
        self.prefix = prefix
        self.store = store
        super().__init__(
            f"envguard could not save a snapshot of {prefix}, so it stopped this command "
            "before anything was removed.\n"
            f"  Reason: {reason}\n"
            f"  Snapshot store: {store}\n"
            "  Fix the cause (free disk space, permissions), or move the store with\n"
            "    conda config --set plugins.envguard_store /another/dir\n"
            f"{_without_snapshot(command)}"
        )


class SnapshotBugError(EnvGuardError):
    """The snapshot failed for a reason that is not the system's: an error from conda's API
    or a bug of envguard's. Never reported as a disk problem."""

    def __init__(self, prefix: str, error: BaseException, conda_version: str, command: str):
        from . import __version__

        self.prefix = prefix
        super().__init__(
            f"envguard could not save a snapshot of {prefix}, so it stopped this command "
            "before anything was removed.\n"
            f"  This is a bug, not a problem with your disk or permissions:\n"
            f"    {type(error).__name__}: {error}\n"
            f"  (conda {conda_version}, conda-envguard {__version__})\n"
            "  Please report it, with this message, at "
            "https://github.com/conda-incubator/conda-envguard/issues\n"
            f"{_without_snapshot(command)}"
        )


def _without_snapshot(command: str) -> str:
    return (
        "  To go on without a snapshot, for this one command only:\n"
        f"    CONDA_PLUGINS_ENVGUARD_REQUIRE_SNAPSHOT=false conda {command}"
    )


class SnapshotNotFoundError(EnvGuardError):
    def __init__(self, what: str):
        super().__init__(
            f"envguard has no snapshot matching '{what}'.\n"
            "  See what there is with: conda envguard list"
        )


class AmbiguousSnapshotError(EnvGuardError):
    def __init__(self, what: str, matches: list[str]):
        shown = "\n    ".join(matches[:10])
        super().__init__(
            f"'{what}' matches {len(matches)} snapshots:\n    {shown}\n"
            "  Give more of the snapshot id."
        )


class CorruptSnapshotError(EnvGuardError):
    def __init__(self, path: str, reason: str):
        self.path = path
        super().__init__(
            f"The snapshot at {path} is damaged and cannot be used: {reason}\n"
            "  Other snapshots are unaffected: conda envguard list"
        )


class EnvironmentNotFoundError(EnvGuardError):
    def __init__(self, what: str):
        super().__init__(
            f"There is no conda environment '{what}'.\n"
            "  Known environments: conda env list\n"
            "  Saved snapshots and trash: conda envguard list, conda envguard trash"
        )


class TargetExistsError(EnvGuardError):
    def __init__(self, prefix: str, elsewhere: str, replace: str):
        self.prefix = prefix
        super().__init__(
            f"An environment already exists at {prefix}; envguard will not overwrite it.\n"
            f"  Restore under another name: {elsewhere} -n NEW_NAME\n"
            f"  Or replace it (envguard snapshots it first): {replace}"
        )


class RestoreFailedError(EnvGuardError):
    pass


class TrashEntryNotFoundError(EnvGuardError):
    def __init__(self, what: str | None, rolled_back: tuple[str, str] | None = None):
        """`rolled_back`: (env name, the snapshot taken first) of the latest in-place
        roll-back, when `undo` is what someone types after one."""
        target = f" for '{what}'" if what else ""
        undo = (
            f"  '{rolled_back[0]}' was rolled back in place, not removed. Undo that with:\n"
            f"    conda envguard restore --snapshot {rolled_back[1]} --in-place\n"
            if rolled_back
            else ""
        )
        super().__init__(
            f"envguard's trash holds no removed environment{target}.\n{undo}"
            "  See the trash with: conda envguard trash\n"
            "  Snapshots can still be restored: conda envguard list; conda envguard restore NAME"
        )


class NameRuleError(EnvGuardError):
    """A new env name breaks the naming rule and envguard_name_check is block."""

    def __init__(self, name: str, rules: list[str], example: str | None):
        self.env_name = name
        broken = "\n".join(f"  Rule: {rule}" for rule in rules)
        good = (
            f"a name like '{example}'"
            if example
            else "a name that matches the pattern (ask whoever set it for an example)"
        )
        super().__init__(
            f"envguard stopped this command: the environment name '{name}' breaks this "
            f"machine's naming rule (envguard_name_check: block).\n{broken}\n"
            "  Nothing was changed.\n"
            f"  Run your command again with {good}."
        )


class UnownedFilesError(EnvGuardError):
    """A command would delete files that no package installed and no snapshot keeps."""

    def __init__(
        self,
        action: str,
        env_name: str,
        prefix: str,
        count: int,
        size: str,
        first: list[str],
        command: str,
        trash_on: bool,
        no_trash_because: str | None = None,
    ):
        self.env_name = env_name
        self.prefix = prefix
        self.count = count
        shown = "\n    ".join(first)
        more = f"\n    ... and {count - len(first)} more" if count > len(first) else ""
        if no_trash_because:
            go_on = (
                f"  envguard's trash cannot hold this env ({no_trash_because}): they would be "
                "deleted for good.\n  To delete them on purpose, for this one command:\n"
                f"    CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=ignore conda {command}"
            )
        elif trash_on:
            go_on = (
                "  To let them go to envguard's trash with the env (undo brings them back), "
                "for this one command:\n"
                f"    CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=trash conda {command}"
            )
        else:
            go_on = (
                "  envguard's trash is off (envguard_trash_days is 0): they would be deleted "
                "for good.\n  To delete them on purpose, for this one command:\n"
                f"    CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=ignore conda {command}"
            )
        super().__init__(
            f"envguard stopped this command: it would {action} '{env_name}' ({prefix}), which "
            f"holds {count} file(s), {size}, that no package installed and no snapshot can "
            f"bring back:\n    {shown}{more}\n"
            "  Nothing was changed.\n"
            "  Move what you want to keep out of the env first, then run the command again.\n"
            f"{go_on}\n"
            f"  See them all: conda envguard snapshot -p {prefix} --force; conda envguard show ID"
        )


class GitHistoryError(EnvGuardError):
    """The git history (envguard_git) cannot give what was asked."""

    def __init__(self, what: str, hint: str):
        super().__init__(f"{what}\n  {hint}")


class GitSyncError(EnvGuardError):
    def __init__(self, repo: str, reason: str):
        self.repo = repo
        super().__init__(
            f"envguard could not sync its git history in {repo}: {reason}\n"
            "  Snapshots are safe in the store, and still queued for git where they could not\n"
            f"  be committed. Fix the cause, then run again: conda envguard sync"
        )


class BundleError(EnvGuardError):
    """A bundle cannot be written or read."""

    def __init__(self, path: str, reason: str, command: str):
        self.path = path
        super().__init__(f"{reason}\n  Bundle: {path}\n  {command}")


class BusyError(EnvGuardError):
    """Another conda process holds the lock of what this command would change."""

    def __init__(self, what: str, holder: str, waited: float):
        self.holder = holder
        by = f" (process {holder})" if holder.isdigit() else ""
        super().__init__(
            f"{what[:1].upper()}{what[1:]} is busy: another conda command{by} is working on it, "
            f"and it was still busy after {waited:g} s, so nothing was changed.\n"
            "  Run this command again when the other one has finished. A killed command "
            "holds nothing: its lock went with it.\n"
            "  To wait longer: conda config --set plugins.envguard_lock_timeout SECONDS"
        )


class UnsafeStoreError(EnvGuardError):
    """The store (or a part of it) could have been written by someone else."""

    def __init__(self, path: str, reason: str, fix: str, writing: bool = False):
        self.path = path
        self.reason = reason
        self.fix = fix
        what = (
            f"write snapshots or trash records into {path}: {reason}, so another user could "
            "change them afterwards"
            if writing
            else f"read snapshots or trash records from {path}: {reason}, so what it holds may "
            "not be what envguard wrote"
        )
        super().__init__(
            f"envguard will not {what} (a snapshot says what a restore installs).\n"
            + f"  If the store is yours, fix it with:\n    {fix}\n"
            + "  Then check every snapshot with: conda envguard verify --all"
        )


class UnsafeTrashError(EnvGuardError):
    """An env in the trash sits where another user could have swapped it."""

    def __init__(self, env: str, path: str, reason: str, fix: str, snapshot_id: str | None):
        self.path = path
        rebuild = (
            f"\n  Or rebuild it from its snapshot instead: conda envguard restore --snapshot "
            f"{snapshot_id} -n NEW_NAME"
            if snapshot_id
            else ""
        )
        super().__init__(
            f"envguard will not bring back '{env}' from the trash: {path}: {reason}, so another "
            "user could have swapped what it holds for files of their own. Nothing was moved.\n"
            f"  If it is yours, fix it with:\n    {fix}\n"
            f"  then check what it holds before you run the command again.{rebuild}"
        )


class UnsafeStoreWriteError(EnvGuardError):
    """A removal or overwrite would write its snapshot into a store others can write."""

    def __init__(self, path: str, reason: str, fix: str, command: str):
        self.path = path
        super().__init__(
            f"envguard will not write a snapshot into {path}: {reason}, so it stopped this "
            "command before anything was removed (another user could change the snapshot "
            "afterwards, and a snapshot says what a restore installs).\n"
            f"  If the store is yours, fix it with:\n    {fix}\n"
            "  then run your command again.\n"
            f"{_without_snapshot(command)}"
        )


class DamagedSnapshotError(EnvGuardError):
    """A snapshot's files no longer match its manifest."""

    def __init__(self, snap_id: str, problems: list[dict], how_to_force: str):
        self.snapshot_id = snap_id
        self.problems = problems
        listed = "\n".join(f"    {p['file']}: {p['problem']}" for p in problems[:10])
        super().__init__(
            f"Snapshot {snap_id} does not match what envguard wrote, so it was not restored:\n"
            f"{listed}\n"
            "  A restore installs what these files say: an edited snapshot could install "
            "anything.\n"
            "  Choose another snapshot: conda envguard list\n"
            f"  To restore this one all the same, on purpose: {how_to_force}"
        )


class UnreadableSettingsError(EnvGuardError):
    """A command would destroy an env while an envguard setting cannot be read: the rule
    that protects the env, or keeps it, may be the very one that is unreadable."""

    def __init__(self, action: str, env_name: str, prefix: str, problems: list[str]):
        self.env_name = env_name
        self.prefix = prefix
        self.problems = problems
        listed = "\n".join(f"    {p}" for p in problems)
        super().__init__(
            f"envguard stopped this command: it would {action} the environment '{env_name}' "
            f"({prefix}), and envguard cannot read its own settings, so it cannot tell whether "
            "a rule protects that env or how to keep it:\n"
            f"{listed}\n"
            "  Nothing was changed.\n"
            "  Fix the value in that file (or ask its owner to; conda config --show-sources "
            "shows every file), then run your command again."
        )


class GuardBlindError(EnvGuardError):
    """envguard cannot tell what a command that can destroy an env would destroy."""

    def __init__(self, command_line: str, error: BaseException, conda_version: str):
        from . import __version__

        super().__init__(
            f"envguard stopped this command: it cannot tell which environment `{command_line}` "
            "would remove or overwrite, so it can neither protect nor snapshot it.\n"
            f"    {error}\n"
            f"  (conda {conda_version}, conda-envguard {__version__}: please report this, with "
            "this message, at https://github.com/conda-incubator/conda-envguard/issues)\n"
            "  Nothing was changed. To run this one command without envguard, on purpose:\n"
            f"    CONDA_NO_PLUGINS=true {command_line}"
        )


class PathUnusableError(EnvGuardError):
    """The system refused a file envguard must read or write (permissions, a file where a
    folder must be, a full disk): the cause, the path, and the setting that points there."""

    def __init__(self, error: OSError, setting: str | None, where: str | None):
        self.path = str(error.filename or "")
        cause = error.strerror or str(error)
        fix = (
            f"  {setting} is {where}. Fix the cause (permissions, free space, a file in the "
            "way), or set another:\n"
            f"    conda config --set plugins.{setting} /another/dir"
            if setting
            else "  Fix the cause (permissions, free space, a file in the way) and run the "
            "command again."
        )
        super().__init__(f"envguard could not use {self.path or 'a file'}: {cause}.\n{fix}")
