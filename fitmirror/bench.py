"""`fitmirror bench`: run the benchmarks and write bench/results.json plus bench/RESULTS.md.

The benchmarks are the top-level package `benchmarks/` of a source checkout (registry: `benchmarks.BENCHES`), not
part of the installed package: they read ../shared/data and write into the checkout's bench/. This command finds
them beside the `fitmirror` package it runs from (an editable install, `make bench`), and says so where there
are none (a wheel)."""

from __future__ import annotations

import sys
from pathlib import Path

from fitmirror.config import REPO_ROOT
from fitmirror.errors import SetupError


def main(argv: list[str]) -> int:
    if not (REPO_ROOT / "benchmarks" / "__init__.py").is_file():
        raise SetupError(
            f"the benchmarks run from a source checkout of fitmirror; this one is installed at {REPO_ROOT}, "
            "which has no benchmarks/ folder",
            hint="clone the repository and run `make bench` (or `.venv/bin/fitmirror bench`) in the checkout",
        )
    if str(REPO_ROOT) not in sys.path:  # the console script's sys.path holds the venv's bin/, not the checkout
        sys.path.insert(0, str(REPO_ROOT))
    import benchmarks

    if benchmarks.__file__ is None or Path(benchmarks.__file__).resolve().parent != REPO_ROOT / "benchmarks":
        raise SetupError(f"`import benchmarks` loads {benchmarks.__file__}, not {REPO_ROOT / 'benchmarks'}")
    return int(benchmarks.main(argv))
