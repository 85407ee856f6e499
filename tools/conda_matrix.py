"""Run envguard's tests against every conda release line, each in its own venv.

    python tools/conda_matrix.py [--wheels DIR] [--jobs N] [--full | --tests ARG ...]

conda is not on PyPI, so each line comes as a wheel built from conda's public source (one
per release line, in DIR; default: $ENVGUARD_CONDA_WHEELS, else ../shared/conda beside the
checkout). For each Python it first makes one venv with the requirements of every conda wheel
and this checkout with its test extra; each line then gets a venv of its own that sees those
(a .pth file) and holds only its conda wheel, and runs pytest: the tests marked `core` but
not `slow` by default, the whole suite with --full. The newest release line also runs on every
other Python from 3.10 to 3.13 found on PATH or under pyenv (--pythons): the same conda, so
the tests marked `pythons`, the part of the per-line set a different standard library can
break. It ends with a table
of every conda line and Python x passed / failed / skipped and exits 1 if anything failed.
Stdlib only: it runs before any conda exists.

The `core` tests are the per-line set written down in tests/envguard_testsupport/core_set.py,
each with what it shows on a line: every path of conda_envguard/compat.py, where the
differences between lines live, and envguard meeting conda's own commands, arguments, records
and errors (the guard on every destructive command, snapshots, the trash and undo, restores
through conda's transaction and `conda env create`, the CLI in conda's parser, conda's error
hints), one case per path through conda. envguard's own logic, the same on every line, runs
once, in the whole suite on the newest release. Each compat.py function, the path each line
takes, and its test in tests/test_compat.py (which asserts the path by conda's version):

    health_check_fixers_supported     26.1+ a fixer, before none   test_doctor_fix_...
    env_create_replaces_existing      26.7+ arrives as `create`; before as `env_create`,
    command_as_newest_conda_names_it  replacing only with --yes    test_env_create_arrives_...
    name_prefix_from_env_file         26.3+ conda's reader, before envguard's
                                                                   test_env_file_name_...
    record_creation_time              25.11+ written, before none  test_an_env_restored_...
    default_activation_prefix         25.9+ conda refuses that env, 25.7 removes it
                                                                   test_the_default_activation_...
    cleaned_as_archive                26.1+ the package extractors after `.partial`; before, the
                                      fixed extensions and `.part`
                                                                   test_the_archives_conda_...
    command_arguments, configuration_by_source, raw_value, extra_package_cache
                                      private attributes, the same on every line
                                                                   test_the_private_conda_...
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
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The stress and kill tests (marked slow) try envguard's own locks and steps: whole suite only.
CORE_TESTS = ("-m", "core and not slow")
# The newest line on the other Pythons: what a different standard library can break.
PYTHONS_TESTS = ("-m", "pythons and not slow")
# The Pythons the project supports: the newest conda line runs on each one found.
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
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

    def requirements(self) -> list[str]:
        """The wheel's Requires-Dist lines (with their markers), as pip takes them."""
        with zipfile.ZipFile(self.path) as whl:
            name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = whl.read(name).decode()
        return [
            line.split(":", 1)[1].strip()
            for line in metadata.splitlines()
            if line.startswith("Requires-Dist:")
        ]


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


