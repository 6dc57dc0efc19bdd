"""Assembles the stages into pipelines and runs them: one webcam frame in, the images of the session's output tracks
out. The frame contract is `fitmirror.frame` (a Stage reads and fills a typed `FrameContext`); the avatar stages
live in `avatar.stages`, the view-producing ones in `render.stage` (and `render.process`, its child process), the
layouts in `render.layout`. A Pipeline times every stage, then applies the layout and the latency stamp. Pipelines
run on the session's single worker thread (GL contexts are thread-bound), never on the event loop.

Built-in pipelines: "preview" (labelled views made from the webcam frame itself), "echo" (the input frame returned
unchanged, for benchmarks) and "avatar" (tracking -> pose -> garments -> occluders, then render; `build_pipeline`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from fitmirror.catalog import Product
from fitmirror.config import get_settings
from fitmirror.errors import ModelUnavailableError
from fitmirror.frame import FrameContext, FrameIn, PipelineResult, RenderState, Stage
from fitmirror.priority import lower_thread_priority
from render.layout import compose
from render.stage import EchoStage, PreviewStage
from server import stamp as stamp_mod

log = logging.getLogger("fitmirror.server.pipeline")


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
        return PipelineResult(outputs, timings, ctx.person_present, ctx.fit, ctx.stage_error)

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


def _close_all(stages: list[Stage]) -> None:
    for stage in stages:
        stage.close()


def _reset_stage(stage: Stage) -> None:
    """Stages with per-session state (tracking, shape, outfit) have `reset()`; stateless ones need none."""
    reset = getattr(stage, "reset", None)
    if reset is not None:
        reset()


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
            self._back_pool.submit(_close_all, self.back).result()  # on the thread that owns their GL context
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
    """tracking -> pose -> garments on the caller's thread; occluders -> render on the pipeline's render thread,
    which hands them to a child process (`settings.render_process`)."""
    try:
        from avatar.stages import OccluderStage, front_stages
        from render.process import RemoteRenderStage
        from render.stage import RenderStage
    except ImportError as e:
        log.exception("the avatar pipeline failed to import")
        raise ModelUnavailableError(
            f"the avatar pipeline cannot be built: {type(e).__name__}: {e}",
            hint="a package is missing or broken: run `make setup`, then `fitmirror doctor`",
        ) from None
    s = get_settings()
    back: list[Callable[[], Stage]]
    if (
        s.render_process
    ):  # occluders and render in the render process (built there by name: render never imports avatar)
        back = [lambda: RemoteRenderStage(stages="avatar.stages:back_stages")]
    else:
        back = [OccluderStage, RenderStage]
    return OverlappedPipeline(
        "avatar",
        front_stages(),
        back,
        thread_name="fm-avatar-render",
        overlap=s.render_overlap,
        front_nice=s.front_nice,
    )


def predrape_products(pipe: Pipeline, products: list[Product]) -> dict[str, float]:
    """Pre-drape `products` on an avatar pipeline's garment stage (start-up preload; see avatar.stages)."""
    from avatar.stages import GarmentStage, predrape_catalogue

    stage = next(st for st in pipe.stages if isinstance(st, GarmentStage))
    return predrape_catalogue(stage, products)
