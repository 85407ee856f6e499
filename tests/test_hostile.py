"""No input ends in a traceback: every option of every `conda envguard` verb, and the -n/-p/
--file values of the conda commands envguard guards, times hostile values.

The calls are generated from envguard's own argparse parsers, so a new verb or option is
covered the day it is added. Most run in-process (fast); a sample runs as `python -m conda`, the
user's view. Each call must end as conda ends a user error: a `CondaError` (conda prints its
message, no traceback, exit 1), an argparse error (exit 2), or success when the value is valid
(e.g. `--reason '$(id)'`). Never "An unexpected error has occurred".
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conda import CondaError
from envguard_testsupport.checks import take_snapshot
from envguard_testsupport.figures import record

from conda_envguard.cli.main import configure_parser
from conda_envguard.saving import save_and_set_aside

pytestmark = pytest.mark.usefixtures("no_background_expiry")

HOSTILE = {
    "long": "x" * 300,
    "very-long": "a/" * 3000,
    "unicode": "ünï-çødé-环境-🐍",
    "traversal": "../../../../etc/passwd",
    "traversal-id": "../snapshots/../../trash",
    "shell": "; rm -rf ~ $(id) `id` | cat > x &",
    "leading-dash": "-rf",
    "glob": "*[a-z]?",
    "newline": "demo\nsecond line",
    "empty": "",
    "dot": ".",
    "space": " ",
    "nul": "a\x00b",  # in-process only: no process argument holds a NUL
    "numeric-nan": "nan",
    "numeric-inf": "inf",
    "numeric-neg": "-1",
    "numeric-huge": "1e999",
}
# How conda shows a user error: the error's name, then its message
CONDA_ERROR_LINE = re.compile(r"^[A-Z][A-Za-z]+: ")
# Verbs that change something run with --dry-run: the lookups and checks run, nothing changes.
DRY_RUN_VERBS = {"restore", "undo", "purge", "prune"}
# What a verb needs besides the option under test, so that it gets as far as using it.
NEEDS = {"protect": ["-n", "demo"], "unprotect": ["-n", "demo"], "purge": ["--all"]}


def _verbs() -> dict[str, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _slots(verb_parser: argparse.ArgumentParser) -> list[tuple[str | None, argparse.Action]]:
    """(option string or None for a positional, action) of every argument taking a value."""
    out = []
    for action in verb_parser._actions:
        if isinstance(action, argparse._HelpAction) or action.nargs == 0:
            continue
        out.append((action.option_strings[-1] if action.option_strings else None, action))
    return out


def generated_calls(in_process: bool = True) -> list[tuple[str, list[str]]]:
    calls = []
    for verb, verb_parser in _verbs().items():
        extra = ["--dry-run"] if verb in DRY_RUN_VERBS else []
        for option, action in _slots(verb_parser):
            for label, value in HOSTILE.items():
                if "\x00" in value and not in_process:
                    continue
                if option is None:
                    argv = [verb, value]
                    if verb == "diff" and action.dest == "b":
                        argv = [verb, "demo-snapshot", value]
                else:
                    argv = [verb, f"{option}={value}" if label == "leading-dash" else option]
                    if label != "leading-dash":
                        argv.append(value)
                needs = [n for n in NEEDS.get(verb, []) if option not in ("-n", "-p", "--name")]
                if verb == "export":  # the other of the two it needs: so -o is reached too
                    needs = ["demo"] if option == "--output" else ["-o", "exported.envguard"]
                label = f"envguard {verb} {option or action.dest} {label}"
                calls.append((label, ["envguard", *argv, *needs, *extra]))
    return calls


GUARDED = [
    ("remove", "-n", "{}", "--all", "-y"),
    ("remove", "-p", "{}", "--all", "-y"),
    ("remove", "-n", "{}", "alpha", "-y"),
    ("env", "remove", "-n", "{}", "-y"),
    ("env", "remove", "-p", "{}", "-y"),
    ("create", "-n", "{}", "--dry-run"),
    ("create", "-n", "demo", "--file", "{}", "--dry-run"),
    ("env", "create", "-f", "{}", "--dry-run"),
    ("env", "create", "-n", "{}", "-f", "{}", "--dry-run"),
    ("rename", "-n", "{}", "other", "--dry-run"),
    ("rename", "-n", "demo", "{}", "--yes", "--dry-run"),
    ("install", "-n", "{}", "alpha", "--dry-run"),
    ("update", "-n", "{}", "alpha", "--dry-run"),
    ("env", "update", "-n", "{}", "-f", "{}", "--dry-run"),
]


def guarded_calls(in_process: bool = True) -> list[tuple[str, list[str]]]:
    calls = []
    for template in GUARDED:
        for label, value in HOSTILE.items():
            if "\x00" in value and not in_process:
                continue
            argv = [value if part == "{}" else part for part in template]
            calls.append((f"conda {' '.join(template)} {label}", argv))
    return calls


@pytest.fixture
def store_with_content(cli, make_env, conda_dirs):
    """An env `demo` with two snapshots, and a removed env `gone` in the trash."""
    make_env("demo", "alpha")
    take_snapshot(cli, "-n", "demo")
    take_snapshot(cli, "-n", "demo")
    save_and_set_aside(make_env("gone", "gamma"), "restore --force")
    return conda_dirs


def _ours(error: BaseException) -> bool:
    """Did envguard's code raise it (or let it through)?"""
    tb = error.__traceback__
    while tb is not None:
        if "conda_envguard" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def _crashed(error: BaseException) -> bool:
    if isinstance(error, CondaError):
        return False
    return not (isinstance(error, SystemExit) and error.code in (0, 1, 2, None))


