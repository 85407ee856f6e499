"""Paired timings and what is reported from them.

The machine is shared and noisy, so each measure runs envguard and its baseline in pairs,
one right after the other, swapping which goes first on every pair (drift then hits both
sides alike), and reports the median of the per-pair ratios. Nothing here asserts a time:
a missed target is reported, never raised.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Run:
    """One timed command."""

    seconds: float  # wall clock: what the user waits
    cpu: float  # user + system time of the process and the children it waited for
    stdout: str = ""


@dataclass
class Result:
    number: int  # the measure's number in issue 5
    measure: str
    target: str  # as printed, e.g. "<= 1.05x"
    envguard: float | None  # median, in `unit`
    baseline: float | None
    ratio: float | None  # median of the per-pair wall-clock ratios
    ok: bool
    unit: str = "s"  # "s", "ms" or "ms/pkg"
    # The same ratio in CPU time: other processes on a shared machine stretch wall clocks
    # far more than CPU times, so it tells a real difference from noise.
    cpu_ratio: float | None = None
    runs: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def time_pairs(
    pairs: int,
    envguard: Callable[[], Run],
    baseline: Callable[[], Run],
    warmup: bool = False,
) -> tuple[list[Run], list[Run]]:
    """Run both sides `pairs` times, alternating which goes first.

    Each side returns the `Run` of its timed part, so it can do untimed work around it.
    """
    if warmup:  # page cache, conda's repodata cache, first-run effects: not what is measured
        envguard()
        baseline()
    eg: list[Run] = []
    bl: list[Run] = []
    for i in range(pairs):
        if i % 2 == 0:
            eg.append(envguard())
            bl.append(baseline())
        else:
            bl.append(baseline())
            eg.append(envguard())
    return eg, bl


def median_ratio(eg: list[float], bl: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(eg, bl, strict=True))


def ratio_result(
    number: int, measure: str, limit: float, eg: list[Run], bl: list[Run], note: str = ""
) -> Result:
    """A result whose target is envguard/baseline <= limit, in wall-clock time."""
    wall = ([r.seconds for r in eg], [r.seconds for r in bl])
    cpu = ([r.cpu for r in eg], [r.cpu for r in bl])
    ratio = median_ratio(*wall)
    return Result(
        number=number,
        measure=measure,
        target=f"<= {limit:g}x",
        envguard=statistics.median(wall[0]),
        baseline=statistics.median(wall[1]),
        ratio=ratio,
        ok=ratio <= limit,
        cpu_ratio=median_ratio(*cpu),
        runs={
            "envguard": wall[0],
            "baseline": wall[1],
            "envguard_cpu": cpu[0],
            "baseline_cpu": cpu[1],
        },
        note=note,
    )


# -- the table --------------------------------------------------------------------------------
HEADERS = ("measure", "envguard", "baseline", "ratio", "target", "ok")


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:.2f} {unit}"


def table(results: list[Result]) -> str:
    rows = [
        [
            f"{r.number}. {r.measure}",
            _value(r.envguard, r.unit),
            _value(r.baseline, r.unit),
            "-" if r.ratio is None else f"{r.ratio:.3f}x",
            r.target,
            "yes" if r.ok else "NO",
        ]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [list(HEADERS), *rows]) for i in range(len(HEADERS))]
    # text left-aligned, numbers right-aligned
    align = ["<", ">", ">", ">", "<", "<"]
    fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(align, widths, strict=True))
    lines = [fmt.format(*HEADERS), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*row) for row in rows]
    return "\n".join(line.rstrip() for line in lines)
