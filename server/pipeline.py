"""Per-frame processing: a Pipeline of Stages turns one webcam frame into the images of the session's output tracks.

The typed protocol is small on purpose so the real stages (avatar tracking -> pose -> body, render) plug in:
a Stage reads and fills a `FrameContext` (input image, a snapshot of the session state, a `data` dict for
intermediate results, per-view images, stereo eyes, the mirror composite); the Pipeline times every stage and
then applies the layout (mosaic, tracks, stereo, mirror) to produce one image per output track. Pipelines run on
the session's single worker thread (GL contexts are thread-bound), never on the event loop.

Built-in pipelines: "preview" (labelled views made from the webcam frame itself, until avatar/render land),
"echo" (the input frame returned unchanged, for benchmarks) and "avatar" (real stages; see `build_pipeline`).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from fitmirror.errors import ModelUnavailableError
from server import stamp as stamp_mod

Image = np.ndarray  # HxWx3 uint8 RGB

log = logging.getLogger("fitmirror.server.pipeline")


@dataclass(frozen=True)
class FrameIn:
    image: Image
    seq: int
    t_recv: float  # time.monotonic() when the frame was taken off the WebRTC track


@dataclass(frozen=True)
class RenderState:
    """Immutable snapshot of what a session wants rendered, taken when the frame is scheduled."""

    views: tuple[str, ...]
    layout: str
    view_size: tuple[int, int]  # (width, height) of one view
    view: str = "front"  # the selected view (single-view clients, kiosk)
    outfit: tuple[dict[str, Any], ...] = ()
    size: str | None = None
    fit_map: bool = False
    stamp: bool = False
    measurements: tuple[tuple[str, float], ...] = ()


@dataclass
class FrameContext:
    frame: FrameIn
    state: RenderState
    data: dict[str, Any] = field(default_factory=dict)  # stage results: "tracking", "pose", "body", ...
    views: dict[str, Image] = field(default_factory=dict)  # view name -> rendered image (view_size)
    eyes: tuple[Image, Image] | None = None  # stereo (left, right), each view_size
    mirror: Image | None = None  # AR composite for the mirror layout (view_size)
    outputs: list[Image] | None = None  # final track images; a stage may set them directly (echo)
    person_present: bool | None = None


class Stage(Protocol):
    name: str

    def process(self, ctx: FrameContext) -> None: ...

    def close(self) -> None: ...


@dataclass
class PipelineResult:
    outputs: list[Image]
    timings_ms: dict[str, float]
    person_present: bool | None
    fit: dict[str, Any] | None = None  # fit summary of the current outfit (garment stage), for the state message
    error: str | None = None  # a stage's persistent problem the user should hear about (ctx.data["stage_error"])


def n_tracks(layout: str, n_views: int) -> int:
    return n_views if layout == "tracks" else 1


def output_sizes(layout: str, views: tuple[str, ...] | list[str], view_size: tuple[int, int]) -> list[tuple[int, int]]:
    """(width, height) of each output track for a layout."""
    w, h = view_size
    if layout == "tracks":
        return [(w, h)] * len(views)
    if layout == "stereo":
        return [(2 * w, h)]
    if layout == "mirror":
        return [(w, h)]
    cols, rows = _grid(len(views))
    return [(cols * w, rows * h)]


def _grid(n: int) -> tuple[int, int]:
    """(cols, rows): one row up to 3 views, then two rows (the same rule as render.renderer.mosaic_grid)."""
    if n <= 3:
        return n, 1
    return math.ceil(n / 2), 2


def fit_image(img: Image, size: tuple[int, int]) -> Image:
    """Centre-crop to the target aspect ratio, then resize (no letterbox bars)."""
    w, h = size
    ih, iw = img.shape[:2]
    if (iw, ih) == (w, h):
        return img.copy()
    scale = max(w / iw, h / ih)
    cw, ch = min(iw, round(w / scale)), min(ih, round(h / scale))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    return cv2.resize(img[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def blank(size: tuple[int, int], value: int = 24) -> Image:
    return np.full((size[1], size[0], 3), value, np.uint8)


def label(img: Image, text: str, pos: str = "top", scale: float = 0.6) -> None:
    """Text on a dark band, in place (cv2 is ~10x faster than PIL for this)."""
    h, w = img.shape[:2]
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    y = th + base + 20 if pos == "top" else h - base - 6
    cv2.rectangle(img, (0, y - th - base - 4), (min(w, tw + 12), y + base), (0, 0, 0), -1)
    cv2.putText(img, text, (6, y - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def compose(ctx: FrameContext) -> list[Image]:
    """Apply the layout to the per-view images a stage produced."""
    s = ctx.state
    if ctx.outputs is not None:
        return ctx.outputs
    w, h = s.view_size
    if s.layout == "mirror":
        if ctx.mirror is None:
            raise RuntimeError("no stage produced the mirror image")
        return [ctx.mirror]
    if s.layout == "stereo":
        eyes = ctx.eyes
        if eyes is None:
            first = ctx.views.get(s.view) or ctx.views.get(s.views[0])
            if first is None:
                raise RuntimeError("no stage produced a stereo pair or a view")
            eyes = (first, first)
        out = np.empty((h, 2 * w, 3), np.uint8)
        out[:, :w], out[:, w:] = eyes
        return [out]
    missing = [v for v in s.views if v not in ctx.views]
    if missing:
        raise RuntimeError(f"no stage rendered the views {missing}")
    if s.layout == "tracks":
        return [ctx.views[v] for v in s.views]
    cols, rows = _grid(len(s.views))
    out = np.full((rows * h, cols * w, 3), 16, np.uint8)
    for i, v in enumerate(s.views):
        r, c = divmod(i, cols)
        out[r * h : (r + 1) * h, c * w : (c + 1) * w] = ctx.views[v]
    return [out]


class Pipeline:
    """Ordered stages + layout + optional stamp copy. Not thread-safe: one session worker thread calls it.

    `close()` hands a pipeline built by `build_pipeline` back to the pool (see `release_pipeline`)."""

    def __init__(self, name: str, stages: list[Stage]) -> None:
        self.name = name
        self.stages = stages
        self.poolable = False  # set by build_pipeline for pooled kinds

    @staticmethod
    def _run(stages: list[Stage], ctx: FrameContext, timings: dict[str, float]) -> None:
        for stage in stages:
            t0 = time.perf_counter()
            stage.process(ctx)
            timings[stage.name] = (time.perf_counter() - t0) * 1000

    @staticmethod
    def _finish(ctx: FrameContext, timings: dict[str, float]) -> PipelineResult:
        """Layout + stamp copy: the last step of a frame."""
        t0 = time.perf_counter()
        outputs = compose(ctx)
        if ctx.state.stamp:
            value = stamp_mod.read_stamp(ctx.frame.image)
            if value is not None:
                for img in outputs:
                    if img is not ctx.frame.image:
                        stamp_mod.write_stamp(img, value)
        timings["layout"] = (time.perf_counter() - t0) * 1000
        return PipelineResult(outputs, timings, ctx.person_present, ctx.data.get("fit"), ctx.data.get("stage_error"))

    def process(self, frame: FrameIn, state: RenderState, timings: dict[str, float] | None = None) -> PipelineResult:
        """One frame, start to finish, on the calling thread."""
        ctx = FrameContext(frame=frame, state=state)
        timings = {} if timings is None else timings
        self._run(self.stages, ctx, timings)
        return self._finish(ctx, timings)

    def submit(
        self, frame: FrameIn, state: RenderState, timings: dict[str, float] | None = None
    ) -> Future[PipelineResult]:
        """Start a frame and return its result's future. Here the frame is done when this returns; a pipeline
        with a back thread (OverlappedPipeline) returns as soon as the caller's part is done."""
        fut: Future[PipelineResult] = Future()
        try:
            fut.set_result(self.process(frame, state, timings))
        except Exception as e:
            fut.set_exception(e)
        return fut

    def reset(self) -> None:
        """Forget the session (tracking, body shape, outfit) so another session can reuse this pipeline."""
        for stage in self.stages:
            _reset_stage(stage)

    def close(self) -> None:
        if self.poolable and release_pipeline(self):
            return
        self.shutdown()

    def shutdown(self) -> None:
        """Really free the stages (GL contexts, graphs, threads)."""
        for stage in self.stages:
            stage.close()


