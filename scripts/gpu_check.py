"""GPU check and capacity estimate: every CUDA / EGL / NVENC path of fitmirror, timed next to its CPU path on the
same machine, then sessions per GPU derived from the measured per-session costs.

    python scripts/gpu_check.py                       # everything this machine can run; writes JSON + Markdown
    python scripts/gpu_check.py --quick --out /tmp/g  # fewer repetitions, no concurrent-session run (CPU test)

Rows that cannot run here (no CUDA, no NVENC, no MediaPipe, ...) are kept with `status: "skipped"` and the reason;
a row that raises is kept with `status: "error"` and the exception, and the script goes on. Output: `results.json`
and `RESULTS.md` in `--out` (default bench/out/gpu). The committed bench/gpu/RESULTS.md is the H100 run."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import traceback
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FPS = 15  # fresh frames per second per session that capacity is planned for (output_fps is only a cap)
WEBRTC_CPU_MS = 10.0  # asyncio + RTP/SRTP per frame at 15 fps (~0.15 core, bench/RESULTS.md echo pipeline)
PHOTO_NAMES = ("tryon-photos/persons/ootd__model_4.png",)


# --- helpers ------------------------------------------------------------------------------------------------
def _ms(xs: list[float]) -> float:
    return round(statistics.median(xs), 2) if xs else float("nan")


def timed(fn, reps: int, warmup: int = 2) -> dict:
    """Median wall ms, median process-CPU ms (all threads) and median calling-thread CPU ms of `fn()`."""
    for _ in range(warmup):
        fn()
    wall, cpu, th = [], [], []
    for _ in range(reps):
        c0, t0, h0 = time.process_time(), time.perf_counter(), time.thread_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        th.append((time.thread_time() - h0) * 1e3)
    return {"median_ms": _ms(wall), "p90_ms": round(float(np.percentile(wall, 90)), 2), "cpu_ms": _ms(cpu),
            "thread_cpu_ms": _ms(th), "reps": reps}  # fmt: skip


def skipped(reason: str) -> dict:
    return {"status": "skipped", "reason": reason}


def run_row(results: dict, key: str, fn, *args, **kw) -> dict:
    t0 = time.perf_counter()
    try:
        row = fn(*args, **kw)
        row.setdefault("status", "ok")
    except Exception as e:
        row = {"status": "error", "reason": f"{type(e).__name__}: {str(e)[:400]}", "traceback": traceback.format_exc()}
    row["wall_s"] = round(time.perf_counter() - t0, 1)
    results[key] = row
    print(f"[gpu_check] {key}: {row.get('status')} {row.get('reason', '')} ({row['wall_s']} s)", flush=True)
    if _SAVE:
        _SAVE[0](results)
    return row


_SAVE: list = []  # main() puts a checkpoint writer here: a run cut short by a time limit keeps its rows


def cuda_ok() -> tuple[bool, str]:
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    if not torch.cuda.is_available():
        return False, "torch sees no CUDA device"
    return True, "ok"


def use_device(dev: str) -> None:
    """Point fitmirror's settings (FITMIRROR_DEVICE) at `dev` for everything built after this call."""
    from fitmirror.config import get_settings

    os.environ["FITMIRROR_DEVICE"] = dev
    get_settings.cache_clear()


def find_photo(arg: str | None) -> Path | None:
    from fitmirror.config import SHARED_DATA

    cands = [Path(arg)] if arg else []
    cands += [SHARED_DATA / n for n in PHOTO_NAMES] + [ROOT / ".whl" / "data" / "person.png"]
    return next((p for p in cands if p.exists()), None)


def webcam_frame(photo: Path | None) -> np.ndarray:
    """The avatar benchmark's 640x480 webcam frame (a person photo on a flat background), or a grey frame."""
    canvas = np.full((480, 640, 3), 128, np.uint8)
    if photo is None:
        return canvas
    import cv2

    from avatar.tracking import load_image

    rgb = load_image(photo)
    frame = np.ascontiguousarray(cv2.resize(rgb, (360, 480)))
    canvas[:] = frame[:, :1].mean(0).astype(np.uint8)
    canvas[:, 140:500] = frame
    return canvas


def fixture_tracking(image_size=(640, 480)):
    """A stored MediaPipe result of the benchmark frame (bench/gpu/tracking_fixture.json) for machines without
    MediaPipe: the pose solver then still runs on real landmarks."""
    from avatar.types import Tracking

    d = json.loads((ROOT / "bench" / "gpu" / "tracking_fixture.json").read_text())
    return Tracking(
        present=True,
        confidence=float(d["confidence"]),
        landmarks_px=np.asarray(d["landmarks_px"], np.float32),
        landmarks_world=np.asarray(d["landmarks_world"], np.float32),
        visibility=np.asarray(d["visibility"], np.float32),
        mask=None,
        image_size=tuple(image_size),
    )


def have_mediapipe() -> tuple[bool, str]:
    try:
        import mediapipe  # noqa: F401
    except Exception as e:
        return False, f"mediapipe not importable ({type(e).__name__}: {str(e)[:120]})"
    return True, "ok"


