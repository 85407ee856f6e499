"""Run envguard's tests against every conda release line, each in its own venv.

    python tools/conda_matrix.py [--wheels DIR] [--jobs N] [--full | --tests PATH ...]

conda is not on PyPI, so each line comes as a wheel built from conda's public source (one
per release line, in DIR; default: $ENVGUARD_CONDA_WHEELS, else ../shared/conda beside the
checkout). For every wheel this makes a venv, installs the wheel and this checkout with its
test extra, and runs pytest: the core tests (guard, snapshots, trash and undo, restore, the
CLI; those marked slow are left to the full suite) by default, the whole suite with --full.
The newest release line also runs on the oldest and newest Pythons the project supports, when
such interpreters can be found. It ends with a table of conda version x Python x passed /
failed / skipped, and exits 1 if anything failed. Stdlib only: it runs before any conda exists.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORE_TESTS = (
    "tests/test_guard.py",
    "tests/test_snapshot.py",
    "tests/test_trash.py",
    "tests/test_restore.py",
    "tests/test_cli.py",
    # The tests marked slow (SIGKILL at many points, big envs) run in the full suite only.
    "-m",
    "not slow",
)
# The Pythons the newest conda line also runs on, beside the one running this script.
EXTRA_PYTHONS = ("3.10", "3.13")
_WHEEL = re.compile(r"^conda-(?P<version>[0-9][^-]*)-py3-none-any\.whl$")


@dataclass(frozen=True)
class Wheel:
    path: Path
    version: str

    @property
    def key(self) -> tuple:
        """Release numbers in order; a dev build sorts before the release it leads to."""
        numbers = [int(n) for n in re.findall(r"\d+", self.version.split(".dev")[0])]
        dev = self.version.split(".dev")[1] if ".dev" in self.version else None
        return (*numbers, 0 if dev is not None else 1, int(dev or 0))

    @property
    def is_release(self) -> bool:
        return ".dev" not in self.version and "+" not in self.version


@dataclass
class Job:
    wheel: Wheel
    python: str  # an interpreter path
    python_version: str
    tests: tuple[str, ...]
    result: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"conda {self.wheel.version} / python {self.python_version}"


def find_wheels(directory: Path) -> list[Wheel]:
    wheels = []
    for path in directory.glob("conda-*.whl"):
        if match := _WHEEL.match(path.name):
            wheels.append(Wheel(path, match["version"]))
    return sorted(wheels, key=lambda w: w.key)


def python_version(python: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_python(minor: str) -> str | None:
    """An interpreter for Python `minor` (e.g. '3.10'): on PATH, else installed by pyenv."""
    candidates = [shutil.which(f"python{minor}") or ""]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(str(p) for p in pyenv_root.glob(f"versions/{minor}.*/bin/python{minor}"))
    for candidate in candidates:
        version = candidate and python_version(candidate)
        if version and version.startswith(minor + "."):
            return candidate
    return None


def run_job(job: Job, workdir: Path, log_dir: Path) -> dict:
    started = time.monotonic()
    venv = workdir / re.sub(r"[^A-Za-z0-9.]+", "-", job.label)
    log = log_dir / f"{venv.name}.log"
    junit = log_dir / f"{venv.name}.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    py = venv / "bin" / "python"
    steps = [
        [job.python, "-m", "venv", str(venv)],
        [str(py), "-m", "pip", "install", "--quiet", str(job.wheel.path)],
        [str(py), "-m", "pip", "install", "--quiet", "-e", f"{REPO}[test]"],
        # Its own --basetemp: pytest's clean-up of old numbered temp dirs races with the
        # other run going on at the same time.
        [str(py), "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}",
         f"--basetemp={workdir / (venv.name + '-tmp')}", *job.tests],
    ]  # fmt: skip
    with open(log, "w") as out:
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            code = subprocess.call(
                step, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if code != 0 and step[2] != "pytest":
                return {"status": "setup failed", "log": str(log), "seconds": _since(started)}
    counts = _junit_counts(junit)
    counts.update(seconds=_since(started), log=str(log))
    counts["status"] = "passed" if not (counts["failed"] or counts["errors"]) else "failed"
    if counts["passed"] == 0:
        counts["status"] = "no tests ran"
    shutil.rmtree(venv, ignore_errors=True)
    return counts


def _since(started: float) -> float:
    return round(time.monotonic() - started, 1)


def _junit_counts(path: Path) -> dict:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "failures": []}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return counts
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None:
            counts["failed"] += 1
            counts["failures"].append(name)
        elif case.find("error") is not None:
            counts["errors"] += 1
            counts["failures"].append(name)
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts


def table(jobs: list[Job]) -> str:
    headers = ["conda", "python", "tests", "passed", "failed", "skipped", "time", "result"]
    rows = []
    for job in jobs:
        r = job.result
        rows.append(
            [
                job.wheel.version,
                job.python_version,
                "full suite" if job.tests == () else "core",
                str(r.get("passed", "-")),
                str(r.get("failed", 0) + r.get("errors", 0)),
                str(r.get("skipped", "-")),
                f"{r.get('seconds', 0):.0f} s",
                r.get("status", "?"),
            ]
        )
    widths = [max(len(x) for x in column) for column in zip(headers, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*headers), line.format(*("-" * w for w in widths))]
    out += [line.format(*row) for row in rows]
    return "\n".join(s.rstrip() for s in out)


def default_wheels_dir() -> Path:
    return Path(os.environ.get("ENVGUARD_CONDA_WHEELS") or REPO.parent / "shared" / "conda")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", type=Path, default=default_wheels_dir(), help="conda wheels")
    parser.add_argument(
        "--newest-release", action="store_true", help="print the newest release wheel and exit"
    )
    parser.add_argument("--only", nargs="+", metavar="VERSION", help="these conda lines only")
    parser.add_argument(
        "--skip-tested",
        metavar="VERSION",
        help="a conda line whose full suite already ran on this Python: only its extra Pythons",
    )
    parser.add_argument("--full", action="store_true", help="the whole suite on every line")
    parser.add_argument("--tests", nargs="+", default=list(CORE_TESTS), help="pytest arguments")
    parser.add_argument("--jobs", type=int, default=2, help="venvs tested at once (default 2)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    wheels = find_wheels(args.wheels)
    releases = [w for w in wheels if w.is_release]
    if args.newest_release:
        if not releases:
            print(f"no conda release wheel in {args.wheels}", file=sys.stderr)
            return 1
        print(releases[-1].path)
        return 0
    if not wheels:
        print(f"no conda wheels in {args.wheels}", file=sys.stderr)
        return 1
    if args.only:
        wheels = [w for w in wheels if any(w.version.startswith(v) for v in args.only)]
    tests = () if args.full else tuple(args.tests)
    here = python_version(sys.executable) or "?"
    jobs = [
        Job(w, sys.executable, here, tests)
        for w in wheels
        if not (args.skip_tested and w.version == args.skip_tested)
    ]
    newest = releases[-1] if releases else wheels[-1]
    missing = []
    if newest in wheels:
        for minor in EXTRA_PYTHONS:
            if here.startswith(minor + "."):
                continue
            python = find_python(minor)
            if python is None:
                missing.append(minor)
                continue
            jobs.append(Job(newest, python, python_version(python) or minor, tests))

    log_dir = Path(tempfile.mkdtemp(prefix="conda-matrix-logs-"))
    print(f"{len(jobs)} runs, {args.jobs} at a time; logs in {log_dir}", flush=True)
    with tempfile.TemporaryDirectory(prefix="conda-matrix-") as workdir:

        def one(job: Job) -> Job:
            job.result = run_job(job, Path(workdir), log_dir)
            print(f"  {job.label}: {job.result['status']} ({job.result['seconds']:.0f} s)",
                  flush=True)  # fmt: skip
            return job

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(one, jobs))

    print()
    print(table(jobs))
    for minor in missing:
        print(f"python {minor}: no interpreter found (on PATH or under pyenv): not run")
    failed = [job for job in jobs if job.result.get("status") != "passed"]
    for job in failed:
        print(f"\n{job.label}: {job.result.get('status')}; log: {job.result.get('log')}")
        for name in job.result.get("failures", [])[:30]:
            print(f"  {name}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [{"conda": j.wheel.version, "python": j.python_version, **j.result} for j in jobs],
                indent=2,
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
