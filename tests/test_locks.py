"""Concurrency by design: two conda processes acting on one env never both act. The second
waits (envguard_lock_timeout), then stops with a clear "busy" error; a killed holder blocks no
one; nothing is lost, even with several processes running random verbs for a while."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from envguard_testsupport.checks import clean_error, ok, tree
from envguard_testsupport.figures import record

pytestmark = pytest.mark.usefixtures("no_background_expiry")

SHORT_WAIT = {"CONDA_PLUGINS_ENVGUARD_LOCK_TIMEOUT": "2"}


def _holding(args, tmp_path: Path) -> subprocess.Popen:
    """`python -m conda ARGS` left waiting at its question, holding the env's lock."""
    return subprocess.Popen(
        [sys.executable, "-m", "conda", *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )


def _wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _lock_held(conda_dirs, pid: int) -> bool:
    locks = conda_dirs.store / "locks"
    return any(_holder_pid(p) == str(pid) for p in locks.glob("env-*.lock") if p.stat().st_size)


def _holder_pid(lock: Path) -> str:
    """The pid its holder wrote first into a lock file (its command line follows)."""
    return (lock.read_text().splitlines() or [""])[0].strip()


def _has_lock_file_open(conda_dirs, pid: int) -> bool:
    """Is process `pid` at a lock (holding or waiting for it)? Linux's /proc says."""
    fds = Path(f"/proc/{pid}/fd")
    locks = str(conda_dirs.store / "locks")
    try:
        return any(os.readlink(fd).startswith(locks) for fd in fds.iterdir())
    except OSError:  # a descriptor closed while looking
        return False


def _at_the_lock_of(conda_dirs, pid: int, holder: int) -> bool:
    """Has process `pid` open the lock file that process `holder` holds? Linux's /proc says."""
    try:
        opened = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        return any(
            str(p) in opened and _holder_pid(p) == str(holder)
            for p in (conda_dirs.store / "locks").glob("env-*.lock")
        )
    except OSError:  # a descriptor closed while looking
        return False


def test_a_second_command_on_a_busy_env_waits_then_says_busy(make_env, conda_run, conda_dirs):
    prefix = make_env("demo", "alpha")
    before = tree(prefix, with_root=True)
    holder = _holding(["env", "remove", "-n", "demo"], conda_dirs.root)
    waiter = None
    try:
        _wait_until(lambda: _lock_held(conda_dirs, holder.pid))
        for argv in (
            ("envguard", "snapshot", "-n", "demo", "--force"),
            ("env", "remove", "-n", "demo", "-y"),
            ("envguard", "undo", "demo", "-y"),
            ("envguard", "restore", "demo", "--force", "-y"),
        ):
            result = conda_run(*argv, env=SHORT_WAIT)
            if argv[1] == "undo":  # undo sees the entry's command running: says so at once
                clean_error(result, "is removing 'demo' right now")
                continue
            clean_error(
                result, "The environment 'demo' is busy", f"(process {holder.pid})", "after 2 s"
            )
            # said once, as the wait began: who holds it, and how long this command waits
            waiting = [line for line in result.stderr.splitlines() if "waiting for it" in line]
            assert waiting == [
                f"envguard: the environment 'demo' is busy (process {holder.pid}: conda env "
                "remove -n demo); waiting for it, up to 2 s (envguard_lock_timeout)..."
            ], result.stderr
        # with the default wait (60 s), a command waits at the lock and goes on once it is free
        waiter = _holding(["envguard", "snapshot", "-n", "demo", "--force"], conda_dirs.root)
        _wait_until(lambda: _at_the_lock_of(conda_dirs, waiter.pid, holder.pid))
        holder.communicate("n\n", timeout=120)  # declined: envguard puts it back
        out, err = waiter.communicate(timeout=120)
        assert waiter.returncode == 0, out + err
    finally:
        for process in (holder, waiter):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert tree(prefix, with_root=True) == before
    ok(conda_run("envguard", "snapshot", "-n", "demo", "--force", env=SHORT_WAIT))


def test_a_killed_holder_blocks_no_one(make_env, conda_run, conda_dirs):
    prefix = make_env("demo", "alpha")
    holder = _holding(["env", "remove", "-n", "demo"], conda_dirs.root)
    # killed at conda's question: the env is in the trash, the lock still held
    _wait_until(lambda: (prefix / "conda-meta" / "envguard-shell").is_file())
    assert _lock_held(conda_dirs, holder.pid)
    holder.send_signal(signal.SIGKILL)
    holder.wait()

    # a lock still held would stop undo as busy after 2 s
    ok(conda_run("envguard", "undo", "demo", "-y", env=SHORT_WAIT))
    assert (conda_dirs.envs / "demo" / "conda-meta" / "history").is_file()


def test_two_removals_of_one_env_at_once_lose_nothing(make_env, conda_run, conda_dirs):
    prefix = make_env("demo", "alpha")
    before = tree(prefix, with_root=True)
    results = []

    def remove():
        results.append(conda_run("env", "remove", "-n", "demo", "-y"))

    threads = [threading.Thread(target=remove) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(r.returncode for r in results)[0] == 0
    for r in results:
        assert "Traceback" not in r.stdout + r.stderr
    entries = json.loads(ok(conda_run("envguard", "trash", "--json")).stdout)["entries"]
    assert [e["env_name"] for e in entries] == ["demo"]  # one entry: the real env, not a shell
    ok(conda_run("envguard", "undo", "demo", "-y"))
    assert tree(prefix, with_root=True) == before


def test_two_creates_of_one_new_name_never_write_into_one_prefix(
    conda_run, conda_dirs, channel_args
):
    """The first create holds the new env's lock from before it writes anything: a second
    create of the name waits (and with a short wait says the env is busy) instead of building
    into it too; once the first is done, the waiting one overwrites its env like any other:
    snapshot and trash first."""
    create = ("create", "-n", "fresh", *channel_args, "alpha")
    holder = _holding(create, conda_dirs.root)
    waiter = None
    try:
        _wait_until(lambda: _lock_held(conda_dirs, holder.pid))
        busy = conda_run(*create, "-y", env=SHORT_WAIT)
        clean_error(busy, "The environment 'fresh' is busy", f"(process {holder.pid})")
        assert not (conda_dirs.envs / "fresh").exists()
        waiter = _holding([*create, "-y"], conda_dirs.root)  # waits up to the default 60 s
        _wait_until(lambda: _has_lock_file_open(conda_dirs, waiter.pid))
        holder.communicate("y\n", timeout=120)
        out, err = waiter.communicate(timeout=120)
    finally:
        for process in (holder, waiter):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert holder.returncode == 0
    assert waiter.returncode == 0, out + err
    entries = json.loads(ok(conda_run("envguard", "trash", "--json")).stdout)["entries"]
    assert [e["env_name"] for e in entries] == ["fresh"]  # the first create's env, kept
    assert (conda_dirs.envs / "fresh" / "conda-meta" / "history").is_file()


# --- stress ---------------------------------------------------------------------------------

ENVS = ("s1", "s2", "s3")


def _verbs(env: str, channel_args) -> list[tuple[str, ...]]:
    return [
        ("env", "remove", "-n", env, "-y"),
        # --use-index-cache: parallel creates that refresh one channel's cached index can
        # corrupt it in conda itself (conda/conda#13037), which is not what this test is about
        ("create", "-n", env, *channel_args, "alpha", "--use-index-cache", "-y"),
        ("envguard", "undo", env, "--force", "-y"),
        ("envguard", "restore", env, "--force", "-y"),
        ("envguard", "purge", env, "-y"),
        ("envguard", "snapshot", "-n", env, "--force"),
        ("envguard", "prune", "--keep", "2", "-y"),
    ]


@pytest.mark.slow
def test_stress_random_verbs_on_three_envs_lose_nothing(
    make_env, conda_run, conda_dirs, channel_args
):
    """Workers run random verbs on three envs at once. Afterwards every listed snapshot
    verifies, and every env is live, or comes back from the trash or a snapshot. Size it with
    ENVGUARD_STRESS_WORKERS and ENVGUARD_STRESS_SECONDS (default: 4 workers, 40 s)."""
    workers = int(os.environ.get("ENVGUARD_STRESS_WORKERS", "4"))
    seconds = float(os.environ.get("ENVGUARD_STRESS_SECONDS", "40"))
    for env in ENVS:
        make_env(env, "alpha")
    # The channel's index and its alpha package in this test's (new, empty) package cache,
    # fetched by one process first: the workers' creates then read the cached index
    # (--use-index-cache) and their restores find the package, so no two processes write
    # conda's caches at once (conda/conda#13037, not what this test is about).
    ok(conda_run("create", "-n", "warm", *channel_args, "alpha", "--download-only", "-y"))
    runs: list[tuple[tuple[str, ...], subprocess.CompletedProcess]] = []
    deadline = time.monotonic() + seconds

    def work(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            argv = rng.choice(_verbs(rng.choice(ENVS), channel_args))
            runs.append(
                (argv, conda_run(*argv, env={"CONDA_PLUGINS_ENVGUARD_LOCK_TIMEOUT": "30"}))
            )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    crashes = [
        (argv, r.returncode, r.stdout + r.stderr)
        for argv, r in runs
        if r.returncode not in (0, 1)
        or "Traceback" in r.stdout + r.stderr
        or "unexpected error" in r.stdout + r.stderr
    ]
    if crashes:  # each whole output: the cause is usually at its start
        pytest.fail(
            "\n\n".join(f"conda {' '.join(a)} exited {code}:\n{out}" for a, code, out in crashes),
            pytrace=False,
        )
    removed = [argv for argv, r in runs if argv[:2] == ("env", "remove") and r.returncode == 0]
    assert removed, f"no removal went through in {len(runs)} runs: nothing was at stake"
    verified = json.loads(conda_run("envguard", "verify", "--json").stdout)
    assert verified["ok"], verified
    # every env is live, or comes back from the trash, or from a snapshot, with its package
    live = set(json.loads(ok(conda_run("env", "list", "--json")).stdout)["envs"])
    trashed = {
        e["env_name"]
        for e in json.loads(ok(conda_run("envguard", "trash", "--json")).stdout)["entries"]
    }
    lost = []
    for env in ENVS:
        if str(conda_dirs.envs / env) not in live:
            verb = ("undo", env) if env in trashed else ("restore", env)
            back = conda_run("envguard", *verb, "-y")
            if back.returncode:
                lost.append(f"{env}: {' '.join(verb)} failed:\n{back.stdout + back.stderr}")
                continue
        listed = json.loads(ok(conda_run("list", "-n", env, "--json")).stdout)
        if "alpha" not in {p["name"] for p in listed}:
            lost.append(f"{env}: no alpha in {listed}")
    record("concurrent conda runs (stress test)", len(runs))
    record("envs lost", len(lost))
    assert not lost, "\n".join(lost)


@pytest.mark.slow
def test_killed_at_random_moments_loses_nothing_and_blocks_no_one(make_env, conda_run, conda_dirs):
    """SIGKILL at random moments of remove, undo, restore and snapshot: no killed command's
    lock keeps the next one out (the kernel released it; with a 2 s wait, a lock still held
    would fail the next command as busy), and the env always comes back."""
    kills = int(os.environ.get("ENVGUARD_KILLS", "12"))
    make_env("demo", "alpha")
    ok(conda_run("envguard", "snapshot", "-n", "demo", "--force"))
    rng = random.Random(7)
    verbs = [
        ("env", "remove", "-n", "demo", "-y"),
        ("envguard", "undo", "demo", "--force", "-y"),
        ("envguard", "restore", "demo", "--force", "-y"),
        ("envguard", "snapshot", "-n", "demo", "--force"),
    ]
    landed = sent = 0
    # the kills past `kills` come sooner, until one lands on a running command: on a fast
    # machine every command may end before a late kill, and then nothing was tested
    while sent < kills or (not landed and sent < 3 * kills):
        child = _holding(rng.choice(verbs), conda_dirs.root)
        time.sleep(rng.uniform(0.3, 2.5) if sent < kills else rng.uniform(0.1, 0.6))
        child.send_signal(signal.SIGKILL)
        child.communicate()
        sent += 1
        landed += child.returncode == -signal.SIGKILL  # else it had ended before the kill
    record("SIGKILLs at random moments", sent)
    record("  of which killed a running command", landed)
    assert landed, "every command ended before its kill: nothing was killed"

    # whatever the kills left, a lock blocks no one, and the env comes back
    env = {"CONDA_PLUGINS_ENVGUARD_LOCK_TIMEOUT": "2"}
    prefix = conda_dirs.envs / "demo"
    if not (prefix / "conda-meta" / "history").is_file():
        undone = conda_run("envguard", "undo", "demo", "--force", "-y", env=env)
        if undone.returncode:
            ok(conda_run("envguard", "restore", "demo", "--force", "-y", env=env))
    elif (prefix / "conda-meta" / "envguard-shell").is_file():
        ok(conda_run("envguard", "undo", "demo", "--force", "-y", env=env))
    assert "alpha" in {
        p["name"] for p in json.loads(ok(conda_run("list", "-n", "demo", "--json")).stdout)
    }
    ok(conda_run("envguard", "verify"))
