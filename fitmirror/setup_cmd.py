"""`fitmirror setup`: the model and cache steps of set-up (scripts/setup.sh runs it inside .venv)."""

from __future__ import annotations

import argparse

from fitmirror import assets


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="fitmirror setup", description=__doc__)
    ap.add_argument("--only", nargs="*", help="run only these steps")
    ap.add_argument("--force", action="store_true", help="redo steps that are already done")
    args = ap.parse_args(argv)
    assets.run_all(only=args.only, force=args.force)
    return 0
