"""`conda envguard diff`: what changed between two snapshots, or a snapshot and the live env."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

    p = verbs.add_parser(
        "diff",
        help="Show packages, env variables and pins added, removed and changed between two "
        "snapshots.",
        description="Compare snapshot A with snapshot B, or with the live environment when B "
        "is left out: packages, variables (conda env config vars) and pins (conda-meta/pinned).",
    )
    p.add_argument("a", metavar="A", help="The older snapshot id.")
    p.add_argument("b", metavar="B", nargs="?", help="The newer snapshot id (default: live env).")
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from ..diff import diff_packages, diff_settings, live_packages
    from ..envfiles import env_vars_and_pins
    from ..envs import is_environment
    from ..exceptions import EnvironmentNotFoundError
    from ..store import Store
    from .common import emit

    store = Store()
    old = store.get(args.a)
    if args.b:
        new = store.get(args.b)
        new_label, new_packages = new.id, new.packages()
        new_side = {"kind": "snapshot", "id": new.id, "prefix": new.prefix}
        new_settings = _saved_settings(new)
    else:
        if not is_environment(old.prefix):
            raise EnvironmentNotFoundError(old.prefix)
        new_label, new_packages = f"{old.prefix} (live)", live_packages(old.prefix)
        new_side = {"kind": "live", "id": None, "prefix": old.prefix}
        new_settings = env_vars_and_pins(Path(old.prefix))
    changes = diff_packages(old.packages(), new_packages)
    # A snapshot older than envguard's copies of settings says nothing about them.
    old_settings = _saved_settings(old)
    settings = (
        diff_settings(old_settings, new_settings)
        if old_settings is not None and new_settings is not None
        else {}
    )
    lines = [f"--- {old.id}", f"+++ {new_label}"]
    for p in changes["removed"]:
        lines.append(f"- {p['name']} {p['version']} {p.get('build', '')}".rstrip())
    for p in changes["added"]:
        lines.append(f"+ {p['name']} {p['version']} {p.get('build', '')}".rstrip())
    for c in changes["changed"]:
        old_text = " ".join(c["old"][f] for f in c["fields"])
        new_text = " ".join(c["new"][f] for f in c["fields"])
        lines.append(f"~ {c['name']} {old_text} -> {new_text}")
    lines += _settings_lines(settings) if settings else []
    if len(lines) == 2:
        lines.append("(no differences)")
    old_side = {"kind": "snapshot", "id": old.id, "prefix": old.prefix}
    # env_vars and pins are None when a snapshot predates envguard's copies of them
    data = {"a": old_side, "b": new_side, **changes, "env_vars": None, "pins": None, **settings}
    emit(data, "\n".join(lines))
    return 0


def _saved_settings(snap) -> tuple[dict[str, str], list[str]] | None:
    """A snapshot's variables and pins; secrets as this machine saved them (when it did)."""
    from ..envfiles import COPIES_DIR, env_vars_and_pins, read_listing, read_private

    listing = read_listing(snap.path)
    if listing is None:
        return None
    originals, _ = read_private(snap.path, listing, snap.secret_vars)
    return env_vars_and_pins(snap.path / COPIES_DIR, originals.get("conda-meta/state"))


def _settings_lines(settings: dict) -> list[str]:
    variables, pins = settings["env_vars"], settings["pins"]
    lines = [f"- env var {k}={v}" for k, v in variables["removed"].items()]
    lines += [f"+ env var {k}={v}" for k, v in variables["added"].items()]
    lines += [f"~ env var {k}: {c['old']} -> {c['new']}" for k, c in variables["changed"].items()]
    lines += [f"- pin {p}" for p in pins["removed"]]
    lines += [f"+ pin {p}" for p in pins["added"]]
    return lines