# --- machine ------------------------------------------------------------------------------------------------
def machine() -> dict:
    out: dict = {"python": platform.python_version(), "platform": platform.platform()}
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
        out["memory_gb"] = round(int(mem.split()[1]) / 2**20, 1)
    except Exception:  # pragma: no cover - not Linux
        pass
    out["cpu_model"] = cpu or platform.processor()
    out["cpu_count"] = os.cpu_count()
    out["cpu_affinity"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    import torch

    out["torch"] = torch.__version__
    out["torch_cuda"] = torch.version.cuda
    out["cuda_available"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        out["gpu"] = p.name
        out["gpu_memory_gb"] = round(p.total_memory / 2**30, 1)
        out["gpu_sm_count"] = p.multi_processor_count
        out["gpu_capability"] = f"{p.major}.{p.minor}"
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        out["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()[:200]
    except (OSError, subprocess.SubprocessError) as e:
        out["nvidia_smi"] = f"unavailable ({type(e).__name__})"
    for mod in ("anny", "warp", "moderngl", "av", "aiortc", "mediapipe"):
        try:
            m = __import__(mod)
            out[f"{mod}_version"] = getattr(m, "__version__", getattr(m, "version", "?"))
        except Exception as e:
            out[f"{mod}_version"] = f"missing ({type(e).__name__})"
    from fitmirror.config import get_settings, torch_device

    for dev in ("auto", "cuda", "cpu"):
        os.environ["FITMIRROR_DEVICE"] = dev
        get_settings.cache_clear()
        out[f"torch_device_{dev}"] = torch_device()
    os.environ.pop("FITMIRROR_DEVICE", None)
    get_settings.cache_clear()
    return out


# --- body model, pose, shape, drape -------------------------------------------------------------------------
def body_rows(dev: str, tracking, reps: int, drape: bool) -> dict:
    import torch

    from avatar.body import BodyModel
    from avatar.pose import PoseSolver
    from avatar.types import BodyShape

    use_device(dev)
    t0 = time.perf_counter()
    bm = BodyModel()
    out: dict = {"device": bm.device, "model_load_s": round(time.perf_counter() - t0, 2)}
    rng = np.random.default_rng(0)
    keys = ("gender", "age", "muscle", "weight", "height", "proportions")

    def ph() -> dict:
        return {k: float(rng.uniform(0.3, 0.7)) for k in keys}

    def forward():  # anny's own forward: blend shapes + skeleton + its (warp) skinning, one body
        with torch.no_grad():
            o = bm.model(phenotype_kwargs={k: torch.tensor([v], device=bm.device) for k, v in ph().items()})
            return o["vertices"].cpu()

    out["anny_forward"] = timed(forward, reps)
    out["anny_rest_mesh"] = timed(lambda: bm.rest_batch([ph()]), reps)
    solver = PoseSolver(BodyShape({"gender": 1.0, "age": 0.72}), body=bm)
    base = tracking.landmarks_px.copy()
    world = tracking.landmarks_world.copy()
    k = [0]

    def solve():
        k[0] += 1
        tracking.landmarks_px = base + rng.normal(0, 1.5, base.shape).astype(np.float32)
        tracking.landmarks_world = world + rng.normal(0, 0.004, world.shape).astype(np.float32)
        tracking.timestamp_ms = k[0] * 66.7
        r = solver.solve(tracking)
        assert r is not None, "pose solver returned None"

    out["pose_solve"] = timed(solve, reps * 2, warmup=4)
    tracking.landmarks_px, tracking.landmarks_world = base, world
    from avatar.shape import shape_from_measurements

    for name, kw in (("typed_height_weight", {"weight_kg": 68.0}), ("typed_hwc", {"weight_kg": 68.0, "chest_cm": 96})):
        t0 = time.perf_counter()
        try:
            shape_from_measurements(172.0, body=bm, **kw)
            out[f"shape_{name}_s"] = round(time.perf_counter() - t0, 2)
        except Exception as e:  # e.g. no ANSUR II data here: the other rows still count
            out[f"shape_{name}_s"] = f"error: {type(e).__name__}: {str(e)[:200]}"
    if drape:
        try:
            out["drape"] = drape_row(bm, dev)
        except Exception as e:
            out["drape"] = {"status": "error", "reason": f"{type(e).__name__}: {str(e)[:300]}"}
    if dev == "cuda":
        out["cuda_max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def outfit_items():
    from fitmirror.demo_catalog import demo_product

    return [(demo_product("tee-classic"), "M", "white"), (demo_product("jeans-straight"), "M", "blue")]


def drape_row(bm, dev: str) -> dict:
    from avatar.garments import Dresser
    from avatar.types import BodyShape

    rest = bm.rest(BodyShape({"gender": 1.0, "age": 0.72}))
    t0 = time.perf_counter()
    d = Dresser(rest.vertices, bm.faces, device=dev)
    out: dict = {"dresser_build_s": round(time.perf_counter() - t0, 2)}
    for label, sub in (("cold_24_substeps", 24), ("warm_24_substeps", 24), ("warm_2_substeps", 2)):
        t0, c0 = time.perf_counter(), time.process_time()
        dressed = d.dress(outfit_items(), drape_substeps=sub)
        out[f"{label}_s"] = round(time.perf_counter() - t0, 2)
        out[f"{label}_cpu_s"] = round(time.process_time() - c0, 2)
    out["garment_vertices"] = int(sum(len(m.vertices) for m in dressed.meshes))
    return out


# --- render -------------------------------------------------------------------------------------------------
def render_rows(reps: int, egl_device: int | None = None) -> dict:
    from avatar.body import BodyModel
    from avatar.types import BodyShape
    from render.cameras import PinholeCamera
    from render.demo_scene import stand_in_garments
    from render.renderer import Renderer
    from render.scene import Mesh, Scene

    use_device("cpu")
    bm = BodyModel()
    v = bm.rest(BodyShape({"gender": 1.0, "age": 0.72})).vertices.copy()
    v[:, 1] -= v[:, 1].min()
    f = bm.faces
    scene = Scene([Mesh("body", v, f, base_color=(0.87, 0.72, 0.62), double_sided=False), *stand_in_garments(v, f)])
    r = Renderer(egl_device=egl_device)
    out: dict = {"renderer": r.renderer_string, "triangles": int(sum(len(m.faces) for m in scene.meshes))}
    rng = np.random.default_rng(0)
    base = [m.vertices for m in scene.meshes]

    def jiggle():  # a new pose every frame: full vertex re-upload as a posed avatar does
        d = rng.normal(0, 0.002, 3).astype(np.float32)
        for m, b in zip(scene.meshes, base, strict=True):
            m.vertices = b + d

    def mosaic():
        jiggle()
        return r.render_views(scene, ["front", "left", "back"], "mosaic", 384)

    def stereo():
        jiggle()
        return r.render_views(scene, ["front"], "stereo", 384)

    cam = PinholeCamera.from_fov(640, 480, 60)
    ar = Scene([
        Mesh(m.name, m.vertices - np.float32([0, 0.95, 2.4]), m.faces, colors=m.colors, visible=m.name != "body",
             double_sided=m.double_sided)
        for m in scene.meshes
    ])  # fmt: skip
    webcam = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    mask = np.zeros((480, 640), np.float32)
    mask[40:470, 220:420] = 1.0
    out["mosaic_3x384"] = timed(mosaic, reps, warmup=3)
    out["mosaic_3x384"]["shape"] = list(mosaic().image.shape)
    out["stereo_2x384"] = timed(stereo, reps, warmup=3)
    out["mirror_640x480"] = timed(lambda: r.composite_ar(webcam, ar, cam, person_mask=mask), reps, warmup=3)
    out["_mosaic_image"] = mosaic().image  # for the encoders (dropped before writing JSON)
    r.close()
    return out


def egl_devices() -> list[str]:
    """The EGL devices' renderer strings, one context each (to find llvmpipe next to the NVIDIA driver)."""
    import moderngl

    names = []
    for i in range(8):
        try:
            ctx = moderngl.create_standalone_context(backend="egl", device_index=i)
        except Exception:
            break
        names.append(ctx.info["GL_RENDERER"])
        ctx.release()
    return names


def nvdiffrast_row(reps: int) -> dict:
    """render/backends.py's nvdiffrast backend (visibility pass, CUDA) next to the moderngl one: build time of
    its JIT plugin, ms per 384x384 triangle-id pass, and the share of pixels on which both agree."""
    from avatar.body import BodyModel
    from avatar.types import BodyShape
    from render.backends import ModernglRasterizer, NvdiffrastRasterizer
    from render.cameras import CameraRig

    use_device("cpu")
    bm = BodyModel()
    v = bm.rest(BodyShape({"gender": 1.0, "age": 0.72})).vertices.copy()
    v[:, 1] -= v[:, 1].min()
    cam = CameraRig().camera("front", 384)
    t0 = time.perf_counter()
    nd = NvdiffrastRasterizer()
    ids_nd = nd.triangle_ids(v, bm.faces, cam)
    out: dict = {"renderer": nd.renderer_string, "first_call_s_incl_jit_build": round(time.perf_counter() - t0, 1)}
    mg = ModernglRasterizer()
    ids_mg = mg.triangle_ids(v, bm.faces, cam)
    cover = (ids_nd >= 0) | (ids_mg >= 0)
    out["same_triangle_pct"] = round(100.0 * float(((ids_nd == ids_mg) & cover).sum() / max(1, cover.sum())), 2)
    out["nvdiffrast_384"] = timed(lambda: nd.triangle_ids(v, bm.faces, cam), reps)
    out["moderngl_384"] = timed(lambda: mg.triangle_ids(v, bm.faces, cam), reps)
    return out


# --- encode -------------------------------------------------------------------------------------------------
def encode_rows(image: np.ndarray, frames: int) -> dict:
    import av

    from fitmirror.video import nvenc_available

    h, w = image.shape[:2]
    rng = np.random.default_rng(1)
    out: dict = {"frame": f"{w}x{h}", "nvenc_probe": list(nvenc_available())}
    try:
        from aiortc.codecs import h264 as aiortc_h264
        from aiortc.codecs.vpx import Vp8Encoder

        from server.aiortc_patches import configure_h264, restore_all

        have_aiortc = True
    except Exception as e:
        have_aiortc = False
        out["aiortc"] = f"not importable ({type(e).__name__}: {str(e)[:120]}): PyAV encoders used directly"

    def frames_iter():
        for i in range(frames):
            img = image.copy()
            img[: h // 8, (i * 17) % (w - 64) : (i * 17) % (w - 64) + 64] = rng.integers(0, 255, 3)  # motion
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts, vf.time_base = i * 6000, Fraction(1, 90000)
            yield vf

    def measure(encode) -> dict:
        wall, cpu, size = [], [], 0
        for i, vf in enumerate(frames_iter()):
            c0, t0 = time.process_time(), time.perf_counter()
            n = encode(vf)
            if i >= 3:
                wall.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
                size += n
        return {"median_ms": _ms(wall), "p90_ms": round(float(np.percentile(wall, 90)), 2), "cpu_ms": _ms(cpu),
                "kbit_per_frame": round(size * 8 / 1000 / max(1, len(wall)), 1), "frames": len(wall)}  # fmt: skip

    def pyav(name: str, opts: dict):
        ctx = av.CodecContext.create(name, "w")
        ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
        ctx.time_base, ctx.framerate, ctx.bit_rate = Fraction(1, FPS), Fraction(FPS, 1), 1_500_000
        ctx.options = opts
        ctx.open()

        def enc(vf):
            return sum(p.size for p in ctx.encode(vf.reformat(format="yuv420p")))

        return enc

    def aiortc_enc(enc):
        def f(vf):
            payloads, _ = enc.encode(vf)
            return sum(len(p) for p in payloads)

        return f

    nv_ok, nv_why = nvenc_available()
    cases = [
        ("libx264_ultrafast", "h264", False, {"preset": "ultrafast", "tune": "zerolatency"}, "libx264"),
        ("h264_nvenc", "h264", True, {"preset": "p1", "tune": "ull", "zerolatency": "1"}, "h264_nvenc"),
        ("vp8", "vp8", False, {"deadline": "realtime", "cpu-used": "8"}, "libvpx"),
    ]
    for key, kind, nv, opts, codec in cases:
        if nv and not nv_ok:
            out[key] = skipped(f"NVENC not usable: {nv_why}")
            continue
        try:
            if have_aiortc:
                if kind == "h264":
                    configure_h264("ultrafast", use_nvenc=nv)
                    fn = aiortc_enc(aiortc_h264.H264Encoder())
                else:
                    fn = aiortc_enc(Vp8Encoder())
                row = measure(fn)
                row["via"] = "aiortc encoder (server/aiortc_patches.py)"
                restore_all()
            else:
                row = measure(pyav(codec, opts))
                row["via"] = f"PyAV {codec}"
            row["status"] = "ok"
        except Exception as e:
            row = {"status": "error", "reason": f"{type(e).__name__}: {str(e)[:300]}"}
        out[key] = row
    out["nvenc_max_sessions"] = nvenc_sessions(w, h) if nv_ok else skipped(f"NVENC not usable: {nv_why}")
    return out


def nvenc_sessions(w: int, h: int, limit: int = 64) -> dict:
    """Open h264_nvenc encoders until the driver refuses one (consumer cards stop at a few, data-centre at none)."""
    import av

    ctxs, why = [], "reached the probe limit"
    img = av.VideoFrame.from_ndarray(np.zeros((h, w, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
    for _ in range(limit):
        try:
            c = av.CodecContext.create("h264_nvenc", "w")
            c.width, c.height, c.pix_fmt, c.time_base = w, h, "yuv420p", Fraction(1, FPS)
            c.open()
            c.encode(img)
            ctxs.append(c)
        except Exception as e:
            why = f"{type(e).__name__}: {str(e)[:120]}"
            break
    return {"status": "ok", "sessions": len(ctxs), "stopped_by": why}


# --- tracking -----------------------------------------------------------------------------------------------
def tracking_rows(frame: np.ndarray, reps: int) -> dict:
    from avatar.tracking import Tracker

    out: dict = {}
    with Tracker(video=True, segmentation=False) as t:
        i = [0]

        def one():
            i[0] += 1
            return t.track(frame, timestamp_ms=i[0] * 66.7)

        out["pose_only"] = timed(one, reps, warmup=4)
        tr = one()
    with Tracker(video=True, segmentation=True) as t:
        out["pose_and_segmentation"] = timed(one, reps, warmup=4)
    out["present"] = bool(tr.present)
    out["_tracking"] = tr
    return out


# --- concurrent sessions ------------------------------------------------------------------------------------
class GpuSampler:
    """nvidia-smi utilisation and memory every 0.5 s in the background (max and mean)."""

    def __init__(self) -> None:
        self.util: list[float] = []
        self.mem: list[float] = []
        self.enc: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        q = "--query-gpu=utilization.gpu,memory.used,utilization.encoder"
        while not self._stop.is_set():
            try:
                r = subprocess.run(["nvidia-smi", q, "--format=csv,noheader,nounits"], capture_output=True, text=True)
                u, m, e = (float(x) if x.strip().replace(".", "").isdigit() else 0.0 for x in r.stdout.split(","))
                self.util.append(u)
                self.mem.append(m)
                self.enc.append(e)
            except Exception:
                return
            self._stop.wait(0.5)

    def __enter__(self) -> GpuSampler:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join(timeout=5)

    def summary(self) -> dict:
        if not self.util:
            return {}
        return {"gpu_util_mean_pct": round(float(np.mean(self.util)), 1), "gpu_util_max_pct": max(self.util),
                "gpu_mem_used_max_mb": max(self.mem), "enc_util_max_pct": max(self.enc)}  # fmt: skip


def sessions_row(n: int, seconds: float, frame: np.ndarray, codec: str, pace_fps: float = 0.0) -> dict:
    """`n` avatar sessions in this process, as the server runs them (server.pipeline avatar pipelines: tracking,
    pose, garments with the demo outfit, render on each pipeline's render thread), each encoding its output
    mosaic (3 views, 384 px) with `codec`, every session as fast as it can (or at most `pace_fps`, as the server
    paces its output); no WebRTC transport."""
    import av

    from fitmirror.catalog import CatalogIndex
    from fitmirror.demo_catalog import demo_products
    from fitmirror.frame import FrameIn, RenderState
    from server.pipeline import build_pipeline

    state = RenderState(
        catalog=CatalogIndex(list(demo_products())),  # the demo catalogue without the catalogue database
        views=("front", "left", "back"),
        layout="mosaic",
        view_size=(384, 384),
        outfit=({"product_id": "tee-classic", "color": "white"}, {"product_id": "jeans-straight", "color": "blue"}),
    )
    t0 = time.perf_counter()
    pipes = [build_pipeline("avatar") for _ in range(n)]
    build_s = time.perf_counter() - t0
    counts = [0] * n
    stage_ms: list[dict] = [{} for _ in range(n)]
    stop = threading.Event()
    measuring = threading.Event()
    errors: list[str] = []

    def encoder():
        c = av.CodecContext.create(codec, "w")
        c.width, c.height, c.pix_fmt = 1152, 384, "yuv420p"
        c.time_base, c.bit_rate = Fraction(1, FPS), 1_500_000
        if codec == "libx264":
            c.options = {"preset": "ultrafast", "tune": "zerolatency"}
        elif codec == "libvpx":
            c.options = {"deadline": "realtime", "cpu-used": "8"}
        c.open()
        return c

    def worker(k: int) -> None:
        try:
            enc = encoder()
            seq = 0
            t_next = time.perf_counter()
            while not stop.is_set():
                if pace_fps:
                    t_next = max(t_next + 1.0 / pace_fps, time.perf_counter() - 1.0 / pace_fps)
                    stop.wait(max(0.0, t_next - time.perf_counter()))
                seq += 1
                r = pipes[k].process(FrameIn(frame, seq, time.monotonic()), state)
                if r.outputs:
                    img = r.outputs[0]
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                    if vf.width != 1152 or vf.height != 384:
                        vf = vf.reformat(width=1152, height=384)
                    vf.pts = seq
                    enc.encode(vf.reformat(format="yuv420p"))
                    if measuring.is_set():
                        counts[k] += 1
                        for s, v in r.timings_ms.items():
                            stage_ms[k].setdefault(s, []).append(v)
        except Exception as e:
            errors.append(f"{type(e).__name__}: {str(e)[:200]}")

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    time.sleep(min(20.0, 4.0 + 1.0 * n))  # warm-up: models, GL contexts, the first drape of the outfit
    with GpuSampler() as gs:
        measuring.set()
        c0, t0 = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        measuring.clear()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stop.set()
    for t in threads:
        t.join(timeout=30)
    for p in pipes:
        try:
            p.shutdown()
        except Exception:
            pass
    fps = [c / wall for c in counts]
    stages: dict = {}
    for sm in stage_ms:
        for s, v in sm.items():
            stages.setdefault(s, []).extend(v)
    out = {
        "sessions": n,
        "codec": codec,
        "paced_fps": pace_fps or None,
        "pipelines_build_s": round(build_s, 1),
        "seconds": round(wall, 1),
        "fps_per_session_min": round(min(fps), 1),
        "fps_per_session_median": round(float(np.median(fps)), 1),
        "fps_total": round(sum(fps), 1),
        "process_cores_used": round(cpu / wall, 2),
        "stage_ms_median": {s: _ms(v) for s, v in stages.items()},
        "errors": errors[:5],
    }
    out.update(gs.summary())
    try:
        import torch

        if torch.cuda.is_available():
            out["torch_cuda_memory_reserved_mb"] = round(torch.cuda.memory_reserved() / 2**20, 1)
    except Exception:
        pass
    return out


def sessions_subprocess(
    n: int, seconds: float, codec: str, photo: Path | None, timeout: float, pace: float = 0
) -> dict:
    """One `sessions_row` in a fresh process (the GL contexts, threads and CUDA memory of a run don't carry over)."""
    cmd = [sys.executable, __file__, "--worker-sessions", str(n), "--seconds", str(seconds), "--codec", codec]
    cmd += ["--pace", str(pace)]
    if photo:
        cmd += ["--photo", str(photo)]
    env = os.environ.copy()
    env.pop("FITMIRROR_DEVICE", None)  # the server's default (auto: CUDA when present), not the last row's device
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"worker rc={r.returncode}: {(r.stderr or r.stdout)[-600:]}")


# --- capacity -----------------------------------------------------------------------------------------------
def capacity(res: dict) -> dict:
    """Sessions per GPU from the per-session costs measured above, each resource a bound of its own."""
    m = res.get("machine", {})
    cores = int(m.get("cpu_affinity") or os.cpu_count() or 1)
    gpu = res.get("body_cuda", {}).get("status") == "ok"
    body = res["body_cuda"] if gpu else res.get("body_cpu", {})
    tr = res.get("tracking", {})
    enc = res.get("encode", {})
    rnd = res.get("render", {})
    if rnd.get("status") != "ok":
        rnd = res.get("render_cpu", {})
    notes = []
    if tr.get("status") == "ok":
        track_cpu = tr["pose_only"]["cpu_ms"]
    else:
        track_cpu = 35.0
        notes.append("tracking CPU cost not measured on this machine: 35 ms/frame assumed (2-core build box)")
    pose_cpu = body.get("pose_solve", {}).get("cpu_ms", float("nan")) if body.get("status") == "ok" else float("nan")
    nv = enc.get("h264_nvenc", {})
    x264 = enc.get("libx264_ultrafast", {})
    vp8 = enc.get("vp8", {})
    if nv.get("status") == "ok":
        enc_cpu, enc_name = nv["cpu_ms"], "h264_nvenc"
    elif x264.get("status") == "ok":
        enc_cpu, enc_name = x264["cpu_ms"], "libx264 ultrafast (no NVENC)"
    else:
        enc_cpu, enc_name = 15.0, "assumed"
    vp8_cpu = vp8.get("cpu_ms") if vp8.get("status") == "ok" else None
    render_ms = rnd.get("mosaic_3x384", {}).get("median_ms") if rnd.get("status") == "ok" else None
    render_cpu = rnd.get("mosaic_3x384", {}).get("cpu_ms") if rnd.get("status") == "ok" else None
    gpu_render = bool(rnd.get("status") == "ok" and "llvmpipe" not in rnd.get("renderer", "llvmpipe").lower())
    cpu_ms = track_cpu + (pose_cpu if pose_cpu == pose_cpu else 10.0) + enc_cpu + WEBRTC_CPU_MS
    if gpu_render and render_cpu:
        cpu_ms += render_cpu  # the driver's CPU side of a GPU render (upload, readback)
    elif render_cpu:
        cpu_ms += render_cpu
    core_per_session = cpu_ms * FPS / 1000
    out: dict = {
        "fps": FPS,
        "cores": cores,
        "cpu_ms_per_frame": {
            "tracking": track_cpu,
            "pose": pose_cpu,
            f"encode ({enc_name})": enc_cpu,
            "render (CPU side)": render_cpu,
            "webrtc (assumed)": WEBRTC_CPU_MS,
            "total": round(cpu_ms, 1),
        },
        "cores_per_session": round(core_per_session, 2),
        "bound_cpu_sessions": int(cores / core_per_session),
        "bound_cpu_sessions_at_75pct": int(0.75 * cores / core_per_session),
    }
    if vp8_cpu is not None:
        vp8_total = cpu_ms - enc_cpu + vp8_cpu
        out["bound_cpu_sessions_vp8"] = int(cores / (vp8_total * FPS / 1000))
    meas = [r for r in res.get("sessions", {}).get("runs") or [] if r.get("fps_total") and not r.get("errors")]
    multi = [r for r in meas if r.get("processes", 1) > 1] or meas
    if multi:
        # measured: CPU time per frame of the whole pipeline + encode, all processes together (WebRTC added)
        busiest = max(multi, key=lambda r: r["fps_total"])
        ms = busiest["process_cores_used"] * 1000 / busiest["fps_total"] + WEBRTC_CPU_MS
        out["cpu_ms_per_frame_measured_in_sessions"] = round(ms, 1)
        out["bound_cpu_sessions_measured"] = int(cores / (ms * FPS / 1000))
    util = [r for r in meas if r.get("gpu_util_mean_pct")]
    if gpu and util:
        busiest = max(util, key=lambda r: r["fps_total"])
        gpu_ms = busiest["gpu_util_mean_pct"] / 100 * 1000 / busiest["fps_total"]
        out["gpu_ms_per_frame_from_utilisation"] = round(gpu_ms, 2)
        out["bound_gpu_time_sessions"] = int(1000 / (gpu_ms * FPS))
        notes.append(
            "GPU time: nvidia-smi utilisation (share of time any kernel runs) over the frames of the busiest run"
        )
    elif gpu and gpu_render and render_ms:
        out["gpu_ms_per_frame_upper_bound"] = round(render_ms, 2)
        out["bound_gpu_time_sessions"] = int(1000 / (render_ms * FPS))
        notes.append("GPU time bound: render wall time per frame taken as GPU-busy time (an upper bound)")
    if nv.get("status") == "ok":
        ns = enc.get("nvenc_max_sessions", {})
        out["bound_nvenc_sessions"] = ns.get("sessions")
    else:
        out["bound_nvenc_sessions"] = None
        notes.append(f"no NVENC: {nv.get('reason', 'not measured')}; H.264/VP8 encode is CPU work")
    mem_gb = m.get("gpu_memory_gb")
    own = [r for r in meas if r.get("processes", 1) > 1 and r.get("gpu_mem_used_max_mb")]
    if mem_gb and own:
        per = max(r["gpu_mem_used_max_mb"] / r["sessions"] for r in own)  # worst case: one process per session
        out["gpu_mem_mb_per_session"] = round(per)
        out["bound_gpu_memory_sessions"] = int(mem_gb * 1024 * 0.9 / per)
    single = [r for r in meas if r.get("processes", 1) == 1 and r["sessions"] > 1]
    if single:
        top = max(r["fps_total"] for r in single)
        out["one_process_max_fps"] = top
        out["sessions_per_process_at_15fps"] = int(top / FPS)
        notes.append("one server process tops out at one_process_max_fps (GIL + the body model's lock): run several")
    bounds = {k: v for k, v in out.items() if k.startswith("bound_") and isinstance(v, int) and "75" not in k}
    bounds.pop("bound_cpu_sessions_vp8", None)
    out["estimate_sessions_per_gpu"] = min(bounds.values()) if bounds else None
    out["limiting"] = min(bounds, key=bounds.get) if bounds else None
    if meas:
        ok = [r["sessions"] for r in meas if r.get("fps_per_session_min", 0) >= 0.9 * FPS]
        out["measured_max_sessions_at_15fps"] = max(ok) if ok else 0
        notes.append("measured_max_sessions_at_15fps: largest run whose slowest session kept >= 90 % of 15 fps")
    out["notes"] = notes
    return out


# --- report -------------------------------------------------------------------------------------------------
def _g(d: dict, *path, unit: str = "") -> str:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return "-"
        d = d[p]
    return f"{d}{unit}"


def _status(d: dict) -> str:
    if not isinstance(d, dict):
        return "-"
    return "" if d.get("status") == "ok" else f"{d.get('status')}: {d.get('reason', '')}"


def markdown(res: dict) -> str:
    m = res["machine"]
    gpu = m.get("gpu", "none")
    lines = [
        f"# fitmirror GPU check ({res['date']})",
        "",
        f"Machine: {gpu} ({m.get('nvidia_smi', '-')}), {m.get('cpu_model')} x {m.get('cpu_affinity')} cores, "
        f"{m.get('memory_gb')} GB; Python {m.get('python')}, torch {m.get('torch')} (CUDA {m.get('torch_cuda')}); "
        f"FITMIRROR_DEVICE=auto -> {m.get('torch_device_auto')}.",
        "",
        "| row | CUDA / GPU | CPU (same machine) | note |",
        "|---|---|---|---|",
    ]
    bc, bp = res.get("body_cuda", {}), res.get("body_cpu", {})
    for label, key, unit in (
        ("anny forward (one body, warp skinning), median", "anny_forward", " ms"),
        ("anny rest mesh (rest_batch, one body)", "anny_rest_mesh", " ms"),
        ("pose solve per frame (wall / process CPU)", "pose_solve", " ms"),
    ):
        lines.append(
            f"| {label} | {_g(bc, key, 'median_ms')} / {_g(bc, key, 'cpu_ms', unit=unit)} | "
            f"{_g(bp, key, 'median_ms')} / {_g(bp, key, 'cpu_ms', unit=unit)} | {_status(bc)} |"
        )
    for label, key in (("typed shape fit, height+weight", "shape_typed_height_weight_s"),
                       ("typed shape fit, height+weight+chest", "shape_typed_hwc_s")):  # fmt: skip
        lines.append(f"| {label} | {_g(bc, key, unit=' s')} | {_g(bp, key, unit=' s')} | |")
    for label, key in (("drape tee+jeans, 24 substeps, first (cold)", "cold_24_substeps_s"),
                       ("drape tee+jeans, 24 substeps, warm", "warm_24_substeps_s"),
                       ("drape tee+jeans, 2 substeps (quick pass)", "warm_2_substeps_s")):  # fmt: skip
        lines.append(f"| {label} | {_g(bc, 'drape', key, unit=' s')} | {_g(bp, 'drape', key, unit=' s')} | |")
    r, rc = res.get("render", {}), res.get("render_cpu", {})
    lines.append(f"| renderer | {_g(r, 'renderer')} | {_g(rc, 'renderer')} | {_status(r)} {_status(rc)} |")
    for label, key in (("render 3 views 384 mosaic", "mosaic_3x384"), ("render stereo 2x384", "stereo_2x384"),
                       ("render mirror/AR 640x480 + mask", "mirror_640x480")):  # fmt: skip
        lines.append(
            f"| {label} (wall / CPU) | {_g(r, key, 'median_ms')} / {_g(r, key, 'cpu_ms', unit=' ms')} | "
            f"{_g(rc, key, 'median_ms')} / {_g(rc, key, 'cpu_ms', unit=' ms')} | |"
        )
    nd = res.get("nvdiffrast", {})
    lines.append(
        f"| nvdiffrast visibility 384x384 (vs moderngl ids on the same GPU) | {_g(nd, 'nvdiffrast_384', 'median_ms')}"
        f" / {_g(nd, 'moderngl_384', 'median_ms', unit=' ms')}, {_g(nd, 'same_triangle_pct', unit=' % same')} | - | "
        f"{_status(nd)} |"
    )
    e = res.get("encode", {})
    for label, key in (("encode 1152x384 h264_nvenc", "h264_nvenc"), ("encode libx264 ultrafast", "libx264_ultrafast"),
                       ("encode VP8 (libvpx realtime)", "vp8")):  # fmt: skip
        d = e.get(key, {})
        if d.get("status") == "ok":
            cell = f"{d['median_ms']} ms wall, {d['cpu_ms']} ms CPU"
        else:
            cell = "-"
        lines.append(f"| {label} | {cell if key == 'h264_nvenc' else '-'} | {cell if key != 'h264_nvenc' else '-'} "
                     f"| {_status(d)} |")  # fmt: skip
    t = res.get("tracking", {})
    lines.append(
        f"| MediaPipe tracking 640x480, pose (wall / CPU) | - | {_g(t, 'pose_only', 'median_ms')} / "
        f"{_g(t, 'pose_only', 'cpu_ms', unit=' ms')} | {_status(t)} |"
    )
    lines.append(
        f"| same + person segmentation (mirror) | - | {_g(t, 'pose_and_segmentation', 'median_ms')} / "
        f"{_g(t, 'pose_and_segmentation', 'cpu_ms', unit=' ms')} | |"
    )
    s = res.get("sessions", {})
    if s.get("runs"):
        lines += ["", "Concurrent avatar sessions (tracking + pose + garments + render + encode, no WebRTC transport; "
                  "flat out, or paced at 15 fps as the server paces its output):", "",
                  "| sessions | processes | paced | fps/session (min / median) | fps total | cores used | GPU util "
                  "mean/max | GPU mem max |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for x in s["runs"]:
            lines.append(
                f"| {x.get('sessions')} | {x.get('processes', 1)} | {x.get('paced_fps') or 'no'} | "
                f"{x.get('fps_per_session_min')}"
                f" / {x.get('fps_per_session_median')} | {x.get('fps_total')} | {x.get('process_cores_used')} | "
                f"{x.get('gpu_util_mean_pct', '-')} / {x.get('gpu_util_max_pct', '-')} % | "
                f"{x.get('gpu_mem_used_max_mb', '-')} MB |"
            )
    elif s:
        lines += ["", f"Concurrent sessions: {_status(s)}"]
    c = res.get("capacity", {})
    if c:
        lines += ["", "Capacity per GPU (15 fps per session):", ""]
        for k, v in c.items():
            if k != "measured_runs":
                lines.append(f"- {k}: {v}")
    skipped_rows = [f"- {k}: {v.get('reason')}" for k, v in res.items() if isinstance(v, dict) and
                    v.get("status") in ("skipped", "error")]  # fmt: skip
    if skipped_rows:
        lines += ["", "Not measured:", "", *skipped_rows]
    return "\n".join(lines) + "\n"


def _clean(o):
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items() if not k.startswith("_")}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, float) and o != o:
        return None
    return o


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "gpu")
    ap.add_argument("--quick", action="store_true", help="few repetitions; no concurrent-session run")
    ap.add_argument("--photo", help="webcam-like person photo (default: ../shared/data's benchmark photo)")
    ap.add_argument("--sessions", default="1,4,8,12,16", help="concurrent-session counts to run (GPU only)")
    ap.add_argument("--procs", type=int, default=0, help="also run the largest session count split over N processes")
    ap.add_argument("--split", action="append", default=[], help="N:P = N sessions over P processes (repeatable)")
    ap.add_argument("--pace", type=float, default=0.0, help="sessions run at most this many fps (0 = flat out)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring time per concurrent-session run")
    ap.add_argument("--skip", default="", help="comma-separated rows to skip (body_cpu, drape, sessions, ...)")
    ap.add_argument("--nvdiffrast", action="store_true", help="also JIT-build and time the nvdiffrast backend")
    ap.add_argument("--worker-sessions", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--codec", default="", help=argparse.SUPPRESS)
    ap.add_argument("--merge", nargs="+", type=Path, help="results.json files: the first one's rows plus every "
                    "file's concurrent-session runs, capacity recomputed; writes --out")  # fmt: skip
    a = ap.parse_args(argv)
    if a.merge:
        return merge(a.merge, a.out)
    photo = find_photo(a.photo)
    if a.worker_sessions:
        row = sessions_row(a.worker_sessions, a.seconds, webcam_frame(photo), a.codec, a.pace)
        print(json.dumps(_clean(row)))
        return 0
    skip = set(filter(None, a.skip.split(",")))
    a.out.mkdir(parents=True, exist_ok=True)
    _SAVE[:] = [lambda r: (a.out / "results.json").write_text(json.dumps(_clean(r), indent=1) + "\n")]
    reps = 8 if a.quick else 40
    t_start = time.perf_counter()
    res: dict = {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), "quick": a.quick}
    run_row(res, "machine", machine)
    has_cuda, why_cuda = cuda_ok()
    frame = webcam_frame(photo)
    res["photo"] = str(photo) if photo else "none (grey frame: tracking finds nobody)"
    mp_ok, mp_why = have_mediapipe()
    tracking = None
    if mp_ok and photo is not None and "tracking" not in skip:
        row = run_row(res, "tracking", tracking_rows, frame, reps)
        tr = row.get("_tracking")
        tracking = tr if tr is not None and tr.present else None
    else:
        why = "--skip" if "tracking" in skip else "no person photo (--photo)"
        res["tracking"] = skipped(mp_why if not mp_ok else why)
    if tracking is None:
        tracking = fixture_tracking()
        res["pose_input"] = "stored MediaPipe landmarks (bench/gpu/tracking_fixture.json)"
    else:
        res["pose_input"] = "MediaPipe landmarks of the benchmark frame"
    drape = "drape" not in skip
    if has_cuda and "body_cuda" not in skip:
        run_row(res, "body_cuda", body_rows, "cuda", tracking, reps, drape)
    else:
        res["body_cuda"] = skipped(why_cuda if not has_cuda else "--skip")
    if "body_cpu" not in skip:
        run_row(res, "body_cpu", body_rows, "cpu", tracking, max(4, reps // 2), drape)
    else:
        res["body_cpu"] = skipped("--skip")
    # moderngl: the driver's default EGL device (NVIDIA when present), then llvmpipe if Mesa is there too
    rrow = run_row(res, "render", render_rows, reps) if "render" not in skip else skipped("--skip")
    res["render"] = rrow
    try:
        devs = egl_devices()
    except Exception as e:
        devs = [f"error: {e}"]
    res["egl_devices"] = devs
    sw = [i for i, d in enumerate(devs) if "llvmpipe" in d.lower()]
    if rrow.get("status") == "ok" and "llvmpipe" in rrow.get("renderer", "").lower():
        res["render_cpu"] = {k: v for k, v in rrow.items() if not k.startswith("_")}
        res["render"] = skipped(f"the default EGL device is {rrow['renderer']}: no GPU EGL driver here")
    elif sw:
        run_row(res, "render_cpu", render_rows, reps, sw[0])
    else:
        res["render_cpu"] = skipped("no llvmpipe EGL device here (Mesa not installed): see bench/RESULTS.md")
    image = rrow.get("_mosaic_image")
    if image is None:
        image = np.full((384, 1152, 3), 90, np.uint8)
    run_row(res, "encode", encode_rows, np.ascontiguousarray(image[..., :3]), 40 if a.quick else 150)
    if a.nvdiffrast and has_cuda:
        run_row(res, "nvdiffrast", nvdiffrast_row, reps)
    else:
        res["nvdiffrast"] = skipped("needs CUDA and --nvdiffrast (JIT build of the plugin)")
    if a.quick or "sessions" in skip:
        res["sessions"] = skipped("--quick" if a.quick else "--skip")
    elif not (has_cuda and mp_ok and photo is not None):
        res["sessions"] = skipped("needs CUDA, MediaPipe and a person photo")
    else:
        res["sessions"] = run_sessions(res, a, photo)
    res["capacity"] = capacity(res)
    res["total_s"] = round(time.perf_counter() - t_start, 1)
    clean = _clean(res)
    (a.out / "results.json").write_text(json.dumps(clean, indent=1) + "\n")
    md = markdown(clean)
    (a.out / "RESULTS.md").write_text(md)
    print(md)
    return 0


def split_run(n: int, procs: int, codec: str, photo: Path | None, seconds: float, pace: float = 0) -> dict:
    """`n` sessions spread over `procs` server-like processes at once (n // procs each)."""
    per = max(1, n // procs)
    outs: list = [None] * procs

    def go(i: int) -> None:
        try:
            outs[i] = sessions_subprocess(per, seconds, codec, photo, timeout=120 + 6 * per + seconds, pace=pace)
        except Exception as e:
            outs[i] = {"errors": [str(e)[-300:]]}

    with GpuSampler() as gs:
        ts = [threading.Thread(target=go, args=(i,)) for i in range(procs)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    ok = [o for o in outs if o and "fps_total" in o]
    r = {
        "sessions": per * procs,
        "processes": procs,
        "codec": codec,
        "paced_fps": pace or None,
        "fps_per_session_min": min((o["fps_per_session_min"] for o in ok), default=0),
        "fps_per_session_median": round(float(np.median([o["fps_per_session_median"] for o in ok])), 1) if ok else 0,
        "fps_total": round(sum(o["fps_total"] for o in ok), 1),
        "process_cores_used": round(sum(o["process_cores_used"] for o in ok), 2),
        "stage_ms_median": {
            k: round(float(np.median([o["stage_ms_median"][k] for o in ok if k in o.get("stage_ms_median", {})])), 2)
            for k in (ok[0].get("stage_ms_median", {}) if ok else {})
        },
        "errors": [e for o in outs if o for e in o.get("errors", [])][:5],
    }
    r.update(gs.summary())
    return r


def merge(files: list[Path], out: Path) -> int:
    """One report from several runs on the same machine (a device call is limited to 10 minutes)."""
    res = json.loads(files[0].read_text())
    runs = []
    for f in files:
        r = json.loads(f.read_text())
        for x in r.get("sessions", {}).get("runs") or []:
            x["from_run"] = r["date"]
            x["fps_per_session_median"] = round(x.get("fps_per_session_median", 0), 1)
            runs.append(x)
    res["sessions"] = {"status": "ok", "runs": runs}
    res["merged_from"] = [json.loads(f.read_text())["date"] for f in files]
    res["capacity"] = capacity(res)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(_clean(res), indent=1) + "\n")
    md = markdown(res)
    (out / "RESULTS.md").write_text(md)
    print(md)
    return 0


def run_sessions(res: dict, a, photo: Path | None) -> dict:
    nv = res.get("encode", {}).get("h264_nvenc", {}).get("status") == "ok"
    codec = "h264_nvenc" if nv else "libx264"
    runs = []
    base_mem = None
    for n in [int(x) for x in a.sessions.split(",") if x]:
        try:
            r = sessions_subprocess(n, a.seconds, codec, photo, timeout=120 + 6 * n + a.seconds, pace=a.pace)
        except Exception as e:
            r = {"sessions": n, "errors": [f"{type(e).__name__}: {str(e)[-400:]}"]}
        r["processes"] = 1
        print(f"[gpu_check] sessions={n}: {json.dumps(r)}", flush=True)
        runs.append(r)
        res["sessions"] = {"status": "partial", "runs": runs}
        if _SAVE:
            _SAVE[0](res)
        if n == 1:
            base_mem = r.get("gpu_mem_used_max_mb")
    splits = [tuple(int(x) for x in sp.split(":")) for sp in a.split]
    if a.procs > 1:
        splits.insert(0, (max(int(x) for x in a.sessions.split(",") if x), a.procs))
    for n, procs in splits:
        r = split_run(n, procs, codec, photo, a.seconds, a.pace)
        print(f"[gpu_check] sessions={r['sessions']} in {procs} processes: {json.dumps(r)}", flush=True)
        runs.append(r)
        res["sessions"] = {"status": "partial", "runs": runs}
        if _SAVE:
            _SAVE[0](res)
    out = {"status": "ok", "runs": runs}
    big = [r for r in runs if r.get("processes") == 1 and r.get("gpu_mem_used_max_mb") and r["sessions"] > 1]
    if base_mem and big:
        b = max(big, key=lambda r: r["sessions"])
        out["gpu_mem_per_session_mb"] = round((b["gpu_mem_used_max_mb"] - base_mem) / (b["sessions"] - 1), 1)
    return out


if __name__ == "__main__":
    sys.exit(main())