def _user_sees_a_crash(conda_run, argv: list[str]) -> str | None:
    """What `python -m conda ARGV` shows when it ends in a crash report, else None."""
    result = conda_run(*argv, timeout=120)
    text = result.stdout + result.stderr
    if "Traceback" in text or "unexpected error" in text or result.returncode not in (0, 1, 2):
        return f"exit {result.returncode}\n{text[-1500:]}"
    if result.returncode:
        first = next((line for line in result.stderr.splitlines() if line.strip()), "")
        if not (first.startswith(("usage:", "error:")) or CONDA_ERROR_LINE.match(first)):
            return f"no conda error line, but:\n{result.stderr[-800:]}"
    return None


def _conda_crashes_without_envguard(conda_cli, conda_run, argv: list[str]) -> bool:
    """Does the same call crash with every plugin disabled? Only then is the crash conda's."""
    if not any("\x00" in a for a in argv):
        return _user_sees_a_crash(conda_run, ["--no-plugins", *argv]) is not None
    # no process argument holds a NUL: ask conda in-process
    from conda.plugins.manager import get_plugin_manager

    try:
        out, err, code = conda_cli("--no-plugins", *argv)
    except BaseException as e:
        return _crashed(e)
    finally:
        get_plugin_manager.cache_clear()  # envguard is back for the next call
    return "unexpected error" in (out or "") + (err or "") or code not in (0, 1, 2, None)


def _run_in_process(conda_cli, conda_run, calls) -> tuple[list[str], list[str]]:
    """(crashes of envguard's, crashes of conda's own: the same call crashes without plugins)."""
    from conda.core.prefix_data import PrefixData

    ours, condas = [], []
    for label, argv in calls:
        PrefixData._cache_.clear()
        try:
            out, err, code = conda_cli(*argv)
        except BaseException as e:
            error = e
        else:
            # conda reports some crashes itself and returns: read what it printed
            if "unexpected error" in (out or "") + (err or "") or code not in (0, 1, 2, None):
                ours.append(f"{label}: {argv!r}\n    exit {code}: {(out + err)[-1500:]}")
            continue
        if not _crashed(error):
            continue
        report = f"{label}: {argv!r}\n    {type(error).__name__}: {str(error)[:300]}"
        if _ours(error):
            ours.append(report)
        elif not any("\x00" in a for a in argv) and not _user_sees_a_crash(conda_run, argv):
            continue  # only conda's in-process test harness trips; the user's conda does not
        elif _conda_crashes_without_envguard(conda_cli, conda_run, argv):
            condas.append(report)  # conda's own argument handling: not envguard's to fix
        else:
            ours.append(f"{report}\n    (conda without plugins does not crash on it)")
    return ours, condas


