"""The measures of issue 5, each against what a user would run without envguard.

The baseline side always runs `--no-plugins`: plain conda, as if envguard were not installed.
Every env and package is made here, in the sandbox, from tiny noarch packages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .sandbox import Pkg, Sandbox, build_channel, channel_url
from .sizes import Size
from .timing import Result, Run, ratio_result, time_pairs

Log = Callable[[str], None]

EXTRA = "bench-extra"  # the package measure 2 installs, in two versions
BIG = "big"  # the env of measures 4 and 5
DEPS = "deps"  # the env of measure 5's second restore: a chain of dependencies
HUGE = "huge"  # the prefix of measure 3's ownership-scan row


def sized_env(n: int) -> str:
    return f"pkgs-{n}"


def _small_pkgs(n: int) -> list[Pkg]:
    return [Pkg(f"bench-p{i:04d}", "1.0") for i in range(n)]


def _dep_pkgs(size: Size) -> list[Pkg]:
    """bench-dep0000 ... each in several versions, each needing the previous package."""
    return [
        Pkg(
            f"bench-dep{i:04d}",
            f"1.{v}",
            depends=(f"bench-dep{i - 1:04d} >=1.{v}",) if i else (),
        )
        for i in range(size.dep_pkgs)
        for v in range(size.dep_versions)
    ]


def _big_pkgs(size: Size) -> list[Pkg]:
    # n_files comes on top of the one file every package has
    return [
        Pkg(f"bench-big{i:02d}", "1.0", n_files=size.files_per_pkg - 1)
        for i in range(size.big_pkgs)
    ]


def _huge_pkgs(size: Size) -> list[Pkg]:
    return [
        Pkg(f"bench-huge{i:03d}", "1.0", n_files=size.files_per_pkg - 1)
        for i in range(max(1, size.huge_files // size.files_per_pkg))
    ]


# -- set-up -----------------------------------------------------------------------------------
def setup(sb: Sandbox, size: Size, log: Log, only: set[int] | None = None) -> None:
    """The channel, the package cache, and the envs the measures (`only` those) start from."""
    log("compiling conda's and envguard's bytecode into the sandbox")
    sb.compile_bytecode()
    log(f"building a local channel ({max(size.env_sizes)} small packages, {size.big_files} files)")
    extra = [Pkg(EXTRA, "1.0"), Pkg(EXTRA, "2.0")]
    sb.build_channel(_small_pkgs(max(size.env_sizes)) + _big_pkgs(size) + _huge_pkgs(size) + extra)
    log(f"building a second channel: {size.dep_pkgs} chained packages in a big index")
    build_channel(sb.index_channel, _dep_pkgs(size))
    _pad_index(sb.index_channel, size.index_padding)
    for n in size.env_sizes:
        log(f"creating env {sized_env(n)}")
        sb.create_explicit(sized_env(n), _small_pkgs(n))
    if only and not only & {4, 5, 7}:
        return  # the big env and the dependency chain serve measures 4, 5 and 7 only
    log(f"creating env {BIG} ({size.big_files} files; this also fills the package cache)")
    sb.conda("create", "-n", BIG, *(p.name for p in _big_pkgs(size)), "-y", plugins=False)
    log(f"creating env {HUGE} ({size.huge_files} files, and 1% more that no package installed)")
    sb.create_explicit(HUGE, _huge_pkgs(size))
    user_files = sb.prefix(HUGE) / "work"
    user_files.mkdir()
    for i in range(size.huge_files // 100):
        (user_files / f"notes{i:05d}.txt").write_text(f"note {i}\n")
    log(f"creating env {DEPS} ({size.dep_pkgs} packages in a dependency chain)")
    sb.conda(
        "create", "-n", DEPS, "--override-channels", "-c", channel_url(sb.index_channel),
        f"bench-dep{size.dep_pkgs - 1:04d}", "-y", plugins=False,
    )  # fmt: skip


def _pad_index(channel: Path, n: int) -> None:
    """List `n` more packages in the channel's noarch index (no files: they are never chosen)."""
    index_path = channel / "noarch" / "repodata.json"
    index = json.loads(index_path.read_text())
    for i in range(n):
        fn = f"bench-pad{i:06d}-1.0-0.tar.bz2"
        index["packages"][fn] = {
            "name": f"bench-pad{i:06d}", "version": "1.0", "build": "0", "build_number": 0,
            "depends": [], "subdir": "noarch", "noarch": "generic", "size": 1000,
            "md5": f"{i:032x}", "sha256": f"{i:064x}", "timestamp": 0,
        }  # fmt: skip
    index_path.write_text(json.dumps(index))


