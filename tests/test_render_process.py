"""The avatar render stage in a child process (render/process.py): same images as in the server's own
process, constant arrays sent once, a dead child reported and replaced, a bad GPU index refused with a reason."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, replace

import numpy as np
import pytest

from fitmirror.errors import SetupError
from fitmirror.frame import FrameContext, FrameIn, RenderState
from fitmirror.procinfo import descendants
from render.cameras import PinholeCamera
from render.process import RemoteRenderStage, _ArrayCache, _ArrayStore
from render.scene import cylinder_mesh
from render.stage import RenderStage


@dataclass
class _Body:
    vertices: np.ndarray
    faces: np.ndarray
    camera: PinholeCamera


@dataclass
class _Track:
    present: bool
    mask: np.ndarray
    landmarks_px: np.ndarray
    visibility: np.ndarray


def _inputs():
    """A body (cylinder) 2.4 m in front of a 640x480 webcam and a textured 'garment' around it."""
    shift = np.float32([0, 0.95, 2.4])
    body = cylinder_mesh("body", radius_m=0.15, height_m=1.7, center=(0, 0.85, 0))
    tex = np.zeros((32, 32, 3), np.uint8)
    tex[:, ::8] = 255
    shirt = cylinder_mesh("shirt", radius_m=0.18, height_m=0.6, center=(0, 1.2, 0), texture=tex)
    shirt.vertices = shirt.vertices - shift
    posed = _Body(body.vertices - shift, body.faces, PinholeCamera.from_fov(640, 480, 60))
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    mask = np.zeros((480, 640), np.float32)
    mask[40:470, 220:420] = 1.0
    track = _Track(True, mask, np.zeros((33, 2), np.float32), np.ones(33, np.float32))
    return posed, [shirt], image, track


def _ctx(layout: str, posed, garments, image, track) -> FrameContext:
    state = RenderState(views=("front", "left", "back"), layout=layout, view_size=(192, 192))
    occluder = np.zeros((480, 640), np.float32)
    occluder[60:140, 280:360] = 1.0  # e.g. hair over the collar: the webcam shows through the garment there
    return FrameContext(
        frame=FrameIn(image, 0, 0.0),
        state=state,
        posed=posed,
        garments=garments,
        tracking=track,
        occluder_mask=occluder,
    )


@pytest.fixture(scope="module")
def stages():
    local = RenderStage()
    remote = RemoteRenderStage()
    yield local, remote
    local.close()
    remote.close()


def test_the_child_runs_the_stages_it_is_told_to_in_order():
    """The avatar pipeline's back (occluders, then render) built in the child by name gives the image the same
    stages give on the server's render thread; the occluder mask made there is used by the render."""
    from avatar.stages import back_stages

    local = back_stages()
    remote = RemoteRenderStage(stages="avatar.stages:back_stages")
    try:
        posed, garments, image, track = _inputs()
        a, b = _ctx("mirror", posed, garments, image, track), _ctx("mirror", posed, garments, image, track)
        a.occluder_mask = b.occluder_mask = None  # the occluder stage makes it (or leaves none: no hair found)
        for st in local:
            st.process(a)
        remote.process(b)
        assert b.mirror is not None and np.array_equal(a.mirror, b.mirror)
        assert [type(st).__name__ for st in local] == ["OccluderStage", "RenderStage"]
    finally:
        for st in local:
            st.close()
        remote.close()


def test_the_child_renders_what_the_server_thread_would(stages):
    local, remote = stages
    inputs = _inputs()
    assert remote.pid is not None and remote.pid != os.getpid() and remote.renderer_string
    assert remote.pid in descendants(os.getpid())  # the benchmarks count its CPU and memory with the server's
    for layout in ("mosaic", "stereo", "mirror"):
        a, b = _ctx(layout, *inputs), _ctx(layout, *inputs)
        local.process(a)
        remote.process(b)
        if layout == "mosaic":
            assert set(a.views) == set(b.views) == {"front", "left", "back"}
            for v in a.views:
                assert np.array_equal(a.views[v], b.views[v]), v
            assert not np.array_equal(b.views["front"], b.views["left"])
            assert b.views["front"].flags.writeable  # the layout step stamps the tracks layout's tiles in place
        elif layout == "stereo":
            assert all(np.array_equal(x, y) for x, y in zip(a.eyes, b.eyes, strict=True))
        else:
            assert b.mirror.shape == (192, 192, 3) and np.array_equal(a.mirror, b.mirror)
    # no body yet: the same "step into view" tiles
    a, b = _ctx("mosaic", None, [], *inputs[2:]), _ctx("mosaic", None, [], *inputs[2:])
    local.process(a)
    remote.process(b)
    assert all(np.array_equal(a.views[v], b.views[v]) for v in a.views)


