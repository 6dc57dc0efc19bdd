"""What the benchmarks share: where their data and outputs are, timing and percentiles, machine load, a server in
its own process, and the reports (bench/results.json, bench/RESULTS.md, pictures under bench/out/).

Benchmarks read ../shared/data (SHARED_DATA), which only a checkout has; the product never does."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fitmirror.browser import chromium_args
from fitmirror.config import REPO_ROOT, SHARED_DATA
from fitmirror.procinfo import tree_cpu_s

BENCH_DIR = REPO_ROOT / "bench"  # results.json and RESULTS.md (committed), out/ (pictures, partial results)
OUT = BENCH_DIR / "out"
PERSON_PHOTOS = SHARED_DATA / "tryon-photos" / "persons"
ANSUR_DIR = SHARED_DATA / "ansur-ii"


# ------------------------------------------------------------------------------------------------ timing
def pct(values: Sequence[float], q: float, ndigits: int = 1) -> float | None:
    """Nearest-rank q-quantile (q in 0..1) of `values`, rounded; None when there are none."""
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))], ndigits)


def measure(fn: Callable[[], Any]) -> tuple[float, float]:
    """One call of `fn`: (wall ms, CPU ms of the whole process, all threads: llvmpipe's and torch's included)."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3


def ms_summary(wall_ms: Sequence[float], cpu_ms: Sequence[float]) -> dict[str, Any]:
    """Median and best wall time and median CPU time (less sensitive to other jobs than wall time) of timed calls."""
    return {
        "median_ms": round(statistics.median(wall_ms), 2),
        "min_ms": round(min(wall_ms), 2),
        "cpu_ms": round(statistics.median(cpu_ms), 2),
        "reps": len(wall_ms),
    }


def time_calls(fn: Callable[[], Any], reps: int, warmup: int = 3) -> dict[str, Any]:
    """`fn` called `warmup` times untimed, then `reps` times: `ms_summary` of those."""
    for _ in range(warmup):
        fn()
    wall, cpu = zip(*(measure(fn) for _ in range(reps)), strict=True)
    return ms_summary(wall, cpu)