def test_every_verb_and_option_survives_hostile_values(
    store_with_content, conda_cli, conda_run, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # what `export -o NAME` writes lands here
    calls = generated_calls()
    failures, condas = _run_in_process(conda_cli, conda_run, calls)
    record("hostile calls to conda envguard verbs (in-process)", len(calls))
    assert not failures, f"{len(failures)} of {len(calls)} calls crashed:\n" + "\n".join(failures)
    # envguard's own verbs refuse at parse time what conda would crash on (-n NUL, -n 300 chars)
    assert not condas, "\n".join(condas)
    # the generator reached every verb
    assert {argv[1] for _, argv in calls} == set(_verbs())


def test_guarded_conda_commands_survive_hostile_values(store_with_content, conda_cli, conda_run):
    calls = guarded_calls()
    failures, condas = _run_in_process(conda_cli, conda_run, calls)
    record("hostile calls to guarded conda commands (in-process)", len(calls))
    record("  of which conda itself crashed on, before envguard runs", len(condas))
    assert not failures, f"{len(failures)} of {len(calls)} calls crashed:\n" + "\n".join(failures)
    assert (store_with_content.envs / "demo" / "conda-meta" / "history").is_file()


def test_a_sample_as_the_user_runs_it(store_with_content, conda_run):
    """A sample of both sets through `python -m conda`: a clean one-line error, exit 1 or 2."""
    calls = generated_calls(in_process=False) + guarded_calls(in_process=False)
    sample = random.Random(11).sample(calls, 24)
    failures = []
    condas = 0
    for label, argv in sample:
        problem = _user_sees_a_crash(conda_run, argv)
        if not problem:
            continue
        if _user_sees_a_crash(conda_run, ["--no-plugins", *argv]):
            condas += 1  # conda's own argument handling: not envguard's to fix
        else:
            failures.append(f"{label}: {problem}")
    record("hostile calls through python -m conda", len(sample))
    record("  of which conda itself crashed on, before envguard runs", condas)
    assert not failures, "\n".join(failures)
    assert (store_with_content.envs / "demo" / "conda-meta" / "history").is_file()


def test_every_verb_refuses_a_path_too_long_for_the_system(
    store_with_content, conda_cli, conda_run
):
    """conda 25.7 to 26.3 crash ("File name too long") on a -p longer than the system's longest
    path; envguard's verbs refuse such values while parsing. The per-line set runs this part of
    the hostile matrix on every conda line (the whole matrix runs on the newest)."""
    calls = [c for c in generated_calls() if c[0].endswith((" long", " very-long"))]

    failures, condas = _run_in_process(conda_cli, conda_run, calls)

    assert len(calls) > 2 * len(_verbs())
    assert not failures, "\n".join(failures)
    assert not condas, "\n".join(condas)


# --- paths: every option and setting that names a place --------------------------------------


def _places(tmp_path: Path) -> dict[str, str]:
    """Places a path option or setting can be given that are no good for writing a new file
    or store: each must end in a clear error (or work), and nothing in them may be lost."""
    base = tmp_path / "places"
    (base / "folder").mkdir(parents=True)
    (base / "cwd").mkdir()
    (base / "existing-file").write_text("keep me")
    (base / "link").symlink_to(base / "existing-file")
    (base / "dangling").symlink_to(base / "nowhere")
    (base / "folder-link").symlink_to(base / "folder")
    return {
        "folder": str(base / "folder"),
        "dot": ".",
        "missing-parent": str(base / "missing" / "x"),
        # a place even root cannot write (a normal user cannot either)
        "unwritable": "/sys/envguard-hostile" if Path("/sys").is_dir() else "/proc/envguard-x",
        "existing-file": str(base / "existing-file"),
        "symlink": str(base / "link"),
        "dangling-symlink": str(base / "dangling"),
        "folder-symlink": str(base / "folder-link"),
    }


def _places_intact(tmp_path: Path) -> None:
    base = tmp_path / "places"
    assert (base / "existing-file").read_text() == "keep me"
    assert os.readlink(base / "link") == str(base / "existing-file")
    assert os.readlink(base / "dangling") == str(base / "nowhere")
    # a store or git history set to the folder or a missing one is made there, as asked
    assert (base / "folder").is_dir() and (base / "folder-link").is_symlink()


def _path_calls(places: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Every -p and -o of every verb, and import's FILE, at each place."""
    calls = []
    for verb, verb_parser in _verbs().items():
        extra = ["--dry-run"] if verb in DRY_RUN_VERBS else []
        for option, action in _slots(verb_parser):
            if action.dest not in ("prefix", "output", "file"):
                continue
            for label, place in places.items():
                argv = [place] if option is None else [option, place]
                needs = NEEDS.get(verb, []) if option != "-p" else []
                if verb == "export":
                    needs = ["demo"]
                label = f"envguard {verb} {option or action.dest} {label}"
                calls.append((label, ["envguard", verb, *argv, *needs, *extra]))
    return calls


# The guarded conda commands that read an environment file envguard reads too.
GUARDED_FILES = [
    ("create", "-n", "fresh", "--file", "{}", "--dry-run"),
    ("env", "create", "-f", "{}", "--dry-run"),
    ("env", "update", "-n", "demo", "-f", "{}", "--dry-run"),
]
# The verbs that read or write the store or the git history, as a setting names them.
SETTING_CALLS = [
    ["envguard", "list"],
    ["envguard", "status"],
    ["envguard", "snapshot", "-n", "demo", "--force"],
    ["envguard", "trash"],
    ["envguard", "verify", "--all"],
    ["envguard", "prune", "--dry-run"],
    ["envguard", "sync"],
    ["install", "-n", "demo", "gamma", "--dry-run"],
]


def test_path_options_and_settings_survive_unusable_places(
    store_with_content, conda_cli, conda_run, tmp_path, monkeypatch
):
    """-o, FILE and -p, the env files of guarded commands, and the store and git settings,
    at a folder, `.`, a missing parent, an unwritable place, an existing file and symbolic
    links: a clear error or success, and the file, the link's target and the folder as they
    were."""
    from conda.base.context import reset_context

    places = _places(tmp_path)
    monkeypatch.chdir(tmp_path / "places" / "cwd")
    calls = _path_calls(places) + [
        (f"conda {' '.join(t)} {label}", [place if part == "{}" else part for part in t])
        for t in GUARDED_FILES
        for label, place in places.items()
    ]
    failures, condas = _run_in_process(conda_cli, conda_run, calls)
    for setting in ("CONDA_PLUGINS_ENVGUARD_STORE", "CONDA_PLUGINS_ENVGUARD_GIT"):
        for label, place in places.items():
            monkeypatch.setenv(setting, place)
            reset_context()
            labelled = [(f"{setting}={label}: {' '.join(argv)}", argv) for argv in SETTING_CALLS]
            found, conda_found = _run_in_process(conda_cli, conda_run, labelled)
            failures += found
            condas += conda_found
        monkeypatch.setenv(setting, str(store_with_content.store))
        monkeypatch.delenv(setting)
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_STORE", str(store_with_content.store))
    reset_context()
    settings_calls = 2 * len(places) * len(SETTING_CALLS)
    record("calls with an unusable path (in-process)", len(calls) + settings_calls)
    assert not failures, "\n".join(failures)
    assert not condas, "\n".join(condas)
    _places_intact(tmp_path)
    assert (store_with_content.envs / "demo" / "conda-meta" / "history").is_file()


@pytest.mark.parametrize(
    "place, fix",
    [
        ("folder", "Name a file in it: "),
        ("dot", "Name a file in it: "),
        ("existing-file", "Replace it: "),
        ("symlink", "Replace it: "),
    ],
)
def test_export_refuses_a_place_it_cannot_use_and_prints_a_command_that_works(
    store_with_content, cli, tmp_path, monkeypatch, place, fix
):
    """The refusal says why and prints the command that writes the bundle; run as printed,
    it does, and a symbolic link's target is never written through."""
    import shlex

    from conda_envguard.exceptions import BundleError

    places = _places(tmp_path)
    monkeypatch.chdir(tmp_path / "places" / "cwd")
    error = cli("envguard", "export", "demo", "-o", places[place], raises=BundleError)
    assert "Nothing was written" in str(error.value) or "is a folder" in str(error.value)
    _places_intact(tmp_path)
    command = str(error.value).split(fix, 1)[1].splitlines()[0]
    argv = shlex.split(command)
    assert argv[:2] == ["conda", "envguard"]
    cli(*argv[1:])
    written = Path(argv[argv.index("-o") + 1])
    assert written.is_file() and not written.is_symlink()
    if place == "symlink":  # the link was replaced, not what it points to
        assert (tmp_path / "places" / "existing-file").read_text() == "keep me"


def test_export_refuses_a_missing_folder_and_an_unwritable_place(store_with_content, cli):
    from conda_envguard.exceptions import BundleError

    error = cli("envguard", "export", "demo", "-o", "/nonexistent-envguard/x", raises=BundleError)
    assert "The folder /nonexistent-envguard does not exist" in str(error.value)
    assert "mkdir -p /nonexistent-envguard" in str(error.value)
    if Path("/sys").is_dir():
        error = cli("envguard", "export", "demo", "-o", "/sys/x.envguard", raises=BundleError)
        assert "could not be written" in str(error.value)
        assert not Path("/sys/x.envguard").exists()


# --- a closed stdout --------------------------------------------------------------------------


def _closed_stdout_start(
    argv: list[str], cwd: Path | None = None, env: dict | None = None
) -> subprocess.Popen:
    """`python -m conda ARGV` whose stdout has no reader (`| head -1` once head has gone)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # before the child starts: its first write finds no reader
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "conda", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
            env=env,
        )
    finally:
        os.close(write_end)


def test_every_verb_that_prints_ends_quietly_when_stdout_is_closed(
    store_with_content, cli, tmp_path, monkeypatch
):
    """`conda envguard VERB | head -1`: no BrokenPipe traceback, no crash report; exit 1,
    which is also how the test knows the verb wrote to stdout and found no reader."""
    out, _ = cli("envguard", "list", "-n", "demo")
    first = next(line.split()[0] for line in out.splitlines() if "-demo-" in line)
    bundle = tmp_path / "demo.envguard"
    cli("envguard", "export", "demo", "-o", str(bundle))
    (tmp_path / "git").mkdir()
    runs = {
        "list": ["envguard", "list"],
        "show": ["envguard", "show", first],
        "status": ["envguard", "status"],
        "snapshot": ["envguard", "snapshot", "-n", "demo", "--force"],
        "restore": ["envguard", "restore", "demo", "-n", "demo-copy", "--dry-run"],
        "undo": ["envguard", "undo", "gone", "--dry-run"],
        "diff": ["envguard", "diff", first],
        "protect": ["envguard", "protect", "-n", "demo"],
        "unprotect": ["envguard", "unprotect", "-n", "demo"],
        "trash": ["envguard", "trash"],
        "purge": ["envguard", "purge", "--all", "--dry-run"],
        "prune": ["envguard", "prune", "--keep", "1", "--dry-run"],
        "clean": ["envguard", "clean", "--dry-run"],
        "freeze": ["envguard", "freeze", "-n", "demo"],
        "unfreeze": ["envguard", "unfreeze", "-n", "demo"],
        "export": ["envguard", "export", "demo", "-o", str(tmp_path / "again.envguard")],
        "import": ["envguard", "import", str(bundle)],
        "sync": ["envguard", "sync"],
        "verify": ["envguard", "verify", "--all"],
        "disk": ["envguard", "disk"],
    }
    assert set(runs) == set(_verbs())
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_GIT", str(tmp_path / "git"))
    failures = []
    # two rounds of processes side by side; unprotect and unfreeze after what they undo
    for round_ in ([v for v in runs if not v.startswith("un")], ["unprotect", "unfreeze"]):
        started = {verb: _closed_stdout_start(runs[verb], tmp_path) for verb in round_}
        for verb, process in started.items():
            _, err = process.communicate(timeout=180)
            if (
                process.returncode != 1
                or "Traceback" in err
                or "unexpected error" in err
                or "Exception ignored" in err
                or re.search(r"^[A-Z][A-Za-z]+Error: ", err, re.MULTILINE)
            ):
                failures.append(f"{verb}: exit {process.returncode}\n{err[-1200:]}")
    record("verbs run with a closed stdout (python -m conda)", len(runs))
    assert not failures, "\n".join(failures)


def test_an_error_under_json_ends_quietly_when_stdout_is_closed(conda_dirs, tmp_path):
    """Under --json conda prints an error as JSON on stdout: `conda envguard show NOPE --json
    | head -1` must end as an error (exit 1), not in a BrokenPipe traceback from conda's
    error handler. One error raised as such, one that began as the system's (OSError)."""
    runs = {
        "no such snapshot": ["envguard", "show", "no-such-snapshot", "--json"],
        "unusable store": ["envguard", "verify", "--all", "--json"],
    }
    started = {}
    for what, argv in runs.items():
        env = dict(os.environ)
        if what == "unusable store":  # a file where the store's folder should be
            (tmp_path / "not-a-folder").write_text("")
            env["CONDA_PLUGINS_ENVGUARD_STORE"] = str(tmp_path / "not-a-folder" / "store")
        started[what] = _closed_stdout_start(argv, env=env)
    for what, process in started.items():
        _, err = process.communicate(timeout=180)
        assert process.returncode == 1, (what, err)
        assert "Traceback" not in err and "Exception ignored" not in err, (what, err)