def test_arrays_that_stay_the_same_cross_once(stages):
    """Faces and the texture are the same objects every frame: the second frame sends only the moved vertices."""
    _, remote = stages
    posed, garments, image, track = _inputs()
    remote.process(_ctx("mosaic", posed, garments, image, track))
    posed2 = _Body(posed.vertices + np.float32([0.01, 0, 0]), posed.faces, posed.camera)
    before = remote.cache.sent_bytes
    ctx = _ctx("mosaic", posed2, garments, image, track)
    remote.process(ctx)
    sent = remote.cache.sent_bytes - before
    constant = posed.faces.nbytes + garments[0].faces.nbytes + garments[0].texture.nbytes
    assert sent < posed.vertices.nbytes + garments[0].vertices.nbytes + 4096 + garments[0].uvs.nbytes
    assert sent < constant, (sent, constant)
    assert ctx.views["front"].shape == (192, 192, 3)


def test_the_array_cache_mirrors_its_evictions():
    cache, store = _ArrayCache(entries=3), _ArrayStore()
    arrays = [np.full(2048, i, np.float32) for i in range(6)]
    for i in range(6):  # each message: a new array and, twice, the first one (kept alive by its references)
        msg = store.loads(cache.dumps([arrays[i], arrays[0], arrays[0]]))
        assert np.array_equal(msg[0], arrays[i]) and np.array_equal(msg[1], arrays[0]) and msg[1] is msg[2]
    assert len(store.arrays) == 3
    assert store.loads(cache.dumps([arrays[0]]))[0] is msg[1]  # still the object the receiver already had
    small = np.zeros(4, np.float32)
    assert store.loads(cache.dumps([small]))[0] is not small and len(store.arrays) == 3  # small: inline


def test_a_dead_child_fails_its_frame_and_is_replaced():
    remote = RemoteRenderStage()
    inputs = _inputs()
    try:
        remote.process(_ctx("mosaic", *inputs))
        old = remote.proc
        os.kill(remote.pid, signal.SIGKILL)
        old.wait(10)
        with pytest.raises(RuntimeError, match="render process failed"):
            remote.process(_ctx("mosaic", *inputs))
        ctx = _ctx("mosaic", *inputs)
        remote.process(ctx)
        assert remote.restarts == 1 and remote.pid != old.pid and ctx.views["front"].shape == (192, 192, 3)
    finally:
        proc = remote.proc
        remote.close()
    assert remote.proc is None and proc.poll() is not None  # close() waits for the child


def test_a_stopped_child_is_detected_within_seconds_and_replaced():
    """SIGSTOP: the child neither reads the frame (a mirror frame is ~2 MB, more than the socket buffer) nor
    answers; the render thread must not block on the send, and closing must not block either."""
    remote = RemoteRenderStage(frame_timeout_s=2.0)
    inputs = _inputs()
    try:
        remote.process(_ctx("mosaic", *inputs))
        old = remote.proc
        os.kill(remote.pid, signal.SIGSTOP)
        big = _ctx("mosaic", *inputs)
        big.frame = FrameIn(np.zeros((1080, 1920, 3), np.uint8), 0, time.monotonic())  # fills the socket buffer
        big.state = replace(big.state, layout="mirror")
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="render process failed"):
            remote.process(big)
        assert time.monotonic() - t0 < 2.0 + 2.0
        assert old.poll() is not None, "the stuck child must be killed"
        ctx = _ctx("mosaic", *inputs)
        remote.process(ctx)
        assert remote.restarts == 1 and ctx.views["front"].shape == (192, 192, 3)
        os.kill(remote.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        remote.close()  # asks a stopped child to exit, then kills it
        assert time.monotonic() - t0 < 8
    finally:
        remote.close()


def test_a_missing_gpu_is_refused_with_the_reason():
    with pytest.raises(SetupError, match="render process could not start"):
        RemoteRenderStage(egl_device=97)


def test_thread_priorities_are_lowered_by_thread_and_by_kernel_name():
    """`lower_thread_priority` nices one thread (Linux nice values are per thread), `lower_named_threads` the
    threads a library started under a kernel name (MediaPipe's), never the rest of the process."""
    import threading

    from fitmirror.priority import lower_named_threads, lower_thread_priority

    base = os.getpriority(os.PRIO_PROCESS, os.getpid())
    named, stop, tids = threading.Barrier(4, timeout=10), threading.Event(), {}

    def worker(name: str) -> None:
        tids[name] = threading.get_native_id()
        with open(f"/proc/self/task/{tids[name]}/comm", "w") as f:
            f.write(name)
        named.wait()  # all three named before the main thread looks
        stop.wait(10)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in ("fmgraph/1", "fmgraph/2", "other")]
    for t in threads:
        t.start()
    try:
        named.wait()
        assert lower_named_threads("fmgraph", 3) == 2
        prio = {n: os.getpriority(os.PRIO_PROCESS, tid) for n, tid in tids.items()}
        assert prio == {"fmgraph/1": min(19, base + 3), "fmgraph/2": min(19, base + 3), "other": base}, prio
        assert lower_thread_priority(1, tids["other"])
        assert os.getpriority(os.PRIO_PROCESS, tids["other"]) == min(19, base + 1)
        assert lower_thread_priority(0, tids["other"]) is False  # 0: nothing to do
        assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == base  # the main thread keeps its priority
    finally:
        stop.set()
        for t in threads:
            t.join()
