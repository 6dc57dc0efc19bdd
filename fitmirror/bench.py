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

    checks = {c.component: c.detail for c in run_checks(probe=False) if c.status == "ok"}
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


def _markdown(report: dict) -> str:
    md = [
        "# fitmirror benchmarks",
        "",
        "Written by `fitmirror bench` (`make bench`); numbers are from the machine below.",
        "",
    ]
    md += ["Machine: " + ", ".join(f"{k}={v}" for k, v in report["machine"].items()), ""]
    for name in BENCHES:
        sec = report.get("sections", {}).get(name)
        if sec is None:
            continue
        when = f"run {sec['date']}, {'quick' if sec['quick'] else 'full'} mode, load average at start {sec['load']}"
        md += [f"## {sec['title']}", "", f"_{name}: {when}_", "", sec["markdown"], ""]
    return "\n".join(md)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="fitmirror bench", description=__doc__)
    ap.add_argument("--only", nargs="*", help="module names to run (default: all); others keep their last results")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "bench")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    unknown = [n for n in args.only or [] if n not in BENCHES]
    if unknown:
        print(f"fitmirror bench: unknown module(s) {unknown}; known: {BENCHES}", file=sys.stderr)
        return 2
    results_path = args.out / "results.json"
    report = {"machine": machine_info(), "benchmarks": {}, "sections": {}}
    if args.only and results_path.exists():  # a partial run updates the last full report
        old = json.loads(results_path.read_text())
        report["benchmarks"].update(old.get("benchmarks", {}))
        report["sections"].update(old.get("sections", {}))
    failed = []
    for name in BENCHES:
        if args.only and name not in args.only:
            continue
        print(f"[bench] {name} ...", flush=True)
        load = [round(x, 2) for x in os.getloadavg()]
        t0 = time.monotonic()
        try:
            res = importlib.import_module(name).run(quick=args.quick)
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
        # written after every module, so a long run that is stopped keeps what it measured
        results_path.write_text(json.dumps(report, indent=2, default=str))
        (args.out / "RESULTS.md").write_text(_markdown(report))
        print(f"[bench] {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    results_path.write_text(json.dumps(report, indent=2, default=str))
    (args.out / "RESULTS.md").write_text(_markdown(report))
    print(f"[bench] wrote {results_path} and {args.out / 'RESULTS.md'}")
    return 1 if failed else 0
