"""The benchmark script runs end to end on a tiny size. Its timings are not judged here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_benchmark_suite_runs_on_a_tiny_size():
    sys.path.insert(0, str(ROOT))
    try:
        import benchmarks
    finally:
        sys.path.remove(str(ROOT))

    result = benchmarks.run(size="tiny", repeat=1)

    measured = " | ".join(row["measure"] for row in result["results"])
    for expected in (
        "start-up",
        "import",
        "install",
        "snapshot",
        "remove",
        "undo",
        "restore",
        "list",
        "roll back",
    ):
        assert expected in measured, (expected, measured)
    assert "ratio" in result["table"] and isinstance(result["missed"], list)
    if importlib.util.find_spec("conda_pack"):  # measures 7 and 8 need it (the bench extra)
        for expected in ("import --restore vs tar -xzf + conda-unpack", "whole move",
                         "realistic env", "peak memory of import --restore"):  # fmt: skip
            assert expected in measured, (expected, measured)
