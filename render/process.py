"""The avatar pipeline's render stage in a child process of its own, so that it no longer shares a GIL.

moderngl holds the GIL in every GL call, and llvmpipe transforms and bins the triangles inside the draw call: in
one process the render held the GIL for ~13 ms of each 3-view frame, the session's tracking and pose thread and the
server's event loop waited meanwhile, and each Python line of the render then waited for the GIL in turn (render
bench: a 17 ms render took 65-2,800 ms beside a thread running pure Python). In its own process the render runs
beside them. `RemoteRenderStage` is a drop-in Stage for the back of a pipeline: the child runs the stages a factory
named by the caller builds (by default the render alone; the avatar pipeline's are occluders, then render, so the
hair mask is made beside the next frame's tracking, as the render is). It sends what they read (the posed body, the
garment meshes, and for the mirror the webcam frame and the person's tracking) and sets the views it gets back.

Wire format: pickles over a socketpair (`multiprocessing.connection.Connection` framing). Arrays that stay the
same object from frame to frame (faces, textures, UVs, colours) cross once: `_ArrayCache` sends a token for an
array the child already holds, and the child hands the renderer the same object each time, so the renderer's
upload-skipping identity checks keep working. The child is `python -m render.process FD ...`, not a
multiprocessing spawn (that re-imports the parent's main module); it imports numpy, OpenCV, moderngl and this
package, not torch or MediaPipe.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import pickle
import select
import socket
import struct
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from fitmirror.errors import SetupError
from fitmirror.frame import FrameContext, FrameIn, RenderState

__all__ = ["RemoteRenderStage", "RenderRequest", "request_from"]

log = logging.getLogger("fitmirror.render.process")

DEFAULT_STAGES = "render.stage:render_stages"  # what the child runs unless told otherwise

CACHE_ENTRIES = 256  # arrays the child keeps by token; a frame sends ~10
CACHE_MIN_BYTES = 4096  # smaller arrays are cheaper to resend than to track
START_TIMEOUT_S = 60.0  # the child imports moderngl and makes an EGL context (1-3 s; more on a loaded box)
STOP_TIMEOUT_S = 1.0  # asking a child to exit: a stopped child gets killed after this
RESTART_BACKOFF_S = (0.0, 1.0, 2.0, 5.0, 10.0)  # after consecutive failed starts: no new child on every frame
_LEN = struct.Struct("!i")  # multiprocessing.connection's framing, so the child keeps its Connection


@dataclass
class _Posed:
    """What RenderStage reads of a PosedBody."""

    vertices: np.ndarray
    faces: np.ndarray
    camera: Any


@dataclass
class _Tracked:
    """What the back stages read of a Tracking (mirror layout only): the person mask, the landmarks for the hair."""

    present: bool
    mask: np.ndarray | None
    landmarks_px: np.ndarray
    visibility: np.ndarray


@dataclass
class RenderRequest:
    state: RenderState
    image: np.ndarray | None  # the webcam frame, for the mirror layout only
    posed: _Posed | None
    garments: list = field(default_factory=list)
    tracking: _Tracked | None = None
    occluder_mask: np.ndarray | None = None


class _ArrayCache:
    """Sender side: arrays seen before (the same object) travel as a token; the receiver mirrors the LRU.
    Evictions ride along with the message that caused them, so both sides hold the same tokens."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._by_id: OrderedDict[int, tuple[int, np.ndarray]] = OrderedDict()
        self._next = 0
        self.sent_bytes = 0

    def dumps(self, obj: Any) -> bytes:
        evicted: list[int] = []
        cache = self

        class _Pickler(pickle.Pickler):
            inline: Any = None  # the array of the "new" id just returned: pickle then saves it, asking again

            def persistent_id(self, o: Any) -> Any:
                if type(o) is not np.ndarray or o.nbytes < CACHE_MIN_BYTES or o is self.inline:
                    return None
                hit = cache._by_id.get(id(o))
                if hit is not None and hit[1] is o:
                    cache._by_id.move_to_end(id(o))
                    return ("ref", hit[0])
                token = cache._next
                cache._next += 1
                cache._by_id[id(o)] = (token, o)  # holding `o` keeps its id from being reused
                while len(cache._by_id) > cache.entries:
                    evicted.append(cache._by_id.popitem(last=False)[1][0])
                self.inline = o
                return ("new", token, o)

        buf = io.BytesIO()
        _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
        body = buf.getvalue()
        out = pickle.dumps(evicted) + body  # two pickles back to back: the loader reads them in turn
        self.sent_bytes += len(out)
        return out


