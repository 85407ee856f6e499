"""Run every measure in one sandbox and gather the results."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import measures
from .sandbox import REPO_ROOT, Sandbox
from .sizes import SIZES
from .timing import table

# (measure, runs `quick_factor` times as many pairs?, the numbers of its rows) in the order
# they run: snapshot before install, so that the envs of measure 3 hold exactly the packages
# its label says.
PLAN = (
    (measures.startup, True, {1}),
    (measures.snapshot, True, {3}),
    (measures.snapshot_huge_prefix, False, {3}),
    (measures.install, False, {2}),
    (measures.install_with_git, False, {2}),
    (measures.roll_back, False, {9}),
    (measures.remove_and_undo, False, {4, 5}),
    # after the undo of remove_and_undo (conda-pack needs the env), before restore removes it
    (measures.moving, False, {7}),
    (measures.restore, False, {5}),
    (measures.list_snapshots, True, {6}),
    (measures.moving_real, False, {8}),
)


def run(
    size: str = "tiny",
    repeat: int | None = None,
    *,
    json_path: str | os.PathLike | None = None,
    keep: bool = False,
    log: Callable[[str], None] | None = None,
    only: set[int] | None = None,
) -> dict:
    """Run the benchmarks; return (and with `json_path`, write) the results as a dict.

    `repeat` is the number of timed pairs per measure (default: the size's); the quick
    measures run `quick_factor` times as many. Missed targets are reported in the dict
    ("missed"), never raised; a conda command that fails raises `CondaFailed`. `only` runs
    just the measures with those numbers.
    """
    plan = SIZES[size]
    repeat = plan.repeat if repeat is None else repeat
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    started, started_at, machine = time.perf_counter(), _now(), _machine()
    say = log or _stderr_logger(started)
    sb = Sandbox.create()
    say(f"sandbox: {sb.root}")
    try:
        sources = sb.conda("config", "--show-sources", plugins=False).stdout
        measures.setup(sb, plan, say, only)
        results = []
        for measure, quick, numbers in PLAN:
            if only and not numbers & only:
                continue
            pairs = repeat * plan.quick_factor if quick else repeat
            results += measure(sb, plan, pairs, say)
    finally:
        if keep:
            say(f"kept the sandbox; to use it: source {sb.write_env_script()}")
        else:
            sb.close()
    results.sort(key=lambda r: r.number)  # stable: each measure's rows stay in order
    report = {
        "size": plan.name,
        "repeat": repeat,
        "quick_pairs": repeat * plan.quick_factor,
        "seconds": round(time.perf_counter() - started, 1),
        "started": started_at,
        "machine": machine,
        "config_sources": sources,
        "sandbox": str(sb.root) if keep else None,
        "results": [r.to_json() for r in results],
        "missed": [f"{r.number}. {r.measure}" for r in results if not r.ok],
        "table": table(results),
    }
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _stderr_logger(started: float) -> Callable[[str], None]:
    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    return say


def _machine() -> dict:
    def dist_version(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "conda": dist_version("conda"),
        "conda_envguard": dist_version("conda-envguard"),
        "commit": commit,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        # the machine is shared: how busy it was when the run started
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
