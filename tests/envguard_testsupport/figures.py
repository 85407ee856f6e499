"""The figures the README's "Reliability" section quotes, as the suite measures them.

A test calls `record(name, count)`; with `ENVGUARD_FIGURES=FILE` set, each figure is appended
to FILE as a JSON line (`{"figure": name, "count": n}`), and it is always printed (`-s` shows it).
Stdlib only, like the rest of `envguard_testsupport`.
"""

from __future__ import annotations

import json
import os


def record(name: str, count: int) -> None:
    print(f"figure: {name} = {count}")
    path = os.environ.get("ENVGUARD_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"figure": name, "count": count}) + "\n")