class _ArrayStore:
    """Receiver side of `_ArrayCache`."""

    def __init__(self) -> None:
        self.arrays: dict[int, np.ndarray] = {}

    def loads(self, data: bytes) -> Any:
        store = self.arrays

        class _Unpickler(pickle.Unpickler):
            def persistent_load(self, pid: Any) -> Any:
                if pid[0] == "new":
                    store[pid[1]] = pid[2]
                    return pid[2]
                return store[pid[1]]

        buf = io.BytesIO(data)
        evicted = pickle.load(buf)
        obj = _Unpickler(buf).load()
        for token in evicted:
            store.pop(token, None)
        return obj


def request_from(ctx: FrameContext) -> RenderRequest:
    """The part of a frame's context the render reads."""
    posed = ctx.posed
    mirror = ctx.state.layout == "mirror"
    tracking = ctx.tracking if mirror else None
    return RenderRequest(
        state=dataclasses.replace(ctx.state, catalog=None),  # the render never reads the catalogue
        image=ctx.frame.image if mirror else None,
        posed=None if posed is None else _Posed(posed.vertices, posed.faces, posed.camera),
        garments=list(ctx.garments),
        tracking=None
        if tracking is None
        else _Tracked(bool(tracking.present), tracking.mask, tracking.landmarks_px, tracking.visibility),
        occluder_mask=ctx.occluder_mask if mirror else None,
    )


class RemoteRenderStage:
    """The render stage, run by a child process (see the module docstring). A child that dies or hangs fails the
    frame it had (the session reports it) and is replaced on the next frame."""

    name = "render"

    def __init__(
        self, egl_device: int | None = None, frame_timeout_s: float | None = None, stages: str = DEFAULT_STAGES
    ) -> None:
        """`stages`: "module:function", called in the child as function(egl_device=...) -> the stages it runs in
        order on each frame (the last one renders). Named, not imported here: render/ never imports the stages
        of the floors above (the avatar pipeline runs `avatar.stages:back_stages`: occluders, then render)."""
        from fitmirror.config import get_settings

        self.stages = stages

        s = get_settings()
        self.egl_device = s.egl_device if egl_device is None else egl_device
        # a render (sending the frame included) that takes this long is a stuck child: killed, replaced
        self.frame_timeout_s = s.render_timeout_s if frame_timeout_s is None else frame_timeout_s
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.cache: _ArrayCache  # one per child: _start() makes it
        self.restarts = 0
        self.renderer_string = ""
        self._failed_starts = 0
        self._retry_at = 0.0
        self._start_error: SetupError | None = None
        self._start()

    # -- framing with deadlines: a stopped child must never block the render thread (or shutdown) -----------

    def _send(self, data: bytes, timeout_s: float) -> None:
        assert self.sock is not None
        self.sock.settimeout(timeout_s)  # the whole sendall, not each chunk (Python >= 3.5)
        try:
            self.sock.sendall(_LEN.pack(len(data)) + data)
        except TimeoutError:
            raise TimeoutError(f"the render process took no frame data in {timeout_s:.0f} s") from None

    def _recv(self, timeout_s: float) -> bytes:
        assert self.sock is not None
        deadline = time.monotonic() + timeout_s

        def exactly(n: int) -> bytes:
            buf = bytearray()
            while len(buf) < n:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                    raise TimeoutError(f"no frame in {timeout_s:.0f} s")
                chunk = self.sock.recv(n - len(buf))  # type: ignore[union-attr]
                if not chunk:
                    raise EOFError("the render process closed its end")
                buf += chunk
            return bytes(buf)

        (n,) = _LEN.unpack(exactly(_LEN.size))
        if n < 0:
            raise EOFError("oversized frame from the render process")
        return exactly(n)

    def _start(self) -> None:
        parent, child = socket.socketpair()
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        args = [str(child.fileno()), str(self.egl_device), self.stages]
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "render.process", *args],
                pass_fds=(child.fileno(),),
                env=env,
                cwd=root,
            )
        except OSError as e:
            parent.close()
            raise SetupError(f"the render process could not start: {e}") from e
        finally:
            child.close()
        self.sock = parent
        self.cache = _ArrayCache()
        try:
            status, detail = pickle.loads(self._recv(START_TIMEOUT_S))
        except TimeoutError:
            self._stop(kill=True)
            raise SetupError(f"the render process did not start in {START_TIMEOUT_S:.0f} s") from None
        except (EOFError, OSError):
            code = self._stop(kill=True)
            raise SetupError(f"the render process exited while starting (exit code {code})") from None
        if status != "ready":
            self._stop(kill=True)
            raise SetupError(f"the render process could not start: {detail}")
        self.renderer_string = detail

    def _stop(self, kill: bool = False) -> int | None:
        if self.sock is not None and not kill:
            try:
                self._send(b"", STOP_TIMEOUT_S)  # an empty message asks the child to exit
            except OSError:  # TimeoutError included: a stopped child is killed below
                kill = True
        sock, proc, self.sock, self.proc = self.sock, self.proc, None, None
        if sock is not None:
            sock.close()
        if proc is None:
            return None
        if kill:
            proc.kill()
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def _restart(self) -> None:
        """A new child after a failure, with back-off after failed starts (each re-raises the last reason)."""
        if time.monotonic() < self._retry_at and self._start_error is not None:
            raise self._start_error
        self.restarts += 1
        log.warning("restarting the render process (%d restarts)", self.restarts)
        try:
            self._start()
        except SetupError as e:
            self._failed_starts += 1
            self._start_error = e
            self._retry_at = time.monotonic() + RESTART_BACKOFF_S[min(self._failed_starts, len(RESTART_BACKOFF_S) - 1)]
            raise
        self._failed_starts, self._start_error = 0, None

    def process(self, ctx: FrameContext) -> None:
        if self.sock is None:  # the previous child failed: a new one for this frame
            self._restart()
        assert self.sock is not None
        try:
            data = self.cache.dumps(request_from(ctx))
        except Exception:  # the cache may now hold tokens the child never got: start afresh
            self._stop(kill=True)
            raise
        t0 = time.monotonic()
        try:
            self._send(data, self.frame_timeout_s)
            status, payload = pickle.loads(self._recv(max(0.1, self.frame_timeout_s - (time.monotonic() - t0))))
        except (EOFError, OSError, TimeoutError) as e:  # died, or stuck (SIGSTOP, a hung driver)
            code = self._stop(kill=True)
            raise RuntimeError(f"the render process failed ({e or type(e).__name__}; exit code {code})") from None
        if status != "ok":
            raise RuntimeError(f"render failed: {payload}")
        views, eyes, mirror = payload
        ctx.views.update(views)
        ctx.eyes = eyes
        ctx.mirror = mirror

    def close(self) -> None:
        self._stop()


