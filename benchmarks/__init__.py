"""The speed and quality benchmarks of a source checkout. Not installed with fitmirror (they read ../shared/data
and write bench/): `fitmirror bench` (`make bench`) runs them side by side in one process run and writes
bench/results.json plus bench/RESULTS.md (machine, backend, versions, one section per benchmark).

A benchmark is a module `benchmarks.<name>` with `run(quick: bool) -> dict` returning
{"title": str, "results": {...JSON...}, "markdown": str (table rows, no heading)}, listed in BENCHES; what they
share is in benchmarks/harness.py. One alone, printed and not recorded: `python -m benchmarks.<name> [--quick]`."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

BENCHES: list[str] = ["server", "nlu", "garments", "render", "avatar", "sizing", "e2e"]  # in RESULTS.md's order
# results recorded before the benchmarks moved here were keyed by their old module names
_OLD_NAMES = {
    "server.bench": "server",
    "nlu.bench": "nlu",
    "avatar.garments.bench": "garments",
    "render.bench": "render",
    "avatar.bench": "avatar",
    "avatar.sizing.bench": "sizing",
    "fitmirror.e2e_bench": "e2e",
}


def main(argv: list[str]) -> int:
    from benchmarks.harness import BENCH_DIR, load_avg, machine_info, write_report

    ap = argparse.ArgumentParser(prog="fitmirror bench", description=__doc__)
    ap.add_argument("--only", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHES)}); "
                    "the others keep their last results")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    ap.add_argument("--out", type=Path, default=BENCH_DIR)
    args = ap.parse_args(argv)
    unknown = [n for n in args.only or [] if n not in BENCHES]
    if unknown:
        print(f"fitmirror bench: unknown benchmark(s) {unknown}; known: {BENCHES}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    report: dict = {"machine": machine_info(), "benchmarks": {}, "sections": {}}
    if args.only and results_path.exists():  # a partial run updates the last full report
        old = json.loads(results_path.read_text())
        for key in ("benchmarks", "sections"):
            report[key].update({_OLD_NAMES.get(k, k): v for k, v in old.get(key, {}).items()})
    failed = []
    for name in BENCHES:
        if args.only and name not in args.only:
            continue
        print(f"[bench] {name} ...", flush=True)
        load = load_avg()
        t0 = time.monotonic()
        try:
            res = importlib.import_module(f"benchmarks.{name}").run(quick=args.quick)
        except Exception as e:
            failed.append(name)
            res = {"title": name, "results": {"error": f"{type(e).__name__}: {e}"}, "markdown": f"FAILED: {e}"}
        res["results"]["wall_s"] = round(time.monotonic() - t0, 1)
        report["benchmarks"][name] = res["results"]
        report["sections"][name] = {
            "title": res["title"],
            "markdown": res["markdown"],
            "quick": args.quick,
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "load": load,
        }
        # written after every benchmark, so a long run that is stopped keeps what it measured
        write_report(args.out, report, BENCHES)
        print(f"[bench] {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    paths = write_report(args.out, report, BENCHES)
    print(f"[bench] wrote {paths[0]} and {paths[1]}")
    return 1 if failed else 0