# ------------------------------------------------------------------------------------------------ machine
def load_avg(ndigits: int = 2) -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded (a 2-core machine is busy above 2)."""
    return [round(x, ndigits) for x in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    import torch

    from fitmirror.doctor import run_checks

    checks = {c.component: c.detail for c in run_checks(probe=False) if c.status == "ok"}
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "renderer": checks.get("egl"),
        "llm": checks.get("llm"),
        "load_avg_at_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


# ------------------------------------------------------------------------------------------------ data
def person_photos(suffixes: tuple[str, ...] = (".jpg",)) -> list[Path]:
    """The real person photos (../shared/data/tryon-photos/persons) with these suffixes, by name."""
    return sorted(p for p in PERSON_PHOTOS.glob("*") if p.suffix in suffixes)


def person_frame(size: tuple[int, int] = (640, 480)) -> np.ndarray | None:
    """The first person photo fitted into a (w, h) RGB frame: a synthetic webcam's picture (the avatar pipeline
    needs someone to track); None without photos."""
    photos = person_photos()
    if not photos:
        return None
    from PIL import Image

    from render.layout import fit_image

    return fit_image(np.asarray(Image.open(photos[0]).convert("RGB")), size)


def ansur_people(sex: str) -> Any:
    """ANSUR II's 'female' or 'male' subjects in file order as a DataFrame in cm / kg: subject, height_cm,
    weight_kg, chest_cm, waist_cm, hips_cm, inseam_cm."""
    import pandas as pd

    df = pd.read_csv(ANSUR_DIR / f"ANSUR II {sex.upper()} Public.csv", encoding="latin-1")
    df.columns = [c.lower() for c in df.columns]
    mm = {"height_cm": "stature", "weight_kg": "weightkg", "chest_cm": "chestcircumference",
          "waist_cm": "waistcircumference", "hips_cm": "buttockcircumference", "inseam_cm": "crotchheight"}  # fmt: skip
    return pd.DataFrame({"subject": df["subjectid"], **{k: df[c] / 10.0 for k, c in mm.items()}})


# ------------------------------------------------------------------------------------------------ server
# headless Chromium as a bench client: raw 127.0.0.1 candidates without a camera grant, never throttled
CHROMIUM_ARGS = chromium_args(
    fps=30,
    extra=[
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
    ],
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    """`fitmirror serve` in its own process (its CPU and memory are measured alone), loopback ICE, 30 fps out."""
    env = {
        **os.environ,
        "FITMIRROR_ICE_LOOPBACK": "1",
        "FITMIRROR_OUTPUT_FPS": "30",
        "FITMIRROR_LOG_LEVEL": "warning",
        "FITMIRROR_TEST_PAGES": "1",  # the benches drive the developer page /_test/
        # every bench client is on 127.0.0.1: the per-address limits would count them as one shopper
        "FITMIRROR_MAX_SESSIONS_PER_CLIENT": "16",
        "FITMIRROR_MAX_CONNECTING_PER_CLIENT": "16",
        "FITMIRROR_MAX_CONNECTING": "16",
        "FITMIRROR_JITTER_BUFFER_MARKER": os.environ.get("FITMIRROR_JITTER_BUFFER_MARKER", "1"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "fitmirror.cli", "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def measure_page(page: Any, pid: int, secs: float) -> dict[str, Any]:
    """A `secs` window on a receiving /_test/ page (Chromium): fps decoded and fresh (new stamps), stamp round trip
    median / p95 ms (stamp drawn -> frame decoded, read in requestVideoFrameCallback), the server's CPU (process
    `pid` and its children) and its last `stats` event."""
    await page.evaluate("fm.rtts = []; fm.fresh = 0")
    d0, cpu0, t0 = await page.evaluate("fm.framesDecoded()"), tree_cpu_s(pid), time.monotonic()
    await asyncio.sleep(secs)
    d1, cpu1, t1 = await page.evaluate("fm.framesDecoded()"), tree_cpu_s(pid), time.monotonic()
    rtts, fresh, stats = await page.evaluate("[fm.rtts, fm.fresh, fm.stats]")
    rtts = [float(r) for r in rtts]
    return {
        "fps_received": round((d1 - d0) / (t1 - t0), 1),
        "fps_fresh": round(fresh / (t1 - t0), 1),
        "rtt_ms_median": pct(rtts, 0.5),
        "rtt_ms_p95": pct(rtts, 0.95),
        "n_stamps": len(rtts),
        "server_cpu_ms_per_frame": round((cpu1 - cpu0) * 1000 / max(1, fresh), 1),
        "server_cpu_pct": round((cpu1 - cpu0) / (t1 - t0) * 100, 1),
        "stats": stats or {},
    }


# ------------------------------------------------------------------------------------------------ reports
def write_json(path: Path, obj: Any, indent: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=indent, default=str))


def report_markdown(report: dict[str, Any], names: Sequence[str]) -> str:
    """bench/RESULTS.md: the machine, then one section per benchmark in `names` order."""
    md = [
        "# fitmirror benchmarks",
        "",
        "Written by `fitmirror bench` (`make bench`); numbers are from the machine below.",
        "",
    ]
    md += ["Machine: " + ", ".join(f"{k}={v}" for k, v in report["machine"].items()), ""]
    for name in names:
        sec = report.get("sections", {}).get(name)
        if sec is None:
            continue
        when = f"run {sec['date']}, {'quick' if sec['quick'] else 'full'} mode, load average at start {sec['load']}"
        md += [f"## {sec['title']}", "", f"_benchmarks.{name}: {when}_", "", sec["markdown"], ""]
    return "\n".join(md)


def write_report(out: Path, report: dict[str, Any], names: Sequence[str]) -> tuple[Path, Path]:
    """Writes out/results.json and out/RESULTS.md; returns their paths."""
    paths = out / "results.json", out / "RESULTS.md"
    write_json(paths[0], report)
    paths[1].write_text(report_markdown(report, names))
    return paths


def save_contact_sheet(tiles: Sequence[np.ndarray], path: Path) -> None:
    """RGB tiles side by side (cut to the shortest one's height) as one PNG, for a person to look at."""
    from PIL import Image

    h = min(t.shape[0] for t in tiles)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([t[:h] for t in tiles], 1)).save(path)


def show(out: dict[str, Any], wall_s: float) -> None:
    """A benchmark's result on stdout: the Markdown table, then the JSON results."""
    print(out["markdown"])
    print(json.dumps(out["results"], indent=1, ensure_ascii=False, default=str))
    print(f"wall {wall_s:.0f} s")


def cli(run: Callable[..., dict[str, Any]], argv: list[str] | None = None) -> int:
    """`python -m benchmarks.X [--quick]`: one benchmark alone, printed (bench/ is left as it is)."""
    ap = argparse.ArgumentParser(description=sys.modules[run.__module__].__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    show(run(quick=args.quick), time.monotonic() - t0)
    return 0
