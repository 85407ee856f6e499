"""How big the benchmark's envs are, and how many timed pairs each measure runs."""

from __future__ import annotations

from dataclasses import dataclass

from .realistic import Shape


@dataclass(frozen=True)
class Size:
    name: str
    repeat: int  # timed pairs per measure, unless --repeat says otherwise
    # Measures whose commands take about a second (1, 3 and 6) run `quick_factor` times as
    # many pairs: the differences they look for are a few milliseconds.
    quick_factor: int
    warmup: bool  # one untimed run of each side before the pairs of the quick measures
    env_sizes: tuple[int, int, int]  # packages in the small, medium and large envs
    big_pkgs: int  # the big env for removal, undo and restore: big_pkgs x files_per_pkg files
    files_per_pkg: int
    list_snapshots: int  # snapshots in the store for `conda envguard list`
    list_envs: int  # ... spread over this many envs
    # measure 8's env, sized like a real ML env, and its pairs (each moves it twice: minutes)
    realistic: Shape
    realistic_pairs: int
    # restore of a dependency chain: so many packages, each in `dep_versions` versions and
    # needing the one before it: a solve of the kind a real env makes conda do
    dep_pkgs: int = 300
    dep_versions: int = 3
    # ... from a channel whose index also lists so many other packages, as real channels do
    # (conda-forge lists over a million): a solve must read them, an explicit lock need not
    index_padding: int = 100_000
    # the prefix of measure 3's ownership-scan row: so many files from packages, and one in a
    # hundred more that no package installed (a user's notebooks and data)
    huge_files: int = 100_000

    @property
    def medium(self) -> int:
        """The env of measures 1, 2 and 6 (the "300-package env")."""
        return self.env_sizes[1]

    @property
    def big_files(self) -> int:
        return self.big_pkgs * self.files_per_pkg


SIZES = {
    # the sizes
    "full": Size(
        name="full",
        # On a shared 2-core machine one run of a command varies by up to 30%: a 3% target
        # needs about 40 pairs before its median stops moving.
        repeat=7,
        quick_factor=6,
        warmup=True,
        env_sizes=(50, 300, 1000),
        big_pkgs=20,
        files_per_pkg=1000,
        list_snapshots=1000,
        list_envs=20,
        # 1.07 GB in 20,467 files: three libraries of 120-180 MB, 264 of 2 MB, 20,000 Python
        # files of 200 B to 8 KB, 200 scripts naming the prefix
        realistic=Shape(
            huge=(180 << 20, 160 << 20, 120 << 20),
            mid_pkgs=12,
            mid_files=22,
            mid_size=2 << 20,
            small_pkgs=20,
            small_files=1000,
            scripts=200,
        ),
        realistic_pairs=2,
    ),
    # a smoke test: every measure runs once, on small envs, in well under a minute
    "tiny": Size(
        name="tiny",
        repeat=1,
        quick_factor=1,
        warmup=False,
        env_sizes=(5, 20, 40),
        big_pkgs=2,
        files_per_pkg=100,
        list_snapshots=20,
        list_envs=4,
        dep_pkgs=10,
        dep_versions=2,
        index_padding=1_000,
        huge_files=1_000,
        realistic=Shape(
            huge=(2 << 20,),
            mid_pkgs=2,
            mid_files=3,
            mid_size=256 << 10,
            small_pkgs=2,
            small_files=50,
            scripts=5,
        ),
        realistic_pairs=1,
    ),
}
