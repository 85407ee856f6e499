"""Names that say what an env is: the rules a new env name is checked against.

Checked when an env gets a name (`conda create`, `conda env create`, `conda rename`), before
anything is created. Two kinds of rule:

* generic names (`test`, `env`, `myenv`, `default`, `new`, `tmp`, with or without a number)
  and names that pass for base (`base2`, `root`) say nothing about the env: always a warning;
* `envguard_name_pattern`, a regular expression a new name must match in full: a warning, or
  a refusal when `envguard_name_check` is `block`.

Only env names are checked: an env made with `-p` outside conda's envs dirs has a path, not a
name.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from dataclasses import dataclass

GENERIC = re.compile(r"(test|env|myenv|default|new|tmp)[-_.]?\d*", re.IGNORECASE)
SHADOWS_BASE = re.compile(r"(base|root)[-_.]?\d*", re.IGNORECASE)

# Good names in the usual team conventions: <domain>-<task>-<framework><version>,
# <project>-v<n>, <feature>-tmp. An example offered is always one that passes every rule.
_EXAMPLES = ("nlp-summarization-pt20", "cv-detection-tf215", "project-v1", "feature-tmp")


@dataclass(frozen=True)
class NameProblem:
    kind: str  # "generic", "shadows-base", "pattern" or "bad-pattern"
    text: str  # what is wrong, in one line
    pattern: str | None = None
    source: str | None = None  # where the broken rule was set, with its owner

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "text": self.text,
            "pattern": self.pattern,
            "source": self.source,
        }


def problems(name: str) -> list[NameProblem]:
    """What is wrong with `name` under this machine's rules (nothing when the check is off)."""
    from .settings import name_check, name_patterns
    from .sources import describe, source_of

    if name_check() == "off":
        return []
    found = []
    if SHADOWS_BASE.fullmatch(name) and name != "base":
        found.append(NameProblem("shadows-base", f"'{name}' can be mistaken for base"))
    elif GENERIC.fullmatch(name):
        found.append(
            NameProblem("generic", f"'{name}' is a generic name that says nothing about the env")
        )
    for pattern in name_patterns():
        where = describe("envguard_name_pattern", source_of("envguard_name_pattern", pattern))
        try:
            matched = re.fullmatch(pattern, name) is not None
        except re.error as e:
            text = (
                f"envguard_name_pattern '{pattern}' (set in {where}) is not a valid regular "
                f"expression ({e}); names are not checked against it"
            )
            found.append(NameProblem("bad-pattern", text, pattern, where))
            continue
        if not matched:
            text = f"'{name}' does not match envguard_name_pattern '{pattern}', set in {where}"
            found.append(NameProblem("pattern", text, pattern, where))
    return found


def example(name: str) -> str | None:
    """A good name to offer instead of `name`: one that passes every rule, or None."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    candidates = list(_EXAMPLES)
    if slug and not (GENERIC.fullmatch(slug) or SHADOWS_BASE.fullmatch(slug)):
        candidates[:0] = [f"{slug}-v1", f"{slug}-tmp"]
    for candidate in candidates:
        if not problems(candidate):
            return candidate
    return None


def check_new_name(name: str) -> None:
    """Warn about `name`, or refuse it (NameRuleError) when envguard_name_check is block."""
    from .settings import name_check

    found = problems(name)
    if not found:
        return
    good = example(name)
    broken = [p for p in found if p.kind == "pattern"]
    if broken and name_check() == "block":
        from .exceptions import NameRuleError

        raise NameRuleError(name, [p.text for p in broken], good)
    from conda.base.context import context

    if context.quiet:
        return
    for problem in found:
        print(f"envguard: {problem.text}.", file=sys.stderr)
    if good and any(p.kind != "bad-pattern" for p in found):
        print(
            f"  A name that says what the env is, like '{good}', helps everyone.", file=sys.stderr
        )


def is_temporary(name: str, patterns: tuple[str, ...]) -> bool:
    """Does the env `name` match one of `envguard_temporary`'s patterns?"""
    base = os.path.basename(name)  # an env outside the envs dirs is named by its path
    return any(fnmatch.fnmatchcase(base, pattern) for pattern in patterns)
