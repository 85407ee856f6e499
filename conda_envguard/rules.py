"""The team rules in force on this machine, each with the file it was set in and its owner."""

from __future__ import annotations


def rules_in_force() -> list[dict]:
    """Every envguard rule set anywhere (defaults are not listed): setting, value, where."""
    from .settings import name_check, name_patterns, protect_patterns, temporary_patterns
    from .sources import describe, is_machine_wide, source_of

    rules = [("envguard_protect", p) for p in protect_patterns()]
    rules += [("envguard_name_pattern", p) for p in name_patterns()]
    rules.append(("envguard_name_check", name_check()))
    rules += [("envguard_temporary", p) for p in temporary_patterns()]
    out = []
    for setting, value in rules:
        source = source_of(setting, value)
        if source is None:
            continue  # a default: nobody set it
        out.append(
            {
                "setting": setting,
                "value": value,
                "source": source,
                "machine_wide": is_machine_wide(source),
                "where": describe(setting, source),
            }
        )
    return out