# -- 1. start-up --------------------------------------------------------------------------------
# In a fresh interpreter, with what conda has imported before it loads plugins already there:
# the import of the plugin module alone, and every module it pulled in on top.
_IMPORT_PROBE = """\
import json, sys, time
import conda.plugins, conda.plugins.types
before = set(sys.modules)
start = time.perf_counter()
import conda_envguard.plugin
seconds = time.perf_counter() - start
added = sorted(m for m in set(sys.modules) - before if not m.startswith("conda_envguard"))
print(json.dumps({"seconds": seconds, "added": added}))
"""


def startup(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    env = sized_env(size.medium)
    results = []
    for label, args in (
        ("start-up: conda env list", ("env", "list")),
        (f"start-up: conda list -n E, {size.medium} pkgs", ("list", "-n", env)),
    ):
        log(f"1. {label}: {pairs} pairs")
        eg, bl = time_pairs(
            pairs,
            lambda args=args: sb.conda(*args),
            lambda args=args: sb.conda(*args, plugins=False),
            warmup=size.warmup,
        )
        results.append(ratio_result(1, label, 1.03, eg, bl))

    log(f"1. import conda_envguard.plugin: {pairs} runs")
    skip = 1 if size.warmup else 0
    probes = [
        json.loads(sb.run([sys.executable, "-c", _IMPORT_PROBE]).stdout)
        for _ in range(skip + pairs)
    ][skip:]
    seconds = [p["seconds"] for p in probes]
    median_ms = statistics.median(seconds) * 1000
    added = probes[-1]["added"]
    results.append(
        Result(
            number=1,
            measure="import conda_envguard.plugin",
            target="< 2 ms",
            envguard=median_ms,
            baseline=None,
            ratio=None,
            ok=median_ms < 2,
            unit="ms",
            runs={"envguard": [s * 1000 for s in seconds]},
            note="after conda.plugins.types; modules it added: " + (", ".join(added) or "none"),
        )
    )
    return results


# -- 2. install -------------------------------------------------------------------------------
def install(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    env = sized_env(size.medium)
    log(f"2. conda install into {env}: {pairs} pairs")
    # Every run switches the package to its other version: each does real work, and each
    # envguard run finds the env changed since its last snapshot, so it takes one (the cost
    # being measured). The first install, untimed, puts the package there.
    sb.conda("install", "-n", env, f"{EXTRA}=1.0", "-y", plugins=False)
    installed = ["1.0"]

    def switch(plugins: bool) -> Run:
        version = "2.0" if installed[0] == "1.0" else "1.0"
        run = sb.conda("install", "-n", env, f"{EXTRA}={version}", "-y", plugins=plugins)
        installed[0] = version
        return run

    before = _snapshot_count(sb, env)
    eg, bl = time_pairs(pairs, lambda: switch(True), lambda: switch(False))
    taken = _snapshot_count(sb, env) - before
    label = f"install 1 pkg into a {size.medium}-pkg env"
    note = f"envguard took {taken} snapshots in its {len(eg)} installs"
    return [ratio_result(2, label, 1.05, eg, bl, note=note)]


def _snapshot_count(sb: Sandbox, env: str) -> int:
    """How many snapshots of `env` the store holds (to check what was measured)."""
    return len(json.loads(sb.conda("envguard", "list", "-n", env, "--json").stdout)["snapshots"])


# -- 3. snapshot vs export --------------------------------------------------------------------
# Growth is "linear" when the cost per package between the medium and large envs is at most
# this factor times that between the small and medium ones, or no steeper than conda's own
# export over the same range, give or take the noise of the medians the slopes come from
# (an allowance in seconds, spread over the packages).
LINEAR_FACTOR = 1.5
NOISE_ALLOWANCE_S = 0.02


def snapshot(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    results = []
    medians: dict[int, tuple[float, float]] = {}
    for n in size.env_sizes:
        env = sized_env(n)
        log(f"3. envguard snapshot vs env export, {n} pkgs: {pairs} pairs")
        eg, bl = time_pairs(
            pairs,
            lambda env=env: sb.conda("envguard", "snapshot", "-n", env, "--force"),
            lambda env=env: sb.conda("env", "export", "-n", env, plugins=False),
            warmup=size.warmup,
        )
        results.append(ratio_result(3, f"snapshot vs env export, {n} pkgs", 1.1, eg, bl))
        medians[n] = (
            statistics.median(r.seconds for r in eg),
            statistics.median(r.seconds for r in bl),
        )

    def slopes(a: int, b: int) -> tuple[float, float]:  # ms per package, envguard and export
        eg, bl = ((medians[b][i] - medians[a][i]) * 1000 / (b - a) for i in (0, 1))
        return eg, bl

    small, medium, large = size.env_sizes
    low, high = slopes(small, medium), slopes(medium, large)
    allowance = NOISE_ALLOWANCE_S * 1000 / (large - medium)
    # ... or no steeper than conda's own export over the same range
    linear = high[0] <= max(LINEAR_FACTOR * max(low[0], 0.0), high[1]) + allowance
    for (a, b), (eg_slope, bl_slope), is_reference in (
        ((small, medium), low, True),
        ((medium, large), high, False),
    ):
        results.append(
            Result(
                number=3,
                measure=f"snapshot growth, {a}->{b} pkgs",
                target="-" if is_reference else "linear",
                envguard=eg_slope,
                baseline=bl_slope,
                # a negative slope is noise (tiny envs): no ratio to speak of
                ratio=eg_slope / bl_slope if min(eg_slope, bl_slope) > 0 else None,
                ok=is_reference or linear,
                unit="ms/pkg",
                note=""
                if is_reference
                else f"linear: at most {LINEAR_FACTOR}x the "
                f"{small}->{medium} slope (or export's slope) + {allowance:.3f} ms/pkg for noise",
            )
        )
    return results


def snapshot_huge_prefix(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    """A snapshot walks the whole prefix for files no package installed: the cost of that
    walk, on a prefix of `huge_files` files, against conda's own export of the same env."""
    log(f"3. envguard snapshot vs env export, {size.huge_files}-file prefix: {pairs} pairs")
    eg, bl = time_pairs(
        pairs,
        lambda: sb.conda("envguard", "snapshot", "-n", HUGE, "--force"),
        lambda: sb.conda("env", "export", "-n", HUGE, plugins=False),
        warmup=size.warmup,
    )
    label = f"snapshot vs env export, {size.huge_files}-file prefix"
    return [ratio_result(3, label, 1.1, eg, bl)]


# -- 4 and 5. removal and undo --------------------------------------------------------------------
def remove_and_undo(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    """Each pair: envguard removes BIG (snapshot + trash) and undoes it; plain conda re-creates
    a copy from the package cache and removes that.

    So every removal, on either side, is of a complete env made outside its timed part: the
    envguard side's by the undo before it, the plain side's by the re-creation before it.
    """
    names = [p.name for p in _big_pkgs(size)]
    copy = f"{BIG}-copy"
    removal: tuple[list[Run], list[Run]] = ([], [])
    back: tuple[list[Run], list[Run]] = ([], [])

    def guarded() -> None:
        removal[0].append(sb.conda("env", "remove", "-n", BIG, "-y"))
        back[0].append(sb.conda("envguard", "undo", BIG, "-y"))

    def plain() -> None:
        create = ("create", "-n", copy, "--offline", *names, "-y")
        back[1].append(sb.conda(*create, plugins=False))
        removal[1].append(sb.conda("env", "remove", "-n", copy, "-y", plugins=False))

    log(f"4./5. remove and undo a {size.big_files}-file env: {pairs} pairs")
    for i in range(pairs):
        for side in (guarded, plain) if i % 2 == 0 else (plain, guarded):
            side()
    files = f"{size.big_files} files"
    return [
        ratio_result(4, f"env remove, {files}", 0.15, *removal),
        ratio_result(5, f"undo vs create --offline, {files}", 0.2, *back),
    ]


# restore's last words say how it restored: "Restored PREFIX from snapshot ID (explicit)."
_RESTORED_FROM = re.compile(r"from snapshot \S+ \((trash|explicit|environment\.yml)\)")


def restore(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    """`conda envguard restore` from the explicit lock vs `conda env create -f` its export:
    for the big env (linking dominates) and for the dependency chain (solving dominates)."""
    label = "restore (lock) vs env create -f"
    return [
        _restore_one(sb, BIG, f"{label}, {size.big_files} files", pairs, log),
        _restore_one(sb, DEPS, f"{label}, {size.dep_pkgs}-pkg dependency chain", pairs, log),
    ]


def _restore_one(sb: Sandbox, env: str, label: str, pairs: int, log: Log) -> Result:
    log(f"5. envguard restore vs env create -f, env {env}: {pairs} pairs")
    exported = sb.conda("env", "export", "-n", env, plugins=False).stdout
    yml = sb.specs_dir / f"{env}-environment.yml"
    yml.write_text(
        "".join(
            line
            for line in exported.splitlines(keepends=True)
            if not line.startswith(("name:", "prefix:"))  # given with -n
        )
    )
    # Removed with a snapshot, and the trash emptied, so restore must use the lock.
    sb.conda("env", "remove", "-n", env, "-y")
    sb.conda("envguard", "purge", "--all", "-y")

    def guarded() -> Run:
        run = sb.conda("envguard", "restore", env, "-n", "restored", "-y")
        sb.remove_dir("restored")
        return run

    def plain() -> Run:
        run = sb.conda("env", "create", "-f", str(yml), "-n", "from-yml", "-y", plugins=False)
        sb.remove_dir("from-yml")
        return run

    eg, bl = time_pairs(pairs, guarded, plain)
    methods = sorted({m for r in eg for m in _RESTORED_FROM.findall(r.stdout)})
    note = "restored from: " + (", ".join(methods) or "? (restore's output has changed)")
    return ratio_result(5, label, 0.7, eg, bl, note=note)


# -- 6. list ------------------------------------------------------------------------------------
def list_snapshots(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    store = sb.root / "store-list"
    sb.prepare_store(store)
    in_store = {"CONDA_PLUGINS_ENVGUARD_STORE": str(store)}
    log(f"6. filling a store with {size.list_snapshots} snapshots")
    sb.conda("envguard", "snapshot", "-n", sized_env(size.medium), "--force", env=in_store)
    clone_snapshots(sb, store, size.list_snapshots, size.list_envs)

    log(f"6. envguard list vs env list: {pairs} pairs")
    eg, bl = time_pairs(
        pairs,
        lambda: sb.conda("envguard", "list", env=in_store),
        lambda: sb.conda("env", "list", plugins=False),
        warmup=size.warmup,
    )
    label = f"envguard list, {size.list_snapshots} snapshots, vs env list"
    return [ratio_result(6, label, 1.2, eg, bl)]


def clone_snapshots(sb: Sandbox, store: Path, total: int, envs: int) -> None:
    """Turn the store's one real snapshot into `total`, one a minute, over `envs` envs.

    Files are hard links of the original's, except snapshot.json, rewritten with its own id,
    time and env: what `list` reads. (envs x 50 snapshots is a store at envguard_keep's
    default.)
    """
    snapshots = store / "snapshots"
    (source,) = [p for p in snapshots.iterdir() if not p.name.startswith(".")]
    meta = json.loads((source / "snapshot.json").read_text())
    start = datetime.now(timezone.utc) - timedelta(minutes=total)
    for i in range(total):
        env_name = f"env{i % envs:02d}"
        created = start + timedelta(minutes=i)
        snap_id = f"{created:%Y%m%d-%H%M%S}-{env_name}-{i:04x}"
        dest = snapshots / snap_id
        shutil.copytree(source, dest, copy_function=os.link)
        (dest / "snapshot.json").unlink()  # a link to the original's: replace, don't edit
        (dest / "snapshot.json").write_text(
            json.dumps(
                {
                    **meta,
                    "id": snap_id,
                    "created": created.isoformat(timespec="seconds"),
                    "env_name": env_name,
                    "prefix": str(sb.prefix(env_name)),
                },
                indent=2,
            )
        )
    shutil.rmtree(source)


# -- 2b. install with the git history -----------------------------------------------------------
def install_with_git(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    """Measure 2 with `envguard_git` set: each snapshot is also committed to a git repo, by a
    detached committer that works after the command has returned. What is timed is the
    command; the next run starts once the committer is done, as a person's next command would
    (back to back, they would share the CPUs with it)."""
    if shutil.which("git") is None:
        log("2. install with envguard_git: skipped (no git command)")
        return []
    env = sized_env(size.medium)
    with_git = {"CONDA_PLUGINS_ENVGUARD_GIT": str(sb.root / "history")}
    log(f"2. conda install into {env}, envguard_git set: {pairs} pairs")
    installed = [_installed_version(sb, env)]

    def switch(plugins: bool) -> Run:
        version = "2.0" if installed[0] == "1.0" else "1.0"
        run = sb.conda(
            "install", "-n", env, f"{EXTRA}={version}", "-y", plugins=plugins, env=with_git
        )
        installed[0] = version
        _wait_for_committer(sb.store / "git-queue")
        return run

    eg, bl = time_pairs(pairs, lambda: switch(True), lambda: switch(False))
    sb.conda("envguard", "sync", env=with_git)  # waits for the committers: none left running
    commits = sb.run(["git", "-C", with_git["CONDA_PLUGINS_ENVGUARD_GIT"], "rev-list", "--count",
                      "HEAD"]).stdout.strip()  # fmt: skip
    label = f"install 1 pkg into a {size.medium}-pkg env, envguard_git set"
    return [ratio_result(2, label, 1.05, eg, bl, note=f"{commits} commits in the git history")]


def _wait_for_committer(queue: Path, limit: float = 60.0) -> None:
    """Untimed: until the detached committer has emptied envguard's git queue."""
    deadline = time.monotonic() + limit
    while queue.is_dir() and any(queue.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)


def _installed_version(sb: Sandbox, env: str) -> str:
    records = json.loads(sb.conda("list", "-n", env, EXTRA, "--json", plugins=False).stdout)
    return records[0]["version"] if records else "2.0"


# -- 7 and 8. moving an env: envguard's bundle vs conda-pack ----------------------------------
_CONDA_PACK = "import sys; from conda_pack.cli import main; sys.exit(main())"
REAL = "real"  # the env of measure 8, sized like a real ML env
PEAK_MB = 300  # what export and import --restore may hold in memory, whatever the env's size


def moving(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    """Measure 7: moving the 20,000-tiny-file env, where per-file work is everything and
    compression nothing. conda-pack (PyPI) is a benchmark-only tool: without it, skipped."""
    if not _have_conda_pack(log, 7):
        return []
    sb.conda("envguard", "snapshot", "-n", BIG)  # its latest state (unchanged: skipped)
    label = f"{size.big_files} files"
    return _move(sb, 7, BIG, label, pairs, log, targets=(0.5, 2.0, 1.0), memory=False)


def moving_real(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    """Measure 8: moving an env sized like a real ML env (see `realistic`), its packages
    `.conda` files as on conda-forge, its channel gone before anything is moved."""
    from . import realistic

    if not _have_conda_pack(log, 8):
        return []
    pairs = min(pairs, size.realistic_pairs)
    shape = size.realistic
    channel = sb.root / "channel-real"
    log(f"8. building a realistic env: {shape.files} files, about {shape.approx_bytes >> 20} MB")
    names = realistic.build(channel, shape)
    sb.conda("create", "-n", REAL, "--override-channels", "-c", channel_url(channel), *names,
             "-y", plugins=False)  # fmt: skip
    sb.conda("envguard", "snapshot", "-n", REAL)
    shutil.rmtree(channel)  # nothing below may fetch a package from it
    files = sum(len(f) for _, _, f in os.walk(sb.prefix(REAL)))
    mb = sum(p.stat().st_size for p in sb.prefix(REAL).rglob("*") if p.is_file()) >> 20
    label = f"realistic env ({mb} MB, {files} files)"
    try:
        return _move(sb, 8, REAL, label, pairs, log, targets=(0.3, 1.0, 0.5), memory=True)
    finally:
        sb.remove_dir(REAL)


def _have_conda_pack(log: Log, number: int) -> bool:
    import importlib.util

    if importlib.util.find_spec("conda_pack") is None:
        log(f"{number}. moving an env: skipped (pip install conda-pack to compare with it)")
        return False
    return True


def _move(
    sb: Sandbox,
    number: int,
    env: str,
    label: str,
    pairs: int,
    log: Log,
    targets: tuple[float, float, float],
    memory: bool,
) -> list[Result]:
    """export vs conda-pack (time, size); on an empty second machine, `import --restore` vs
    `tar -xzf` + `conda-unpack`; and the whole move. Each side's output is deleted once the
    next one is written (the realistic env's are GBs). The second machines are kept until
    the sandbox goes: on ext4 without a journal, files made soon after many were deleted
    cost up to 20 times more (its inode allocator skips inodes freed in the last minutes),
    so deleting one run's files made the next run, on either side, slow at random."""
    export_limit, import_limit, move_limit = targets
    work = sb.root / f"move-{number}"
    work.mkdir()
    prefix = str(sb.prefix(env))
    counter = iter(range(10**6))
    latest: dict[str, Path] = {}

    def replace(kind: str, out: Path) -> None:
        if kind in latest:
            latest[kind].unlink()
        latest[kind] = out

    def export() -> Run:
        out = work / f"{next(counter)}.envguard"
        run = sb.conda("envguard", "export", env, "-o", str(out), "--with-packages")
        replace("bundle", out)
        return run

    def pack() -> Run:
        out = work / f"{next(counter)}.tar.gz"
        run = sb.run([sys.executable, "-c", _CONDA_PACK, "-p", prefix, "-o", str(out), "-q"])
        replace("pack", out)
        return run

    log(f"{number}. export --with-packages vs conda-pack, {label}: {pairs} pairs")
    eg_out, bl_out = time_pairs(pairs, export, pack)
    results = [
        ratio_result(number, f"export --with-packages vs conda-pack, {label}", export_limit,
                     eg_out, bl_out)
    ]  # fmt: skip
    size_mb = (latest["bundle"].stat().st_size / 1e6, latest["pack"].stat().st_size / 1e6)
    results.append(
        Result(
            number=number,
            measure=f"bundle vs conda-pack archive size, {label}",
            target="<= 1x",
            envguard=size_mb[0],
            baseline=size_mb[1],
            ratio=size_mb[0] / size_mb[1],
            ok=size_mb[0] <= size_mb[1],
            unit="MB",
        )
    )

    machines = iter(range(10**6))

    def second_machine() -> tuple[Path, dict[str, str]]:
        root = work / f"machine-{next(machines)}"
        for name in ("home", "pkgs", "envs"):
            (root / name).mkdir(parents=True)
        sb.prepare_store(root / "store")
        return root, {
            "HOME": str(root / "home"),
            "CONDA_PKGS_DIRS": str(root / "pkgs"),
            "CONDA_ENVS_DIRS": str(root / "envs"),
            "CONDA_PLUGINS_ENVGUARD_STORE": str(root / "store"),
        }

    def import_restore() -> Run:
        other = second_machine()[1]
        return sb.conda("envguard", "import", str(latest["bundle"]), "--restore", "-n", "moved",
                        "-y", env=other)  # fmt: skip

    def unpack() -> Run:
        other = second_machine()[1]
        target = Path(other["CONDA_ENVS_DIRS"]) / "moved"
        target.mkdir()
        untar = sb.run(["tar", "-xzf", str(latest["pack"]), "-C", str(target)])
        # conda-pack's own step that makes the env usable: the prefix rewritten in its files
        fix = sb.run([sys.executable, str(target / "bin" / "conda-unpack")])
        return Run(untar.seconds + fix.seconds, untar.cpu + fix.cpu)

    log(f"{number}. import --restore vs tar -xzf + conda-unpack, {label}: {pairs} pairs")
    eg_in, bl_in = time_pairs(pairs, import_restore, unpack)
    methods = sorted({m for r in eg_in for m in _RESTORED_FROM.findall(r.stdout)})
    results.append(
        ratio_result(
            number, f"import --restore vs tar -xzf + conda-unpack, {label}", import_limit,
            eg_in, bl_in, note="empty package cache, no channel; restored from: "
            + (", ".join(methods) or "?"),
        )
    )  # fmt: skip

    def whole(a: list[Run], b: list[Run]) -> list[Run]:
        return [Run(x.seconds + y.seconds, x.cpu + y.cpu) for x, y in zip(a, b, strict=True)]

    results.append(
        ratio_result(number, f"whole move vs conda-pack + unpack, {label}", move_limit,
                     whole(eg_out, eg_in), whole(bl_out, bl_in))
    )  # fmt: skip
    if memory:  # one more run of each, untimed, under a probe of its peak memory
        conda = [sys.executable, "-m", "conda", "envguard"]
        other = second_machine()[1]
        peaks = {
            "export": sb.peak_mb([*conda, "export", env, "-o", str(work / "peak.envguard"),
                                  "--with-packages"]),
            "import --restore": sb.peak_mb([*conda, "import", str(latest["bundle"]),
                                            "--restore", "-n", "moved", "-y"], env=other),
        }  # fmt: skip
        for what, peak in peaks.items():
            results.append(
                Result(
                    number=number,
                    measure=f"peak memory of {what}, {label}",
                    target=f"<= {PEAK_MB} MB",
                    envguard=peak,
                    baseline=None,
                    ratio=None,
                    ok=peak <= PEAK_MB,
                    unit="MB",
                )
            )
    return results


# -- 9. rolling an env back in place ------------------------------------------------------------
def roll_back(sb: Sandbox, size: Size, pairs: int, log: Log) -> list[Result]:
    """One package upgraded in the 300-package env, then put back: `conda envguard restore
    --in-place` vs conda's own `conda install --revision N`, and vs envguard's restore that
    replaces the env (`--force`: snapshot, trash, rebuild from the lock). Each run starts
    from the upgraded env (an untimed plain `conda install`)."""
    env = sized_env(size.medium)
    sb.conda("install", "-n", env, f"{EXTRA}=1.0", "-y", plugins=False)
    revisions = json.loads(sb.conda("list", "-n", env, "--revisions", "--json").stdout)
    revision = len(revisions) - 1  # the env with 1.0: where each run goes back to
    sb.conda("envguard", "snapshot", "-n", env, "--force")
    listed = json.loads(sb.conda("envguard", "list", "-n", env, "--json").stdout)
    snap = listed["snapshots"][-1]

    def upgraded(timed: Callable[[], Run]) -> Callable[[], Run]:
        def run() -> Run:
            sb.conda("install", "-n", env, f"{EXTRA}=2.0", "-y", plugins=False)
            result = timed()
            if _installed_version(sb, env) != "1.0":
                raise RuntimeError(f"the roll-back left {EXTRA} at {_installed_version(sb, env)}")
            return result

        return run

    def in_place() -> Run:
        return sb.conda("envguard", "restore", env, "--snapshot", snap["id"], "--in-place", "-y")

    def by_revision() -> Run:
        return sb.conda("install", "-n", env, "--revision", str(revision), "-y", plugins=False)

    def replacing() -> Run:
        run = sb.conda("envguard", "restore", env, "--snapshot", snap["id"], "--force", "-y")
        sb.conda("envguard", "purge", "--all", "-y")
        return run

    label = f"roll back 1 upgraded pkg in a {size.medium}-pkg env"
    log(f"9. {label}: in place vs conda install --revision, {pairs} pairs")
    eg, bl = time_pairs(pairs, upgraded(in_place), upgraded(by_revision))
    results = [ratio_result(9, f"{label}: in place vs --revision", 1.0, eg, bl)]
    log(f"9. {label}: in place vs restore --force, {pairs} pairs")
    eg, bl = time_pairs(pairs, upgraded(in_place), upgraded(replacing))
    results.append(ratio_result(9, f"{label}: in place vs restore --force", 0.5, eg, bl))
    return results
