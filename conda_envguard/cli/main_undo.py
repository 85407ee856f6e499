"""`conda envguard undo`: put back the most recently removed env, in one rename."""

from __future__ import annotations

import time
from argparse import Namespace
from pathlib import Path


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options

    p = verbs.add_parser(
        "undo",
        help="Bring back the most recently removed (or overwritten) environment.",
        description="Put back the most recently removed or overwritten environment (of ENV, or "
        "of any env) from envguard's trash: one rename, whatever its size, with its Jupyter "
        "kernels and its registration.",
        epilog="Examples:\n  conda envguard undo\n  conda envguard undo pytorch-exp1",
    )
    p.add_argument("env", nargs="?", metavar="ENV", help="The environment (name or path).")
    p.add_argument(
        "--force",
        action="store_true",
        help="If an env now occupies the place, snapshot it and move it to the trash first.",
    )
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:

    from ..envs import cli_arg
    from ..exceptions import EnvGuardError, TrashEntryNotFoundError
    from ..saving import save_and_set_aside
    from ..trash import Trash, check_safe
    from .common import check_target, emit, local_time, lock_env, plan_and_confirm

    trash = Trash()
    locked = None
    while True:
        entries = trash.find(args.env)
        if not entries:
            raise TrashEntryNotFoundError(args.env, _rolled_back(args.env))
        entry = entries[-1]
        if entry.in_use:
            raise EnvGuardError(
                f"A conda command (process {entry.pid}) is removing '{entry.env_name}' right "
                "now. Answer its question (or stop it): if it does not complete, envguard puts "
                "the env back by itself."
            )
        if entry.prefix == locked:
            break
        # Another undo may be first: choose again once no other command acts on the env.
        lock_env(entry.prefix, entry.env_name)
        locked = entry.prefix
    if not entry.whole:
        raise EnvGuardError(
            f"'{entry.env_name}' was being purged from the trash when that was interrupted, "
            "so what is left of it is incomplete and will not be put back.\n"
            f"  Rebuild it from its snapshot: conda envguard restore {entry.env_name}\n"
            f"  Finish the purge: conda envguard purge {entry.env_name} -y"
        )
    check_safe(entry)  # before anything is set aside for it
    target = Path(entry.prefix)
    elsewhere = f"conda envguard restore --snapshot {entry.snapshot_id} -n NEW_NAME"
    occupied = check_target(
        target,
        args.force,
        elsewhere,
        EnvGuardError(
            f"Another environment now occupies {target}, so '{entry.env_name}' can't go back "
            "there.\n"
            "  Replace it (it is snapshotted and trashed first): conda envguard undo "
            f"{cli_arg(target, flag=False)} --force\n"
            f"  Or restore elsewhere: {elsewhere}"
        ),
    )
    plan = {"env_name": entry.env_name, "prefix": str(target), "trashed_at": entry.trashed_at}
    text = f"Put '{entry.env_name}' (removed {local_time(entry.trashed_at)}) back at {target}."
    contents, replaces = None, ""
    if occupied:
        from ..envs import name_of
        from ..trash import set_aside_plan
        from ..unowned import check_before_destroy

        replaces = f"\n  It replaces the env there now ({set_aside_plan()})."
        text += replaces

        contents = check_before_destroy(
            target,
            name_of(target),
            "replace",
            f"envguard undo {cli_arg(target, flag=False)} --force -y",
        )
    if not plan_and_confirm(
        plan, text, f"Would put '{entry.env_name}' back at {target}.{replaces}"
    ):
        return 0
    set_aside_id = save_and_set_aside(target, "undo --force", contents) if occupied else None
    started = time.perf_counter()
    try:
        trash.move_out(entry)
        from ..lost import note_back

        note_back(entry.prefix)
    except OSError as e:
        replaced = (
            f"\n  The env that was at {target} is in the trash too (--force set it aside)."
            if set_aside_id and trash.find(set_aside_id)
            else ""
        )
        raise EnvGuardError(
            f"'{entry.env_name}' can't be moved back to {target} ({e.strerror or e}); it stays "
            f"in the trash.{replaced}\n  Rebuild it from its snapshot instead: {elsewhere}"
        ) from e
    seconds = time.perf_counter() - started
    emit(
        {**plan, "restored": True, "seconds": round(seconds, 3)},
        f"'{entry.env_name}' is back at {target} ({seconds:.2f} s).",
    )
    return 0


def _rolled_back(env: str | None) -> tuple[str, str] | None:
    """(name, snapshot id) when the newest snapshot of `env` (or of all) is the one an
    in-place roll-back took first: that env never went to the trash, undo is another
    roll-back."""
    import os

    from ..store import Store

    store = Store()
    if env:
        wanted = os.path.abspath(os.path.expanduser(env)) if os.sep in env else None
        snaps = store.for_env(name=env, prefix=wanted)
    else:
        snaps = store.all()
    own = [s for s in snaps if not s.meta.get("imported")]
    if own and own[-1].meta.get("trigger") == "restore --in-place":
        return own[-1].env_name or own[-1].prefix, own[-1].id
    return None