def _build(spec: str, egl_device: int) -> list[Any]:
    import importlib

    module, _, name = spec.partition(":")
    return list(getattr(importlib.import_module(module), name)(egl_device=egl_device))


def _serve(conn: Connection, egl_device: int, spec: str) -> None:
    """Child: build the stages, then answer frames until an empty message or EOF."""
    try:
        stages = _build(spec, egl_device)
    except Exception as e:
        conn.send_bytes(pickle.dumps(("error", f"{type(e).__name__}: {e}")))
        return
    renderer = getattr(stages[-1], "renderer", None)
    conn.send_bytes(pickle.dumps(("ready", getattr(renderer, "renderer_string", ""))))
    store = _ArrayStore()
    try:
        while True:
            try:
                data = conn.recv_bytes()
            except EOFError:
                break
            if not data:
                break
            req: RenderRequest = store.loads(data)
            ctx = FrameContext(
                frame=FrameIn(req.image, 0, time.monotonic()),  # type: ignore[arg-type]  # None: not the mirror
                state=req.state,
                tracking=req.tracking,
                posed=req.posed,
                garments=req.garments,
                occluder_mask=req.occluder_mask,
            )
            try:
                for stage in stages:
                    stage.process(ctx)
                reply = ("ok", (ctx.views, ctx.eyes, ctx.mirror))
            except Exception as e:  # one bad frame: reported, the child goes on
                reply = ("error", f"{type(e).__name__}: {e}")
            conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        for stage in stages:
            stage.close()


def main(argv: list[str]) -> None:
    import signal

    from fitmirror.worker import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole process group: the parent stops us
    die_with_parent()  # a killed server leaves no render process behind, even one stuck in a GL call
    fd, egl_device, spec = int(argv[0]), int(argv[1]), argv[2]
    conn = Connection(fd)
    try:
        _serve(conn, egl_device, spec)
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
