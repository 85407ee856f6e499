"""What differs between two states of an env: packages added, removed and changed."""

from __future__ import annotations

from pathlib import Path


def live_packages(prefix: str | Path) -> list[dict]:
    """The packages of a live env, in the same form as a snapshot's packages.json."""
    from .envstate import package_list, read_state

    return package_list(read_state(prefix))


def _key(pkg: dict) -> tuple[str, str]:
    return (pkg.get("kind", "conda"), pkg["name"])


def diff_packages(old: list[dict], new: list[dict]) -> dict:
    before = {_key(p): p for p in old}
    after = {_key(p): p for p in new}
    changed = []
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        fields = [
            f for f in ("version", "build", "channel") if (a.get(f) or "") != (b.get(f) or "")
        ]
        if fields:
            changed.append(
                {
                    "name": key[1],
                    "kind": key[0],
                    "fields": fields,
                    "old": {f: a.get(f, "") for f in fields},
                    "new": {f: b.get(f, "") for f in fields},
                }
            )
    return {
        "added": [after[k] for k in sorted(after.keys() - before.keys())],
        "removed": [before[k] for k in sorted(before.keys() - after.keys())],
        "changed": changed,
    }


def diff_settings(
    old: tuple[dict[str, str], list[str]], new: tuple[dict[str, str], list[str]]
) -> dict:
    """Env variables and pins, each (variables, pins) as `envfiles.env_vars_and_pins` reads.
    Secret values are compared as they are and shown masked (`redact.mask_value`); a side that
    holds only the mask (a snapshot from another machine) differs when the masks differ."""
    from .redact import is_masked, mask_value

    (old_vars, old_pins), (new_vars, new_pins) = old, new

    def same(name: str) -> bool:
        a, b = old_vars[name], new_vars[name]
        if is_masked(a) or is_masked(b):
            return mask_value(name, a) == mask_value(name, b)
        return a == b

    return {
        "env_vars": {
            "added": {
                k: mask_value(k, new_vars[k]) for k in sorted(new_vars.keys() - old_vars.keys())
            },
            "removed": {
                k: mask_value(k, old_vars[k]) for k in sorted(old_vars.keys() - new_vars.keys())
            },
            "changed": {
                k: {"old": mask_value(k, old_vars[k]), "new": mask_value(k, new_vars[k])}
                for k in sorted(old_vars.keys() & new_vars.keys())
                if not same(k)
            },
        },
        "pins": {
            "added": [p for p in new_pins if p not in old_pins],
            "removed": [p for p in old_pins if p not in new_pins],
        },
    }
