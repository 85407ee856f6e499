"""conda-envguard's benchmarks: real conda, with envguard and without, in a sandbox.

    python -m benchmarks [--size tiny|full] [--repeat N] [--json PATH]

or, from Python (e.g. a smoke test): `benchmarks.run(size="tiny", repeat=1)`, which returns
the results as a dict. See benchmarks/README.md for what is measured and how.
"""

from .suite import run

__all__ = ["run"]
