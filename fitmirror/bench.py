"""`fitmirror bench`: run every stage's benchmark side by side in one process run and write
bench/results.json plus bench/RESULTS.md (machine, backend, versions, one table per stage).

A stage benchmark is a module with `run(quick: bool) -> dict` returning
{"title": str, "results": {...JSON...}, "markdown": str (table rows, no heading)}."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from fitmirror.config import REPO_ROOT

BENCHES: list[str] = [
    "server.bench",
    "nlu.bench",
    "avatar.garments.bench",
    "render.bench",
    "avatar.bench",
    "avatar.sizing.bench",
    "fitmirror.e2e_bench",
]  # stage modules, appended as stages land (e.g. "render.bench")


def machine_info() -> dict:
    import torch

    from fitmirror.doctor import run_checks

    checks = {c.component: c.detail for c in run_checks() if c.status == "ok"}
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "renderer": checks.get("egl"),
        "llm": checks.get("llm"),
        "load_avg_at_start": load,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="fitmirror bench", description=__doc__)
    ap.add_argument("--only", nargs="*", help="module names to run (default: all)")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "bench")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine_info(), "benchmarks": {}}
    md = [
        "# fitmirror benchmarks",
        "",
        "Machine: " + ", ".join(f"{k}={v}" for k, v in report["machine"].items()),
        "",
    ]
    failed = []
    for name in BENCHES:
        if args.only and name not in args.only:
            continue
        print(f"[bench] {name} ...", flush=True)
        t0 = time.monotonic()
        try:
            res = importlib.import_module(name).run(quick=args.quick)
        except Exception as e:
            failed.append(name)
            res = {
                "title": name,
                "results": {"error": f"{type(e).__name__}: {e}"},
                "markdown": f"FAILED: {e}",
            }
        res["results"]["wall_s"] = round(time.monotonic() - t0, 1)
        report["benchmarks"][name] = res["results"]
        md += [f"## {res['title']}", "", res["markdown"], ""]
        print(f"[bench] {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "RESULTS.md").write_text("\n".join(md))
    print(f"[bench] wrote {args.out / 'results.json'} and {args.out / 'RESULTS.md'}")
    return 1 if failed else 0
