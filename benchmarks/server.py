"""Streaming benchmark (`fitmirror bench --only server`): echo pipeline vs the full pipeline at 640x480.

The server runs as its own process (`fitmirror serve`), so its CPU time is measured alone; a Python aiortc client
sends a 30 fps synthetic webcam whose frames carry the wall-clock millisecond in a stamp, and reads the stamp back
from every returned frame: round trip = arrival time - stamp (same clock, same machine).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    CHROMIUM_ARGS,
    cli,
    free_port,
    load_avg,
    measure_page,
    pct,
    person_frame,
    start_server,
    stop_server,
    time_calls,
)
from fitmirror.browser import CHROMIUM, launch_chromium, wait_ready
from fitmirror.procinfo import tree_cpu_s
from server.aiortc_patches import enable_loopback_ice
from server.testclient import Client, StampedCamera, now_ms32

CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("echo (input returned unchanged)", {"pipeline": "echo", "layout": "mirror", "stamp": True}),
    (
        "preview, mosaic of 3 views 384 px",
        {"pipeline": "preview", "layout": "mosaic", "views": ["front", "back", "left"], "stamp": True},
    ),
    ("preview, stereo 2x384 px", {"pipeline": "preview", "layout": "stereo", "stamp": True}),
    (
        "avatar, mosaic of 3 views 384 px",
        {"pipeline": "avatar", "layout": "mosaic", "views": ["front", "back", "left"], "stamp": True},
    ),
]


async def _measure(url: str, pid: int, options: dict[str, Any], warm_s: float, secs: float) -> dict[str, Any]:
    bg = person_frame() if options.get("pipeline") == "avatar" else None
    client = Client(url, camera=StampedCamera(size=(640, 480), fps=30, mode="clock", background=bg))
    try:
        try:
            await client.connect_http(options, n_tracks=1)
        except Exception as e:  # e.g. the avatar pipeline is not installed
            return {"error": str(getattr(e, "body", e))[:300]}
        await client.wait_frames(1, timeout=30)
        await asyncio.sleep(warm_s)
        rec = client.received[0]
        n0, k0, cpu0, t0 = rec.frames, len(rec.stamps), tree_cpu_s(pid), time.monotonic()
        sent0 = client.camera.count
        await asyncio.sleep(secs)
        n1, cpu1, t1 = rec.frames, tree_cpu_s(pid), time.monotonic()
        window = rec.stamps[k0 - len(rec.stamps) :] if k0 < len(rec.stamps) else []
        seen: set[int] = set()
        rtt: list[float] = []
        mono_now, wall_now = time.monotonic(), now_ms32()
        for t_arr, stamp in window:
            if stamp is None or stamp in seen:
                continue
            seen.add(stamp)
            arrival_ms32 = (wall_now - round((mono_now - t_arr) * 1000)) & 0xFFFFFFFF
            rtt.append(((arrival_ms32 - stamp) & 0xFFFFFFFF) * 1.0)
        stats = [m for m in client.messages if m.get("type") == "stats"]
        frames = n1 - n0
        return {
            "fps_received": round(frames / (t1 - t0), 1),
            "fps_fresh": round(len(seen) / (t1 - t0), 1),
            "fps_sent": round((client.camera.count - sent0) / (t1 - t0), 1),
            "rtt_ms_median": pct(rtt, 0.5),
            "rtt_ms_p95": pct(rtt, 0.95),
            "server_cpu_ms_per_frame": round((cpu1 - cpu0) * 1000 / max(1, len(seen)), 1),
            "server_cpu_pct": round((cpu1 - cpu0) / (t1 - t0) * 100, 1),
            "server_stages_ms": stats[-1]["stages_ms"] if stats else {},
            "server_fps_in": stats[-1]["fps_in"] if stats else None,
            "server_fps_out": stats[-1]["fps_out"] if stats else None,
            "server_proc_ms": stats[-1].get("latency_ms") if stats else None,
            "size": sorted(rec.sizes)[-1] if rec.sizes else None,
        }
    finally:
        await client.close()


CHROMIUM_CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("Chromium: echo", {"pipeline": "echo", "layout": "mirror", "stamp": True}),
    ("Chromium: preview mirror 640x480", {"pipeline": "preview", "layout": "mirror", "stamp": True}),
]


async def _measure_chromium(url: str, pid: int, options: dict[str, Any], warm_s: float, secs: float) -> dict:
    """Headless Chromium sends a 640x480 canvas stamped with Date.now(); the /_test/ page reads the stamp back
    from each returned frame in requestVideoFrameCallback (so the figure includes browser decode and display)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await launch_chromium(p, CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{url}/_test/")
            await page.evaluate(f"fm.startCanvas({json.dumps(options)})")
            await page.wait_for_function("fm.fresh > 5", timeout=30_000)
            await asyncio.sleep(warm_s)
            m = await measure_page(page, pid, secs)
        finally:
            await browser.close()
    m["server_stages_ms"] = m.pop("stats").get("stages_ms", {})
    return m


async def _run(quick: bool, port: int, pid: int) -> dict[str, Any]:
    enable_loopback_ice(True)
    url = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {"input": "640x480 @ 30 fps synthetic, VP8 both ways", "configs": {}}
    results["server_ready_s"] = round(await wait_ready(url, 600), 1)  # also waits out a refused connection
    results["load_avg_before"] = load_avg()
    for name, options in CONFIGS:
        warm = 1.5 if quick else 3
        if options["pipeline"] == "avatar":
            warm += 2  # MediaPipe + anny + EGL start on the session's worker
        results["configs"][name] = await _measure(url, pid, options, warm, 4 if quick else 10)
    if Path(CHROMIUM).exists():  # noqa: ASYNC240 - one stat
        for name, options in CHROMIUM_CONFIGS:
            try:
                results["configs"][name] = await _measure_chromium(
                    url, pid, options, 1.5 if quick else 3, 4 if quick else 10
                )
            except Exception as e:  # report, do not hide: the python-client rows still stand
                results["configs"][name] = {"error": f"{type(e).__name__}: {e}"[:300]}
    results["load_avg_after"] = load_avg()
    return results


def _python_beside(render: Any, seconds: float) -> tuple[float, float]:
    """(pure-Python iterations per ms another thread completes, median ms per call) while `render` runs in a loop."""
    import threading

    count, stop = 0, threading.Event()

    def spin() -> None:
        nonlocal count
        while not stop.is_set():
            for _ in range(200):
                count += 1

    t = threading.Thread(target=spin, daemon=True)
    ts = []
    t0 = time.perf_counter()
    t.start()
    while time.perf_counter() - t0 < seconds:
        t1 = time.perf_counter()
        render()
        ts.append((time.perf_counter() - t1) * 1e3)
    stop.set()
    t.join()
    return count / ((time.perf_counter() - t0) * 1000), statistics.median(ts)


def render_beside_python(quick: bool) -> dict[str, Any]:
    """The avatar render stage (3 views of 384 px: anny body + two garments) on a thread of this process and in a
    render process (`render.process`), each alone and beside a thread running pure Python (the share of
    the GIL that the session's tracking and pose thread and the event loop get). moderngl holds the GIL in every
    GL call, so the in-thread render blocks that thread and then waits for the GIL at each Python line."""
    from fitmirror.frame import FrameContext, FrameIn, RenderState
    from render.demo_scene import anny_scene
    from render.process import RemoteRenderStage, _Posed
    from render.stage import RenderStage

    scene, _, _ = anny_scene()
    body, garments = scene.meshes[0], scene.meshes[1:]
    posed = _Posed(body.vertices, body.faces, None)
    state = RenderState(views=("front", "left", "back"), layout="mosaic", view_size=(384, 384))

    def frame(stage: Any) -> None:
        ctx = FrameContext(frame=FrameIn(None, 0, 0.0), state=state, posed=posed, garments=garments)  # type: ignore[arg-type]
        stage.process(ctx)

    stages = {"thread": RenderStage(), "process": RemoteRenderStage()}
    samples: dict[str, list[tuple[float, float]]] = {"idle": []}
    alone: dict[str, list[float]] = {k: [] for k in stages}
    try:
        for st in stages.values():
            for _ in range(3):
                frame(st)
        for _ in range(2 if quick else 4):
            samples["idle"].append(_python_beside(lambda: time.sleep(0.001), 0.5))
            for k, st in stages.items():
                alone[k].append(time_calls(lambda st=st: frame(st), 5, warmup=0)["median_ms"])
                samples.setdefault(k, []).append(_python_beside(lambda st=st: frame(st), 0.5))
    finally:
        for st in stages.values():
            st.close()
    idle_rate = statistics.median(x[0] for x in samples["idle"])
    return {
        k: {
            "render_ms_alone": round(statistics.median(alone[k]), 1),
            "render_ms_beside_python": round(statistics.median(x[1] for x in samples[k]), 1),
            "python_speed_share": round(statistics.median(x[0] for x in samples[k]) / idle_rate, 2),
        }
        for k in stages
    }


def run(quick: bool) -> dict[str, Any]:
    beside = render_beside_python(quick)
    port = free_port()
    proc = start_server(port)
    try:
        results = asyncio.run(_run(quick, port, proc.pid))
    finally:
        stop_server(proc)
    rows = [
        "| pipeline | received fps (fresh) | round trip median / p95 ms | server CPU ms per fresh frame | server CPU % | stages ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["configs"].items():
        if "error" in r:
            rows.append(f"| {name} | not available: {r['error'][:120]} | | | | |")
            continue
        stages = ", ".join(f"{k} {v}" for k, v in r["server_stages_ms"].items())
        rows.append(
            f"| {name} | {r['fps_received']} ({r['fps_fresh']}) | {r['rtt_ms_median']} / {r['rtt_ms_p95']} | "
            f"{r['server_cpu_ms_per_frame']} | {r['server_cpu_pct']} | {stages} |"
        )
    rows += [
        "",
        "| avatar render stage, 3 views 384x384 | render ms alone | render ms beside a pure-Python thread | "
        "that thread's speed (share of idle) |",
        "|---|---|---|---|",
    ]
    for k, label in (("thread", "on a server thread"), ("process", "in a render process (default)")):
        b = beside[k]
        rows.append(
            f"| {label} | {b['render_ms_alone']} | {b['render_ms_beside_python']} | {b['python_speed_share']} |"
        )
    results["render_beside_python"] = beside
    rows.append("")
    rows.append(
        "Render rows: moderngl holds the GIL in every GL call, so a render on a server thread stalls the threads that "
        "run Python (tracking, pose, the event loop), and each of its own Python lines waits for the GIL in turn."
    )
    rows.append("")
    rows.append(
        f"Python aiortc client in the bench process (rows without 'Chromium'), or headless Chromium with a canvas "
        f"webcam read back in requestVideoFrameCallback; server in its own process, measured once /readyz said "
        f"ready ({results.get('server_ready_s')} s after start); load average before "
        f"{results['load_avg_before'][0]:.1f}, after {results['load_avg_after'][0]:.1f} (2 cores). Round trip = "
        "stamp drawn into the input frame -> frame decoded by the client. Goal (idle machine, browser client): echo "
        "at 30 fps and < 60 ms median."
    )
    return {"title": "Streaming server (WebRTC round trip, 640x480)", "results": results, "markdown": "\n".join(rows)}


if __name__ == "__main__":
    raise SystemExit(cli(run))