def _reset_stage(stage: Stage) -> None:
    """Stages with per-session state (tracking, shape, outfit) have `reset()`; stateless ones need none."""
    reset = getattr(stage, "reset", None)
    if reset is not None:
        reset()


def lower_thread_priority(nice: int, tid: int | None = None) -> bool:
    """Make a thread (default: the calling one) `nice` steps nicer than the process's main thread; Linux nice
    values are per thread. Never raises the priority back (that needs privileges). False where it cannot."""
    if nice <= 0:
        return False
    tid = threading.get_native_id() if tid is None else tid
    try:
        target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + nice)
        if os.getpriority(os.PRIO_PROCESS, tid) < target:
            os.setpriority(os.PRIO_PROCESS, tid, target)
        return True
    except OSError as e:  # not Linux, or the thread is gone
        log.debug("thread %s keeps its priority: %s", tid, e)
        return False


def lower_named_threads(comm: str, nice: int) -> int:
    """`lower_thread_priority` for every thread of this process whose kernel name starts with `comm` (threads that
    libraries start, such as MediaPipe's graph threads). Returns how many it lowered."""
    n = 0
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name.startswith(comm) and lower_thread_priority(nice, int(tid)):
            n += 1
    return n


_niced = threading.local()


class OverlappedPipeline(Pipeline):
    """Front stages (tracking, pose, garments) on the caller's thread, back stages (render) + layout on the
    pipeline's own thread, which also owns the back stages' thread-bound state (the GL context), so a pooled
    pipeline can serve sessions whose worker threads differ.

    `submit()` returns once the front is done and frame N's render is queued, so the caller can track frame N+1
    while frame N renders: throughput approaches 1/max(front, back) instead of 1/(front + back) and no frame
    waits for another (an earlier design returned frame N-1's result from call N, which paid a frame of age for
    the overlap). At most one render is in flight: submit() waits for the previous one before queueing the next,
    so results complete in order and nothing queues up. `process()` is submit() then wait.

    `front_nice` > 0 lowers the priority of the threads that call submit() by that much (once per thread): on a
    saturated CPU the frame in flight (the back) then finishes before the next frame's front, which uses the gaps,
    so the overlap costs less glass-to-glass latency. Stages that start threads of their own lower those."""

    def __init__(
        self,
        name: str,
        front: list[Stage],
        back: list[Callable[[], Stage]],
        thread_name: str,
        overlap: bool = True,
        front_nice: int = 0,
    ) -> None:
        self.overlap = overlap  # False: submit() also waits for the render (in step, the settings' render_overlap)
        self.front_nice = front_nice
        self._back_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        try:
            back_stages = self._back_pool.submit(lambda: [make() for make in back]).result()
        except BaseException:
            self._back_pool.shutdown(wait=False)
            raise
        super().__init__(name, [*front, *back_stages])
        self.front, self.back = front, back_stages
        self._pending: Future[PipelineResult] | None = None

    def _back_run(self, ctx: FrameContext, timings: dict[str, float]) -> PipelineResult:
        self._run(self.back, ctx, timings)
        return self._finish(ctx, timings)

    def submit(
        self, frame: FrameIn, state: RenderState, timings: dict[str, float] | None = None
    ) -> Future[PipelineResult]:
        if self.front_nice and getattr(_niced, "nice", 0) < self.front_nice:
            lower_thread_priority(self.front_nice)
            _niced.nice = self.front_nice
        ctx = FrameContext(frame=frame, state=state)
        timings = {} if timings is None else timings
        self._run(self.front, ctx, timings)
        self._wait_pending()
        self._pending = fut = self._back_pool.submit(self._back_run, ctx, timings)
        if not self.overlap:
            self._wait_pending()
        return fut

    def process(self, frame: FrameIn, state: RenderState, timings: dict[str, float] | None = None) -> PipelineResult:
        return self.submit(frame, state, timings).result()

    def _wait_pending(self) -> None:
        """Wait for the render in flight; its failure belongs to its own future (the caller reports it)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except Exception as e:
                log.debug("previous frame failed: %s", e)

    def reset(self) -> None:
        self._wait_pending()
        for stage in self.front:
            _reset_stage(stage)
        for stage in self.back:  # on the thread that owns their GL context
            self._back_pool.submit(_reset_stage, stage).result()

    def shutdown(self) -> None:
        self._wait_pending()
        try:
            for stage in self.front:
                stage.close()
            self._back_pool.submit(lambda: [stage.close() for stage in self.back]).result()
        finally:
            self._back_pool.shutdown(wait=True)


# --- pool ----------------------------------------------------------------------------------------------

POOL_SIZE = 2  # idle pipelines kept per kind: each avatar one holds ~150-250 MB and a GL context
_pool: dict[str, list[Pipeline]] = {}
_pool_lock = threading.Lock()


def release_pipeline(pipe: Pipeline) -> bool:
    """Reset a closed session's pipeline and keep it for the next session (building an avatar pipeline costs
    seconds: MediaPipe graph, anny, EGL; and recreating a Renderer per session leaked ~7 MB). False when the pool
    is full or the reset failed: the caller then shuts it down."""
    with _pool_lock:
        if len(_pool.get(pipe.name, [])) >= POOL_SIZE:
            return False
    try:
        pipe.reset()
    except Exception as e:
        log.warning("pipeline %s not reusable: %s", pipe.name, e)
        return False
    with _pool_lock:
        idle = _pool.setdefault(pipe.name, [])
        if len(idle) >= POOL_SIZE or any(p is pipe for p in idle):
            return False
        idle.append(pipe)
        return True


def pooled(name: str) -> int:
    """Idle pipelines of this kind waiting for a session."""
    with _pool_lock:
        return len(_pool.get(name, []))


def clear_pool() -> None:
    """Shut down every idle pipeline (server shutdown, tests)."""
    with _pool_lock:
        idle = [p for ps in _pool.values() for p in ps]
        _pool.clear()
    for p in idle:
        try:
            p.shutdown()
        except Exception as e:
            log.warning("pipeline %s shutdown: %s", p.name, e)


# --- built-in stages -------------------------------------------------------------------------------


class EchoStage:
    """Returns the input frame unchanged as the only output (benchmark baseline)."""

    name = "echo"

    def process(self, ctx: FrameContext) -> None:
        ctx.outputs = [ctx.frame.image]

    def close(self) -> None:
        pass


_VIEW_TINT = {
    "front": (1.0, 1.0, 1.0),
    "back": (0.75, 0.8, 1.0),
    "left": (1.0, 0.9, 0.8),
    "right": (0.85, 1.0, 0.85),
    "three_quarter": (1.0, 0.85, 1.0),
}


class PreviewStage:
    """Stand-in for avatar+render: each view is the webcam frame (back mirrored, sides squeezed, tinted) with
    its name and the session's outfit and size written on it, so layouts and commands are visible end to end."""

    name = "preview"

    def process(self, ctx: FrameContext) -> None:
        s = ctx.state
        size = s.view_size
        img = ctx.frame.image
        caption = self._caption(s)
        if s.layout == "mirror":
            m = fit_image(cv2.flip(img, 1), size)
            label(m, caption, "bottom")
            ctx.mirror = m
            return
        if s.layout == "stereo":
            base = fit_image(img, size)
            shift = max(2, size[0] // 80)
            left, right = np.roll(base, shift, axis=1), np.roll(base, -shift, axis=1)
            label(left, f"L {s.view} | {caption}", "bottom")
            label(right, f"R {s.view} | {caption}", "bottom")
            ctx.eyes = (left, right)
            return
        base = fit_image(img, size)  # one resize per frame; the other views derive from it
        w, h = size
        for v in s.views:
            if v in ("left", "right", "three_quarter"):
                sw = max(2, int(w * (0.6 if v != "three_quarter" else 0.8))) // 2 * 2
                tile = blank(size)
                x0 = (w - sw) // 2
                tile[:, x0 : x0 + sw] = cv2.resize(base, (sw, h), interpolation=cv2.INTER_LINEAR)
            elif v == "back":
                tile = cv2.flip(base, 1)
            else:
                tile = base.copy()
            if v != "front":
                tile = cv2.multiply(tile, (*_VIEW_TINT[v], 0.0))
            label(tile, v.replace("_", " "), "top")
            label(tile, caption, "bottom", 0.45)
            ctx.views[v] = tile

    @staticmethod
    def _caption(s: RenderState) -> str:
        items = ", ".join(" ".join(str(it.get(k)) for k in ("color", "category") if it.get(k)) for it in s.outfit)
        parts = [items or "no outfit", f"size {s.size or '-'}"]
        if s.fit_map:
            parts.append("fit map")
        return " | ".join(parts)

    def close(self) -> None:
        pass


# --- factory -----------------------------------------------------------------------------------------

PIPELINES: dict[str, Callable[[], Pipeline]] = {
    "preview": lambda: Pipeline("preview", [PreviewStage()]),
    "echo": lambda: Pipeline("echo", [EchoStage()]),
}


POOLED = frozenset({"avatar"})


def build_pipeline(name: str) -> Pipeline:
    """Create a pipeline by name (or take an idle one from the pool). Call on the worker thread that will run it
    (thread-bound state either lives there or on the pipeline's own thread)."""
    if name in POOLED:
        with _pool_lock:
            idle = _pool.get(name)
            if idle:
                return idle.pop()
    if name == "avatar":
        pipe = _build_avatar_pipeline()
        pipe.poolable = True
        return pipe
    try:
        return PIPELINES[name]()
    except KeyError:
        raise ModelUnavailableError(f"unknown pipeline {name!r}", hint="one of: preview, echo, avatar") from None


def _build_avatar_pipeline() -> Pipeline:
    """tracking -> pose -> body -> render. An import that fails is a broken install (or a bug), said as such."""
    try:
        from server.avatar_stages import avatar_pipeline
    except ImportError as e:
        log.exception("the avatar pipeline failed to import")
        raise ModelUnavailableError(
            f"the avatar pipeline cannot be built: {type(e).__name__}: {e}",
            hint="a package is missing or broken: run `make setup`, then `fitmirror doctor`",
        ) from None
    return avatar_pipeline()
