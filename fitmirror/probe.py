"""Probes: open a native component for real (load the model, run it once on real input, check the output) in a
process of its own, so a crash is a report instead of the end of the caller. `fitmirror doctor` and the set-up
run them with `run_probe`; each stage keeps its own probes (`nlu.probe`, `avatar.probe`, `render.probe`, the
encoders here) and exposes them through `probe_main`.

The child prints one JSON line `{"ok": bool, "detail": str, ...}` and exits 0 (ok) or 1 (a clear failure); a
signal or a hang is read by the parent as a crash or a hang of that component.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fitmirror.errors import FitmirrorError

FAULT_ENV = "FITMIRROR_PROBE_FAULT"  # tests: "<probe>:segv" or "<probe>:hang" simulates a broken component


class ProbeFailed(FitmirrorError):
    code = "probe_failed"


@dataclass
class ProbeResult:
    name: str
    status: str  # ok | failed | crashed | hung | unavailable
    detail: str
    seconds: float
    data: dict[str, Any]
    returncode: int | None = None


Probe = Callable[[], dict[str, Any]]  # returns {"detail": str, ...}; raises ProbeFailed (or anything) to fail


def probe_main(probes: dict[str, Probe], argv: list[str]) -> int:
    """`python -m <stage>.probe NAME`: run one probe, print its JSON line, exit 0/1."""
    if len(argv) != 1 or argv[0] not in probes:
        print(f"usage: python -m <stage>.probe {{{'|'.join(probes)}}}", file=sys.stderr)
        return 2
    name = argv[0]
    fault = os.environ.get(FAULT_ENV, "")
    if fault == f"{name}:segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == f"{name}:hang":
        time.sleep(3600)
    try:
        out = probes[name]()
        ok = True
    except FitmirrorError as e:
        out, ok = {"detail": e.message + (f" ({e.hint})" if e.hint else "")}, False
    except Exception as e:
        out, ok = {"detail": f"{type(e).__name__}: {e}"}, False
    print(json.dumps({"ok": ok, **out}, default=str), flush=True)
    return 0 if ok else 1


def run_probe(module: str, name: str, timeout_s: float = 180.0, env: dict[str, str] | None = None) -> ProbeResult:
    """Run `python -m module name` and read what happened: ok, failed (with the probe's reason), crashed (the
    signal) or hung (no answer within timeout_s)."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(
            [sys.executable, "-m", module, name],
            capture_output=True, text=True, timeout=timeout_s, env={**os.environ, **(env or {})},
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return ProbeResult(name, "hung", f"no answer within {timeout_s:.0f} s", time.monotonic() - t0, {})
    secs = time.monotonic() - t0
    if p.returncode < 0:
        try:
            sig = f"signal {-p.returncode}, {signal.Signals(-p.returncode).name}"
        except ValueError:
            sig = f"signal {-p.returncode}"
        return ProbeResult(name, "crashed", f"crashed ({sig})", secs, {}, p.returncode)
    line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith("{")), "")
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
        return ProbeResult(name, "failed", f"exited with status {p.returncode}: {tail[0][:300]}", secs, {},
                           p.returncode)  # fmt: skip
    detail = str(data.pop("detail", ""))
    status = "ok" if data.pop("ok", False) and p.returncode == 0 else str(data.pop("status", "failed"))
    if data.get("unavailable"):
        status = "unavailable"
    return ProbeResult(name, status, detail, secs, data, p.returncode)


# --- the encoders (PyAV), which the server's video path uses ----------------------------------------------


def _encode(codec: str, n: int = 8) -> float:
    import av
    import numpy as np

    t0 = time.perf_counter()
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = 320, 240, "yuv420p"
    ctx.time_base = __import__("fractions").Fraction(1, 30)
    ctx.framerate = 30
    packets = 0
    for i in range(n):
        img = np.full((240, 320, 3), (i * 20) % 255, np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += len(ctx.encode(frame))
    packets += len(ctx.encode(None))
    if packets == 0:
        raise ProbeFailed(f"{codec} produced no packets for {n} frames")
    return (time.perf_counter() - t0) * 1000


def probe_encoders() -> dict[str, Any]:
    """Encode a few frames with each encoder the server uses (H.264, VP8); NVENC when the machine has one."""
    ms = {c: round(_encode(c), 1) for c in ("libx264", "libvpx")}
    from fitmirror.video import nvenc_available

    ok, why = nvenc_available()
    nv = f"h264_nvenc ok ({round(_encode('h264_nvenc'), 1)} ms)" if ok else f"h264_nvenc n/a ({why})"
    return {"detail": f"libx264 {ms['libx264']} ms, libvpx {ms['libvpx']} ms for 8 frames; {nv}", "ms": ms}


if __name__ == "__main__":
    sys.exit(probe_main({"encoders": probe_encoders}, sys.argv[1:]))
