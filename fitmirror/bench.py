"""`fitmirror bench`: run the benchmarks and write bench/results.json plus bench/RESULTS.md.

The benchmarks are the top-level package `benchmarks/` of a source checkout (registry: `benchmarks.BENCHES`), not
part of the installed package: they read ../shared/data and write into the checkout's bench/. This command finds
them beside the `fitmirror` package it runs from (an editable install, `make bench`), and says so where there
are none (a wheel)."""

from __future__ import annotations

import subprocess
import sys

from fitmirror.config import REPO_ROOT
from fitmirror.errors import SetupError


def main(argv: list[str]) -> int:
    """Runs `python -m benchmarks` in the checkout (a process of its own: the ground floor never imports the
    benchmarks, which import every stage)."""
    if not (REPO_ROOT / "benchmarks" / "__main__.py").is_file():
        raise SetupError(
            f"the benchmarks run from a source checkout of fitmirror; this one is installed at {REPO_ROOT}, "
            "which has no benchmarks/ folder",
            hint="clone the repository and run `make bench` (or `.venv/bin/fitmirror bench`) in the checkout",
        )
    return subprocess.call([sys.executable, "-m", "benchmarks", *argv], cwd=REPO_ROOT)