def _environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def _run_steps(steps: list[list[str]], log: Path, mode: str = "w") -> bool:
    """Run each step, its output into `log`; False at the first that fails."""
    with open(log, mode) as out:
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            code = subprocess.call(
                step, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=_environ(),
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if code != 0:
                return False
    return True


def _site_packages(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


class SharedDeps:
    """One venv per Python with what every line needs but conda itself: the requirements of
    all the conda wheels and this checkout with its test extra. Made once, on first use."""

    def __init__(self, wheels: list[Wheel], workdir: Path, log_dir: Path) -> None:
        self.requirements = sorted({r for w in wheels for r in w.requirements()})
        self.workdir, self.log_dir = workdir, log_dir
        self._made: dict[str, tuple[str | None, float]] = {}
        self.seconds: dict[str, float] = {}  # Python version -> time to make its venv
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def site_packages(self, python: str, python_version: str) -> tuple[str | None, float]:
        """(its site-packages, or None when it could not be made; the seconds it took)"""
        with self._guard:
            lock = self._locks.setdefault(python, threading.Lock())
        with lock:
            if python not in self._made:
                self._made[python] = self._make(python, python_version)
                self.seconds[python_version] = self._made[python][1]
            return self._made[python]

    def _make(self, python: str, python_version: str) -> tuple[str | None, float]:
        started = time.monotonic()
        venv = self.workdir / f"deps-python-{python_version}"
        py = venv / "bin" / "python"
        steps = [
            [python, "-m", "venv", str(venv)],
            # with `wheel`, pip caches what it builds (pycosat) instead of building it each time
            [str(py), "-m", "pip", "install", "--quiet", "wheel"],
            [str(py), "-m", "pip", "install", "--quiet", *self.requirements,
             "-e", f"{REPO}[test]"],
        ]  # fmt: skip
        ok = _run_steps(steps, self.log_dir / f"{venv.name}.log")
        return (_site_packages(py) if ok else None), _since(started)


def run_job(job: Job, deps: SharedDeps, workdir: Path, log_dir: Path) -> dict:
    started = time.monotonic()
    venv = workdir / re.sub(r"[^A-Za-z0-9.]+", "-", job.label)
    log = log_dir / f"{venv.name}.log"
    junit = log_dir / f"{venv.name}.xml"
    shared, _ = deps.site_packages(job.python, job.python_version)
    if shared is None:
        return {"status": "setup failed", "log": str(log), "seconds": _since(started)}
    py = venv / "bin" / "python"
    ok = _run_steps([[job.python, "-m", "venv", "--without-pip", str(venv)]], log)
    if ok:
        # The shared requirements (pip among them) after the venv's own site-packages, which
        # holds only this line's conda.
        Path(_site_packages(py), "_conda_matrix_deps.pth").write_text(
            f"import site; site.addsitedir({shared!r})\n"
        )
        # The wheel is pure Python (conda/ and its dist-info): unpacked as pip would place it,
        # without pip's start-up and byte-compiling of every module for each line.
        with zipfile.ZipFile(job.wheel.path) as whl:
            whl.extractall(_site_packages(py))
        ok = _run_steps(
            # this line's own requirements are all met by the shared ones
            [[str(py), "-m", "pip", "check"]],
            log,
            mode="a",
        )
    if not ok:
        return {"status": "setup failed", "log": str(log), "seconds": _since(started)}
    setup = _since(started)
    # Its own --basetemp: pytest's clean-up of old numbered temp dirs races with the other
    # runs going on at the same time.
    _run_steps(
        [[str(py), "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}",
          f"--basetemp={workdir / (venv.name + '-tmp')}", *job.tests]],
        log,
        mode="a",
    )  # fmt: skip
    counts = _junit_counts(junit)
    counts.update(seconds=_since(started), setup_seconds=setup, log=str(log))
    counts["status"] = "passed" if not (counts["failed"] or counts["errors"]) else "failed"
    if counts["passed"] == 0:
        counts["status"] = "no tests ran"
    shutil.rmtree(venv, ignore_errors=True)
    shutil.rmtree(workdir / (venv.name + "-tmp"), ignore_errors=True)
    return counts


def _since(started: float) -> float:
    return round(time.monotonic() - started, 1)


def _junit_counts(path: Path) -> dict:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "failures": [], "compat": 0}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return counts
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is not None and suite.get("time"):
        counts["seconds"] = float(suite.get("time"))
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
            counts["compat"] += "test_compat" in name  # a compat.py path shown on this line
    return counts


def table(jobs: list[Job]) -> str:
    headers = ["conda", "python", "tests", "passed", "failed", "skipped", "compat.py", "time",
               "result"]  # fmt: skip
    rows = []
    for job in sorted(jobs, key=lambda j: (j.wheel.key, j.python_version.split("."))):
        r = job.result
        kind = "pythons" if job.tests and "pythons" in job.tests[-1] else "core"
        kind = kind if job.tests else "full suite"
        rows.append(
            [
                job.wheel.version,
                job.python_version,
                kind,
                str(r.get("passed", "-")),
                str(r.get("failed", 0) + r.get("errors", 0)),
                str(r.get("skipped", "-")),
                f"{r.get('compat', 0)} paths",
                f"{r['seconds']:.0f} s" if "seconds" in r else "-",
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
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", type=Path, default=default_wheels_dir(), help="conda wheels")
    parser.add_argument(
        "--newest-release", action="store_true", help="print the newest release wheel and exit"
    )
    parser.add_argument("--only", nargs="+", metavar="VERSION", help="these conda lines only")
    parser.add_argument(
        "--skip-tested",
        metavar="VERSION",
        help="a conda line whose full suite already ran on this Python: only its other Pythons",
    )
    parser.add_argument(
        "--tested-junit",
        type=Path,
        metavar="XML",
        help="that full run's JUnit XML: its counts join the table",
    )
    parser.add_argument(
        "--pythons", nargs="+", default=list(PYTHONS), metavar="X.Y",
        help="the Pythons the newest line runs on (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--full", action="store_true", help="the whole suite on every line")
    parser.add_argument("--tests", nargs="+", default=list(CORE_TESTS), help="pytest arguments")
    parser.add_argument(
        "--python-tests", nargs="+", default=list(PYTHONS_TESTS),
        help="pytest arguments for the newest line on the other Pythons",
    )  # fmt: skip
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
    newest = releases[-1] if releases else wheels[-1]
    if args.only:
        wheels = [w for w in wheels if any(w.version.startswith(v) for v in args.only)]
    tests = () if args.full else tuple(args.tests)
    here = python_version(sys.executable) or "?"
    jobs = [Job(w, sys.executable, here, tests) for w in wheels if w.version != args.skip_tested]
    done = []
    if args.skip_tested and args.tested_junit:
        tested = next((w for w in find_wheels(args.wheels) if w.version == args.skip_tested), None)
        if tested is not None:
            done.append(Job(tested, sys.executable, here, (), _junit_counts(args.tested_junit)))
            r = done[-1].result
            r["status"] = "failed" if r["failed"] or r["errors"] or not r["passed"] else "passed"
    missing = []
    if newest in wheels:
        for minor in args.pythons:
            if here.startswith(minor + "."):
                continue
            python = find_python(minor)
            if python is None:
                missing.append(minor)
                continue
            their_tests = () if args.full else tuple(args.python_tests)
            jobs.append(Job(newest, python, python_version(python) or minor, their_tests))

    log_dir = Path(tempfile.mkdtemp(prefix="conda-matrix-logs-"))
    print(f"{len(jobs)} runs, {args.jobs} at a time; logs in {log_dir}", flush=True)
    with tempfile.TemporaryDirectory(prefix="conda-matrix-") as workdir:
        deps = SharedDeps(find_wheels(args.wheels), Path(workdir), log_dir)

        def one(job: Job) -> Job:
            job.result = run_job(job, deps, Path(workdir), log_dir)
            print(f"  {job.label}: {job.result['status']} ({job.result['seconds']:.0f} s)",
                  flush=True)  # fmt: skip
            return job

        # The other Pythons first: their shared venvs are made while the first lines run.
        order = sorted(jobs, key=lambda j: j.python == sys.executable)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(one, order))

    print()
    print(table(done + jobs))
    for minor in missing:
        print(f"python {minor}: no interpreter found (on PATH or under pyenv): not run")
    if deps.seconds:
        made = ", ".join(f"python {v} {s:.0f} s" for v, s in deps.seconds.items())
        print(f"venvs of the shared requirements: {made}")
    failed = [job for job in done + jobs if job.result.get("status") != "passed"]
    for job in failed:
        print(f"\n{job.label}: {job.result.get('status')}; log: {job.result.get('log')}")
        for name in job.result.get("failures", [])[:30]:
            print(f"  {name}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {"conda": j.wheel.version, "python": j.python_version, **j.result}
                    for j in done + jobs
                ],
                indent=2,
            )
        )
    print(f"compatibility matrix: {_since(started):.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
