"""`python -m benchmarks`: run the suite, print one table, optionally write JSON."""

from __future__ import annotations

import argparse
import sys

from .sandbox import CondaFailed
from .sizes import SIZES
from .suite import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time conda with envguard against conda without it (--no-plugins), in a "
        "throw-away sandbox with its own local channel, envs and store.",
    )
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="full",
        help="full: the sizes of issue 5 (several minutes); tiny: a smoke test (under a minute)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        metavar="N",
        help="timed pairs per measure (default: full 5, tiny 1); measures 1, 3 and 6 run "
        f"{SIZES['full'].quick_factor}N at size full",
    )
    parser.add_argument(
        "--only",
        type=int,
        nargs="+",
        metavar="N",
        help="run only the measures with these numbers (e.g. --only 1 2: start-up and install)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the sandbox, with an env.sh to run its conda by hand (e.g. under a profiler)",
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        report = run(
            args.size,
            args.repeat,
            json_path=args.json,
            keep=args.keep,
            only=set(args.only) if args.only else None,
        )
    except CondaFailed as e:
        print(f"benchmarks: a conda command failed, so no numbers:\n{e}", file=sys.stderr)
        return 1
    print(report["table"])
    if report["missed"]:
        print("\nmissed: " + "; ".join(report["missed"]))
    else:
        print("\nevery target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
