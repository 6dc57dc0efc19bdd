"""The display renderer: OpenGL 3.3 through moderngl on a headless EGL context (Mesa llvmpipe on CPU machines,
the NVIDIA EGL driver on GPU machines; one code path).

All views of a frame are drawn into ONE framebuffer (one viewport per view) and read back ONCE, straight into a
fresh C-contiguous numpy array (no flip, no copy: the projection is flipped so GL row 0 is the image's top row).
A GL context is bound to the thread that made it: create one `Renderer` per worker thread and use it only there.

This module draws and reads back; the GLSL sources are in `render.shaders`, the GPU copies of meshes and the
framebuffers in `render.gpu_cache`, the AR blend over the webcam frame in `render.composite`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from fitmirror.errors import InputError, RenderError, SetupError
from fitmirror.vocab import LAYOUTS, LayoutName
from render.cameras import VIEW_AZIMUTH_DEG, VIEW_LABELS, Camera, CameraRig, PinholeCamera
from render.composite import blend_layers
from render.gpu_cache import MAX_CACHED_FRAMEBUFFERS, MAX_CACHED_MESHES, GpuCache, GpuMesh
from render.scene import Mesh, Scene
from render.shaders import DEPTH_FS, FS, FS_LIT, ID_FS, ID_VS, LAMBERT_FS, VS, VS_LIT, variant
from render.text import draw_label

# importable from here as before (benchmarks/render.py, tests/test_render_views.py)
__all__ = [
    "LAMBERT_FS",
    "LAYOUTS",
    "MAX_CACHED_FRAMEBUFFERS",
    "MAX_CACHED_MESHES",
    "Layout",
    "RenderOutput",
    "Renderer",
]

Layout = LayoutName

_FLIP_Y = np.diag([1.0, -1.0, 1.0, 1.0]).astype(np.float32)  # GL bottom-up -> image top-down readback
_MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0]).astype(np.float32)


@dataclass
class RenderOutput:
    """`image`: the whole frame, HxWx3 uint8 RGB (HxWx4 RGBA when the scene background is None), C-contiguous,
    ready for `av.VideoFrame.from_ndarray(image, format="rgb24")`. For layout "tracks", `views` holds one
    C-contiguous image per view (row slices of `image`, no copies); otherwise `views` is empty."""

    image: np.ndarray
    layout: str
    view_names: list[str]
    views: list[np.ndarray] = field(default_factory=list)
    render_ms: float = 0.0


def _gl_flush_fn():
    """glFlush of the current context (moderngl exposes finish() only), or None if EGL does not resolve it."""
    try:
        import ctypes

        egl = ctypes.CDLL("libEGL.so.1")
        egl.eglGetProcAddress.restype = ctypes.c_void_p
        egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
        addr = egl.eglGetProcAddress(b"glFlush")
        return ctypes.CFUNCTYPE(None)(addr) if addr else None
    except OSError:
        return None


_GL_FLUSH = _gl_flush_fn()

_cv2: object | None = None  # OpenCV, imported on the first readback: a faster RGBA -> RGB repack (installed with
_CV2_TRIED = False  # the server; without it llvmpipe packs RGB itself)


def _opencv():
    global _cv2, _CV2_TRIED
    if not _CV2_TRIED:
        _CV2_TRIED = True
        try:
            import cv2

            _cv2 = cv2
        except ImportError:  # pragma: no cover
            _cv2 = None
    return _cv2


_current = threading.local()  # the GL context current in this thread (several Renderers may share a thread)


class Renderer:
    """moderngl/EGL display renderer. Not thread-safe: use it only in the thread that created it.
    `shading`: "vertex" (default) evaluates the studio lighting per vertex, the cheapest on llvmpipe; "pixel" per
    fragment (crisper highlights, free on a GPU). `fragment_shader` replaces the studio shading with a per-pixel
    shader (same inputs as `shaders.FS`; `LAMBERT_FS` is the cheap reference).
    `msaa_samples` (e.g. 4) antialiases the display frames: nearly free on a GPU, costly on llvmpipe.
    `flush_draws` (default on) lets llvmpipe rasterise each mesh while the next one is transformed (`_flush`)."""

    def __init__(
        self,
        egl_device: int | None = None,
        fragment_shader: str | None = None,
        msaa_samples: int = 0,
        shading: Literal["vertex", "pixel"] = "vertex",
        flush_draws: bool = True,
    ) -> None:
        if shading not in ("vertex", "pixel"):
            raise InputError(f"unknown shading {shading!r}", hint="vertex or pixel")
        try:
            import moderngl
        except ImportError as e:  # pragma: no cover - moderngl is a pinned dependency
            raise SetupError("moderngl is not installed", hint="pip install -r requirements.lock") from e
        from fitmirror.config import get_settings

        s = get_settings()
        dev = s.egl_device if egl_device is None else egl_device
        kw: dict = {"backend": "egl"}
        if dev >= 0:
            kw["device_index"] = dev
        try:
            self.ctx = moderngl.create_standalone_context(**kw)
        except Exception as e:
            raise SetupError(
                f"no headless EGL context: {e}",
                hint="apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri (CPU) or the NVIDIA driver (GPU)",
            ) from e
        self._mgl = moderngl
        self.msaa_samples = int(max(0, min(msaa_samples, self.ctx.max_samples)))
        self.flush_draws = flush_draws
        self._thread = threading.get_ident()
        _current.ctx = self.ctx  # a new standalone context is current in its thread
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.shading = "pixel" if fragment_shader else shading
        if self.shading == "pixel":
            self.prog = self.ctx.program(vertex_shader=VS, fragment_shader=fragment_shader or FS)
            self._progs = {"plain": self.prog, "textured": self.prog}
        else:
            self.prog = self.ctx.program(vertex_shader=VS_LIT, fragment_shader=FS_LIT)
            self._progs = {
                "plain": self.prog,
                "textured": self.ctx.program(
                    vertex_shader=variant(VS_LIT, True), fragment_shader=variant(FS_LIT, True)
                ),
            }
        self._progs["depth"] = self.ctx.program(vertex_shader=ID_VS, fragment_shader=DEPTH_FS)
        self.id_prog = self.ctx.program(vertex_shader=ID_VS, fragment_shader=ID_FS)
        self._gpu = GpuCache(self.ctx, moderngl)  # meshes and framebuffers, bounded (LRU)
        self._id_mesh: tuple | None = None
        self._staging: dict[tuple[int, int], np.ndarray] = {}  # RGBA readback buffer, reused
        self.renderer_string = f"{self.ctx.info['GL_RENDERER']} / {self.ctx.info['GL_VERSION']}"

    # -- resources ----------------------------------------------------------------------------------------
    def close(self) -> None:
        self._check_thread()
        self._gpu.release()
        if self._id_mesh is not None:
            for o in self._id_mesh[2:]:
                o.release()
        self.ctx.release()
        if getattr(_current, "ctx", None) is self.ctx:
            _current.ctx = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_thread(self) -> None:
        """Raise off the owner thread; make this context current if another Renderer in this thread took over."""
        if threading.get_ident() != self._thread:
            raise RenderError("a Renderer is bound to the thread that created it", hint="create one per worker thread")
        if getattr(_current, "ctx", None) is not self.ctx:
            self.ctx.__enter__()  # eglMakeCurrent
            _current.ctx = self.ctx

    # the cache tables under their names from before the split (tests/test_render_views.py checks their bounds)
    @property
    def _meshes(self) -> dict[str, GpuMesh]:
        """The cached meshes by name (`GpuCache.meshes`)."""
        return self._gpu.meshes

    @property
    def _fbos(self) -> dict[tuple, object]:
        """The cached framebuffers by (w, h, kind) (`GpuCache.fbos`)."""
        return self._gpu.fbos

    # -- drawing ------------------------------------------------------------------------------------------
    def _draw_meshes(self, fbo, gms: list[tuple[Mesh, GpuMesh]], cam: Camera, flip: np.ndarray) -> None:
        """Draw into the current viewport: depth-only occluders first, then visible meshes."""
        mvp = (flip @ cam.proj @ cam.view).astype(np.float32).T.tobytes()
        view = np.ascontiguousarray(cam.view.T, dtype=np.float32).tobytes()
        for prog in {id(p): p for p in self._progs.values()}.values():
            prog["mvp"].write(mvp)
            if "view" in prog:
                prog["view"].write(view)
        # one axis flipped (top-down readback) or two (plus mirror): the screen winding of front faces flips with each
        self.ctx.front_face = "cw" if float(flip[0, 0] * flip[1, 1] * flip[2, 2]) < 0 else "ccw"  # diagonal flips
        occluders = [(m, g) for m, g in gms if not m.visible]
        if occluders:
            vp = self.ctx.viewport
            fbo.color_mask = (False, False, False, False)
            fbo.use()  # moderngl applies the mask when the framebuffer is bound (and resets the viewport)
            self.ctx.viewport = vp
            for m, g in occluders:
                self._cull(m)
                self._gpu.vao(g, "depth", self._progs["depth"]).render(self._mgl.TRIANGLES)
                self._flush()
            fbo.color_mask = (True, True, True, True)
            fbo.use()
            self.ctx.viewport = vp
        # outermost layers first: scenes list the body, then garments inside-out, so drawing in reverse lets the
        # early depth test skip shading the layers underneath (3 layers over the torso on llvmpipe)
        for m, g in reversed(gms):
            if not m.visible:
                continue
            use_tex = g.texture is not None and m.texture is not None
            key = "textured" if use_tex else "plain"
            prog = self._progs[key]
            self._set(prog, "use_texture", use_tex)
            if use_tex:
                g.texture.use(0)
                self._set(prog, "tex", 0)
            self._set(prog, "overlay_alpha", float(m.overlay_alpha) if m.overlay is not None else 0.0)
            self._set(prog, "shininess", float(m.shininess))
            self._cull(m)
            self._gpu.vao(g, key, prog).render(self._mgl.TRIANGLES)
            self._flush()

    def _flush(self) -> None:
        """glFlush after each draw: llvmpipe transforms and bins triangles in this thread but rasterises them on its
        worker threads only at a flush, so without one the workers idle until the readback and this thread idles
        after it. Flushed, they shade a mesh while this thread bins the next (3 x 512: ~40 -> ~26 ms wall)."""
        if self.flush_draws and _GL_FLUSH is not None:
            _GL_FLUSH()

    def _cull(self, m: Mesh) -> None:
        if m.double_sided:
            self.ctx.disable(self._mgl.CULL_FACE)
        else:
            self.ctx.enable(self._mgl.CULL_FACE)

    @staticmethod
    def _set(prog, name: str, value) -> None:
        u = prog.get(name, None)  # uniforms a shader does not use are compiled out
        if u is not None:
            u.value = value

    def _clear(self, fbo, background) -> None:
        if background is None:
            fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        else:
            fbo.clear(*background, 1.0, depth=1.0)

    def render_cameras(
        self,
        scene: Scene,
        cams: list[Camera],
        tiles: list[tuple[int, int]],
        size: tuple[int, int],
        mirror: bool = False,
        occluders: list[bool] | None = None,
    ) -> np.ndarray:
        """Low level: draw `scene` once per camera into viewport tiles (x, y from the image's top-left, in pixels),
        all in one framebuffer of `size` (w, h), and read back once. Returns HxWx3 (or x4 if transparent).
        `occluders[i]=False` leaves the depth-only meshes out of tile i."""
        self._check_thread()
        w, h = size
        fbo = self._gpu.fbo(w, h, "msaa" if self.msaa_samples else "rgba", self.msaa_samples)
        fbo.use()
        self._clear(fbo, scene.background)
        self._flush()  # the worker threads clear the framebuffer while this thread computes normals and uploads
        gms = [(m, self._gpu.upload(m)) for m in scene.meshes if len(m.faces)]  # GL buffers cannot be empty
        flip = _FLIP_Y @ _MIRROR if mirror else _FLIP_Y
        occluders = occluders or [True] * len(cams)
        only_visible = [(m, g) for m, g in gms if m.visible]
        for cam, (x, y), occ in zip(cams, tiles, occluders, strict=True):
            self.ctx.viewport = (x, y, cam.width, cam.height)  # y counts from the top: the projection is flipped
            self._draw_meshes(fbo, gms if occ else only_visible, cam, flip)
        if self.msaa_samples:
            resolved = self._gpu.fbo(w, h)
            self.ctx.copy_framebuffer(resolved, fbo)  # multisample resolve
            fbo = resolved
        if scene.background is None:
            out = np.empty((h, w, 4), np.uint8)
            fbo.read_into(out, viewport=(0, 0, w, h), components=4, alignment=1)
            return out
        out = np.empty((h, w, 3), np.uint8)
        cv2 = _opencv()
        if cv2 is None:
            fbo.read_into(out, viewport=(0, 0, w, h), components=3, alignment=1)
            return out
        # llvmpipe packs RGBA to RGB at ~1.4 ms for 1536x512 on the main thread; reading RGBA (a copy) and letting
        # OpenCV drop the alpha takes ~0.25 ms
        rgba = self._staging.get((w, h))
        if rgba is None:
            self._staging.clear()  # one size in use at a time, as a rule
            rgba = self._staging[(w, h)] = np.empty((h, w, 4), np.uint8)
        fbo.read_into(rgba, viewport=(0, 0, w, h), components=4, alignment=1)
        cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB, dst=out)
        return out

    def render_views(
        self,
        scene: Scene,
        views: list[str],
        layout: Layout = "mosaic",
        view_size_px: int = 384,
        labels: bool = True,
        rig: CameraRig | None = None,
        ipd_m: float = 0.063,
    ) -> RenderOutput:
        """Render named views (`cameras.VIEW_AZIMUTH_DEG`) in a layout:
        - mosaic: tiles in one frame (1 row up to 3 views, else 2 rows), labelled;
        - tracks: one image per view (views stacked vertically in one buffer, returned as row slices);
        - stereo: left|right eye of views[0] (default front), side by side, `ipd_m` apart (XR; 63 mm is the
          adult average, a WebXR client can send the headset's own);
        - mirror: views[0] (default front) flipped left-right, as a kiosk mirror shows the user.
        `rig` defaults to framing the scene bounds."""
        t0 = time.perf_counter()
        if layout not in LAYOUTS:
            raise InputError(f"unknown layout {layout!r}", hint=f"one of {', '.join(LAYOUTS)}")
        views = list(views) or ["front"]
        for v in views:
            if v not in VIEW_AZIMUTH_DEG:
                raise InputError(f"unknown view {v!r}", hint=f"one of {', '.join(VIEW_AZIMUTH_DEG)}")
        s = int(view_size_px)
        if s < 16 or s > 4096:
            raise InputError(f"view_size_px {s} out of range 16..4096")
        s += s % 2  # even sizes for yuv420 encoders
        rig = rig or CameraRig.framing(*scene.bounds())
        out_views: list[np.ndarray] = []
        if layout == "mosaic":
            from render.layout import mosaic_grid  # here: render.layout imports OpenCV, optional to the renderer

            cols, rows = mosaic_grid(len(views))
            cams = [rig.camera(v, s) for v in views]
            tiles = [((i % cols) * s, (i // cols) * s) for i in range(len(views))]
            img = self.render_cameras(scene, cams, tiles, (cols * s, rows * s))
            if labels:
                sc = max(1, s // 256)
                for v, (x, y) in zip(views, tiles, strict=True):
                    draw_label(img, VIEW_LABELS[v], x + 6 * sc, y + 6 * sc, scale=sc)
        elif layout == "tracks":
            cams = [rig.camera(v, s) for v in views]
            tiles = [(0, i * s) for i in range(len(views))]
            img = self.render_cameras(scene, cams, tiles, (s, len(views) * s))
            out_views = [img[i * s : (i + 1) * s] for i in range(len(views))]
        elif layout == "stereo":
            views = views[:1]
            left, right = rig.stereo(s, ipd_m=ipd_m, view=views[0])
            img = self.render_cameras(scene, [left, right], [(0, 0), (s, 0)], (2 * s, s))
            views = [f"{views[0]}-left", f"{views[0]}-right"]
        else:  # mirror
            views = views[:1]
            img = self.render_cameras(scene, [rig.camera(views[0], s)], [(0, 0)], (s, s), mirror=True)
        return RenderOutput(img, layout, views, out_views, (time.perf_counter() - t0) * 1e3)

    # -- AR -----------------------------------------------------------------------------------------------
    def composite_ar(
        self,
        frame_rgb: np.ndarray,
        scene: Scene,
        camera: PinholeCamera,  # or anything with fx, fy, cx, cy, width, height
        person_mask: np.ndarray | None = None,
        occluder_mask: np.ndarray | None = None,
        feather_px: int = 1,
    ) -> np.ndarray:
        """Draw the scene's visible meshes (garments) over a webcam frame, in webcam space.

        Occlusion rule:
        1. invisible meshes (the fitted avatar body) write depth only, so the body hides the garment's back
           and inside, and body parts in front (an arm across the shirt) cut the garment;
        2. with `person_mask` (HxW, 0..1 or bool), a body cut only counts where the real person is: if the fitted
           arm is off the real arm, the garment stays drawn over the background-side pixels instead of showing a hole;
        3. `occluder_mask` (HxW, 0..1), optional: pixels known to be in front of all garments (hair over a collar,
           hands, from a parsing model) clear the garment;
        4. the garment's alpha is feathered by `feather_px` at its edges; webcam pixels outside stay untouched.
        Returns a new HxWx3 uint8 frame."""
        self._check_thread()
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            raise InputError("frame_rgb must be HxWx3 uint8")
        h, w = frame_rgb.shape[:2]
        camera = PinholeCamera.like(camera)
        if (camera.width, camera.height) != (w, h):
            raise InputError(f"camera is {camera.width}x{camera.height}, frame is {w}x{h}")
        for name, m in (("person_mask", person_mask), ("occluder_mask", occluder_mask)):
            if m is not None and m.shape[:2] != (h, w):
                raise InputError(f"{name} must be {h}x{w}, got {m.shape}")
        cam = camera.camera()
        layer_scene = Scene(scene.meshes, background=None)
        free = None  # the garments without the body's depth: only needed to apply the person mask
        if person_mask is not None and any(not m.visible for m in scene.meshes):
            # with and without the body's depth, side by side: one pass, one readback
            both = self.render_cameras(layer_scene, [cam, cam], [(0, 0), (w, 0)], (2 * w, h), occluders=[True, False])
            full, free = both[:, :w], both[:, w:]
        else:
            full = self.render_cameras(layer_scene, [cam], [(0, 0)], (w, h))  # garments + body depth
        return blend_layers(frame_rgb, full, free, person_mask, occluder_mask, feather_px)

    # -- visibility pass for the differentiable path --------------------------------------------------------
    def triangle_ids(self, vertices: np.ndarray, faces: np.ndarray, camera: Camera) -> np.ndarray:
        """(H,W) int32 triangle index per pixel (-1 = background), row 0 at the top; depth-tested.
        Buffers are kept between calls while the faces stay equal (fitting loops re-send the same topology)."""
        self._check_thread()
        v = np.ascontiguousarray(vertices, np.float32)
        idm = self._id_mesh
        if idm is None or idm[0].shape != faces.shape or len(v) != idm[1] or not np.array_equal(idm[0], faces):
            if idm is not None:
                for o in idm[2:]:
                    o.release()
            f = np.array(faces, np.int32)  # own copy: the caller may reuse its array
            vbo = self.ctx.buffer(v.tobytes())
            ibo = self.ctx.buffer(f.tobytes())
            vao = self.ctx.vertex_array(self.id_prog, [(vbo, "3f", "in_pos")], index_buffer=ibo, index_element_size=4)
            idm = self._id_mesh = (f, len(v), vao, vbo, ibo)
        else:
            idm[3].write(v.tobytes())
        w, h = camera.width, camera.height
        fbo = self._gpu.fbo(w, h, "ids")
        fbo.use()
        self.ctx.viewport = (0, 0, w, h)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        mvp = (_FLIP_Y @ camera.proj @ camera.view).astype(np.float32)
        self.id_prog["mvp"].write(mvp.T.tobytes())
        self.ctx.disable(self._mgl.CULL_FACE)  # visibility of every face, whatever the display pass culled
        idm[2].render(self._mgl.TRIANGLES)
        out = np.empty((h, w), np.float32)
        fbo.read_into(out, viewport=(0, 0, w, h), components=1, dtype="f4", alignment=1)
        return out.astype(np.int32) - 1
