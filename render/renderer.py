"""The display renderer: OpenGL 3.3 through moderngl on a headless EGL context (Mesa llvmpipe on CPU machines,
the NVIDIA EGL driver on GPU machines; one code path).

All views of a frame are drawn into ONE framebuffer (one viewport per view) and read back ONCE, straight into a
fresh C-contiguous numpy array (no flip, no copy: the projection is flipped so GL row 0 is the image's top row).
A GL context is bound to the thread that made it: create one `Renderer` per worker thread and use it only there."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from fitmirror.errors import InputError, RenderError, SetupError
from render.cameras import VIEW_AZIMUTH_DEG, VIEW_LABELS, Camera, CameraRig, PinholeCamera
from render.scene import Mesh, Scene
from render.text import draw_label

Layout = Literal["mosaic", "tracks", "stereo", "mirror"]
LAYOUTS: tuple[str, ...] = ("mosaic", "tracks", "stereo", "mirror")

_FLIP_Y = np.diag([1.0, -1.0, 1.0, 1.0]).astype(np.float32)  # GL bottom-up -> image top-down readback
_MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0]).astype(np.float32)

# Per-pixel studio shading (`Renderer(shading="pixel")`, and the vertex stage of custom fragment shaders).
_VS = """
#version 330
uniform mat4 mvp;
uniform mat4 view;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in vec2 in_uv;
in vec3 in_overlay;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_color;
out vec2 v_uv;
out vec3 v_overlay;
void main() {
    gl_Position = mvp * vec4(in_pos, 1.0);
    v_pos = (view * vec4(in_pos, 1.0)).xyz;
    v_normal = mat3(view) * in_normal;
    v_color = in_color;
    v_uv = in_uv;
    v_overlay = in_overlay;
}
"""

# Studio lighting in camera space, so every view reads the same way: a warm key from the upper left, a cool
# fill from the right, a rim term that separates the silhouette from the background, a little specular.
_STUDIO = """
const vec3 KEY = vec3(-0.4694, 0.5737, 0.7302);   // normalize(-0.45, 0.55, 0.70)
const vec3 FILL = vec3(0.8062, 0.0537, 0.5912);   // normalize(0.75, 0.05, 0.55)
// (shaded colour) = mul * texture + add: mul carries the diffuse light (times the overlay's complement),
// add the rim, specular and fit-map overlay, which the texture does not tint
void studio(vec3 pos, vec3 normal, vec3 color, vec3 overlay, float overlay_alpha, float shininess,
            out vec3 mul, out vec3 add) {
    vec3 n = normalize(normal);
    vec3 v = normalize(-pos);
    float nv = dot(n, v);
    if (nv < 0.0) { n = -n; nv = -nv; }  // two-sided: cloth interiors
    float kd = max(dot(n, KEY), 0.0);
    float fd = max(dot(n, FILL), 0.0);
    vec3 light = vec3(0.30, 0.30, 0.33) + kd * vec3(0.72, 0.70, 0.66) + fd * vec3(0.255, 0.27, 0.30);
    float r = 1.0 - nv;
    float rim = 0.30 * r * r * r;
    float sh = max(dot(n, normalize(KEY + v)), 0.0);  // Blinn-Phong, exponent 24 by squaring
    float s2 = sh * sh; float s8 = s2 * s2; s8 *= s8;
    float spec = shininess * s8 * s8 * s8;
    float keep = 1.0 - overlay_alpha;
    mul = keep * color * light;
    add = keep * vec3(rim + spec) + overlay_alpha * (overlay * (0.45 + 0.55 * kd) + vec3(0.5 * rim));
}
"""

_FS = (
    """
#version 330
uniform bool use_texture;
uniform sampler2D tex;
uniform float overlay_alpha;
uniform float shininess;
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_color;
in vec2 v_uv;
in vec3 v_overlay;
out vec4 frag;
"""
    + _STUDIO
    + """
void main() {
    vec3 mul, add;
    studio(v_pos, v_normal, v_color, v_overlay, overlay_alpha, shininess, mul, add);
    if (use_texture) mul *= texture(tex, v_uv).rgb;
    frag = vec4(clamp(mul + add, 0.0, 1.0), 1.0);
}
"""
)

# The default (`shading="vertex"`): the same studio lighting evaluated per vertex (Gouraud) and interpolated as one
# colour (untextured) or two plus the UVs (textured). On llvmpipe the per-triangle set-up and binning cost grows
# with the number of interpolated values (five vectors per pixel-shaded vertex, one here) and the fragment shader
# shrinks to a copy; the triangles are a few pixels wide at 512 px per view, so the picture is nearly the same
# (docs/render.md).
_VS_LIT = (
    """
#version 330
uniform mat4 mvp;
uniform mat4 view;
uniform float overlay_alpha;
uniform float shininess;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in vec3 in_overlay;
#ifdef TEXTURED
in vec2 in_uv;
out vec4 v_mul_u;  // (mul, u) and (add, v): two interpolated vectors, not three
out vec4 v_add_v;
#else
out vec3 v_rgb;
#endif
"""
    + _STUDIO
    + """
void main() {
    gl_Position = mvp * vec4(in_pos, 1.0);
    vec3 p = (view * vec4(in_pos, 1.0)).xyz;
    vec3 mul, add;
    studio(p, mat3(view) * in_normal, in_color, in_overlay, overlay_alpha, shininess, mul, add);
#ifdef TEXTURED
    v_mul_u = vec4(mul, in_uv.x);
    v_add_v = vec4(add, in_uv.y);
#else
    v_rgb = clamp(mul + add, 0.0, 1.0);  // one interpolated colour: the least set-up work per triangle
#endif
}
"""
)
_FS_LIT = """
#version 330
#ifdef TEXTURED
uniform sampler2D tex;
in vec4 v_mul_u;
in vec4 v_add_v;
#else
in vec3 v_rgb;
#endif
out vec4 frag;
void main() {
#ifdef TEXTURED
    vec3 t = texture(tex, vec2(v_mul_u.w, v_add_v.w)).rgb;
    frag = vec4(clamp(v_mul_u.rgb * t + v_add_v.rgb, 0.0, 1.0), 1.0);
#else
    frag = vec4(v_rgb, 1.0);
#endif
}
"""


def _variant(src: str, textured: bool) -> str:
    """Insert `#define TEXTURED` after the #version line."""
    if not textured:
        return src
    head, _, rest = src.strip().partition("\n")
    return f"{head}\n#define TEXTURED\n{rest}"


# The cheapest useful shading (one head-on light): the benchmark's reference for what the studio shading costs.
LAMBERT_FS = """
#version 330
in vec3 v_normal;
in vec3 v_color;
out vec4 frag;
void main() { frag = vec4(v_color * (0.3 + 0.7 * abs(normalize(v_normal).z)), 1.0); }
"""

_ID_VS = """
#version 330
uniform mat4 mvp;
in vec3 in_pos;
void main() { gl_Position = mvp * vec4(in_pos, 1.0); }
"""
_ID_FS = """
#version 330
out float tri_id;  // float32 holds ids exactly up to 2^24 triangles; float buffers clear portably
void main() { tri_id = float(gl_PrimitiveID + 1); }
"""
# depth-only occluders (the AR body): no lighting, no interpolated values
_DEPTH_FS = """
#version 330
out vec4 frag;
void main() { frag = vec4(0.0); }
"""


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


@dataclass
class _GpuMesh:
    n_verts: int
    faces_ref: np.ndarray
    perm: np.ndarray  # GPU vertex i is the mesh's vertex perm[i] (`_cache_order`)
    faces_gpu: np.ndarray  # the faces in GPU order and numbering
    buffers: dict
    refs: dict
    texture: object | None = None
    vaos: dict = field(default_factory=dict)  # program key -> vertex array over the same buffers


class _NormalCache:
    """Area-weighted vertex normals through a cached sparse vertex-face incidence matrix (about 1 ms for 14k
    vertices, against ~8 ms for np.add.at)."""

    def __init__(self) -> None:
        self._faces: np.ndarray | None = None
        self._m = None
        self._corners: np.ndarray | None = None

    def normals(self, v: np.ndarray, f: np.ndarray) -> np.ndarray:
        if self._m is None or self._m.shape[0] != len(v) or not _same_faces(self._faces, f):
            import scipy.sparse as sp

            rows = f.reshape(-1).astype(np.int64)
            cols = np.repeat(np.arange(len(f)), 3)
            self._m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(v), len(f)))
            self._corners = np.ascontiguousarray(f.T, dtype=np.intp)
        self._faces = f
        # coordinate rows (3, N): np.take and the cross product then run on contiguous rows (~2x np.cross on (F, 3)
        # rows gathered by fancy indexing)
        vt = np.ascontiguousarray(v.T)
        a, b, c = (np.take(vt, i, axis=1) for i in self._corners)
        b -= a
        c -= a
        fn = np.empty((len(f), 3), np.float32)  # length = 2 * area: area weighting for free; the shader normalises
        fn[:, 0] = b[1] * c[2] - b[2] * c[1]
        fn[:, 1] = b[2] * c[0] - b[0] * c[2]
        fn[:, 2] = b[0] * c[1] - b[1] * c[0]
        return np.ascontiguousarray(self._m @ fn, dtype=np.float32)


MAX_CACHED_MESHES = 64  # more meshes than this in ONE scene would evict mid-frame
MAX_CACHED_FRAMEBUFFERS = 8


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


def _same_faces(a: np.ndarray | None, b: np.ndarray) -> bool:
    """Same topology? Identity first; equal content also counts (callers often rebuild the array per frame)."""
    return a is b or (a is not None and a.shape == b.shape and np.array_equal(a, b))


def _morton3(q: np.ndarray) -> np.ndarray:
    """Interleave the bits of three 10-bit integer coordinates (N,3) into Morton codes."""
    out = np.zeros(len(q), np.int64)
    for axis in range(3):
        x = q[:, axis].astype(np.int64) & 0x3FF
        x = (x | (x << 16)) & 0x30000FF
        x = (x | (x << 8)) & 0x300F00F
        x = (x | (x << 4)) & 0x30C30C3
        x = (x | (x << 2)) & 0x9249249
        out |= x << axis
    return out


def _cache_order(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A vertex-cache-friendly order, once per topology: faces sorted along a Morton curve through their centroids,
    vertices renumbered by first use. llvmpipe shades vertices through a small direct-mapped cache per batch; this
    cuts re-shaded vertices (ACMR 0.91 -> 0.62 on anny's body) and the body's draw calls by ~15 %. Returns
    (perm, faces): GPU vertex i is v[perm[i]]; faces index GPU vertices."""
    if len(f) == 0:
        return np.arange(len(v), dtype=np.intp), f
    if f.min() < 0 or f.max() >= len(v):
        raise InputError(f"faces index vertices outside 0..{len(v) - 1}")
    c = v[f].mean(1)
    lo, hi = c.min(0), c.max(0)
    q = ((c - lo) / np.maximum(hi - lo, 1e-9) * 1023).astype(np.int64)
    fs = f[np.argsort(_morton3(q), kind="stable")]
    flat = fs.reshape(-1)
    _, first = np.unique(flat, return_index=True)  # first use of each used vertex, by vertex id
    used = np.unique(flat)
    perm = used[np.argsort(first, kind="stable")]
    unused = np.setdiff1d(np.arange(len(v)), used)  # kept at the end, so every vertex has a GPU slot
    perm = np.concatenate([perm, unused]).astype(np.intp)
    inv = np.empty(len(v), np.int64)
    inv[perm] = np.arange(len(v))
    return perm, inv[fs]


def _index_dtype(n_verts: int) -> type:
    """16-bit indices when they fit (anny's body has 13,718 vertices): less for llvmpipe to fetch per triangle."""
    return np.uint16 if n_verts <= 65536 else np.uint32


def mosaic_grid(n: int) -> tuple[int, int]:
    """(cols, rows) for n tiles: one row up to 3, then two rows."""
    if n <= 3:
        return n, 1
    cols = math.ceil(n / 2)
    return cols, 2


class Renderer:
    """moderngl/EGL display renderer. Not thread-safe: use it only in the thread that created it.
    `shading`: "vertex" (default) evaluates the studio lighting per vertex, the cheapest on llvmpipe; "pixel" per
    fragment (crisper highlights, free on a GPU). `fragment_shader` replaces the studio shading with a per-pixel
    shader (same inputs as `_FS`; `LAMBERT_FS` is the cheap reference).
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
            self.prog = self.ctx.program(vertex_shader=_VS, fragment_shader=fragment_shader or _FS)
            self._progs = {"plain": self.prog, "textured": self.prog}
        else:
            self.prog = self.ctx.program(vertex_shader=_VS_LIT, fragment_shader=_FS_LIT)
            self._progs = {
                "plain": self.prog,
                "textured": self.ctx.program(
                    vertex_shader=_variant(_VS_LIT, True), fragment_shader=_variant(_FS_LIT, True)
                ),
            }
        self._progs["depth"] = self.ctx.program(vertex_shader=_ID_VS, fragment_shader=_DEPTH_FS)
        self.id_prog = self.ctx.program(vertex_shader=_ID_VS, fragment_shader=_ID_FS)
        # bounded caches (LRU): garments come and go with outfit changes, sizes with layout changes
        self._meshes: OrderedDict[str, _GpuMesh] = OrderedDict()
        self._normals: dict[str, _NormalCache] = {}
        self._fbos: OrderedDict[tuple, object] = OrderedDict()
        self._id_mesh: tuple | None = None
        self._staging: dict[tuple[int, int], np.ndarray] = {}  # RGBA readback buffer, reused
        self.renderer_string = f"{self.ctx.info['GL_RENDERER']} / {self.ctx.info['GL_VERSION']}"

    # -- resources ----------------------------------------------------------------------------------------
    def close(self) -> None:
        self._check_thread()
        for fbo in self._fbos.values():
            for a in (*fbo.color_attachments, fbo.depth_attachment):
                a.release()
            fbo.release()
        self._fbos.clear()
        for gm in self._meshes.values():
            self._release_mesh(gm)
        self._meshes.clear()
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

    def _fbo(self, w: int, h: int, kind: str = "rgba"):
        key = (w, h, kind)
        fbo = self._fbos.get(key)
        if fbo is not None:
            self._fbos.move_to_end(key)
        else:
            while len(self._fbos) >= MAX_CACHED_FRAMEBUFFERS:
                _, old = self._fbos.popitem(last=False)
                for a in (*old.color_attachments, old.depth_attachment):
                    a.release()
                old.release()
            if w <= 0 or h <= 0 or max(w, h) > 8192:
                raise InputError(f"bad render size {w}x{h}")
            if kind == "ids":
                depth = self.ctx.depth_renderbuffer((w, h))
                color = self.ctx.renderbuffer((w, h), components=1, dtype="f4")
            elif kind == "msaa":
                depth = self.ctx.depth_renderbuffer((w, h), samples=self.msaa_samples)
                color = self.ctx.renderbuffer((w, h), components=4, samples=self.msaa_samples)
            else:
                depth = self.ctx.depth_renderbuffer((w, h))
                color = self.ctx.renderbuffer((w, h), components=4)
            fbo = self._fbos[key] = self.ctx.framebuffer(color_attachments=[color], depth_attachment=depth)
        return fbo

    def _release_mesh(self, gm: _GpuMesh) -> None:
        for vao in gm.vaos.values():
            vao.release()
        for b in gm.buffers.values():
            b.release()
        if gm.texture is not None:
            gm.texture.release()

    @staticmethod
    def _changed(gm: _GpuMesh, key: str, arr: np.ndarray) -> bool:
        """Record and report whether `arr` differs from what was last uploaded under `key`."""
        last = gm.refs.get(key)
        if last is not None and (last[0] is arr or (last[1].shape == arr.shape and np.array_equal(last[1], arr))):
            gm.refs[key] = (arr, last[1])
            return False
        gm.refs[key] = (arr, np.array(arr, copy=True))
        return True

    def _upload(self, mesh: Mesh) -> _GpuMesh:
        """Create or update the GPU copy of a mesh; vertices every call, the rest only when replaced."""
        mesh.validate()
        n = len(mesh.vertices)
        gm = self._meshes.get(mesh.name)
        if gm is not None:
            self._meshes.move_to_end(mesh.name)
        else:
            while len(self._meshes) >= MAX_CACHED_MESHES:
                name, old = self._meshes.popitem(last=False)
                self._release_mesh(old)
                self._normals.pop(name, None)
        if gm is not None and (gm.n_verts != n or not _same_faces(gm.faces_ref, mesh.faces)):
            self._release_mesh(gm)
            gm = None
        if gm is not None:
            gm.faces_ref = mesh.faces
        v = np.asarray(mesh.vertices)
        if gm is None:
            perm, faces_gpu = _cache_order(v, mesh.faces)
            faces_gpu = np.ascontiguousarray(faces_gpu, dtype=_index_dtype(n))
        else:
            perm, faces_gpu = gm.perm, gm.faces_gpu
        v = np.ascontiguousarray(np.take(v, perm, axis=0), dtype=np.float32)  # GPU order
        nrm = self._normals.setdefault(mesh.name, _NormalCache()).normals(v, faces_gpu)
        if gm is None:
            ctx = self.ctx
            bufs = {
                "pos": ctx.buffer(v.tobytes()),
                "nrm": ctx.buffer(nrm.tobytes()),
                "col": ctx.buffer(reserve=n * 12),
                "uv": ctx.buffer(reserve=n * 8),
                "ovl": ctx.buffer(reserve=n * 12),
                "idx": ctx.buffer(faces_gpu.tobytes()),
            }
            gm = self._meshes[mesh.name] = _GpuMesh(n, mesh.faces, perm, faces_gpu, bufs, {})
        else:
            gm.buffers["pos"].write(v.tobytes())
            gm.buffers["nrm"].write(nrm.tobytes())
        # colours (or the base colour), UVs + texture, overlay: re-upload only when changed. The same array object
        # counts as unchanged (in-place edits are not detected); a new object is compared with the last upload.
        if mesh.colors is not None:
            col = mesh.colors
        else:
            base = gm.refs.get("base")  # one tiled array per base colour, so that an unchanged colour is no compare
            if base is None or base[0] != tuple(mesh.base_color):
                base = gm.refs["base"] = (tuple(mesh.base_color), np.tile(np.float32(mesh.base_color), (n, 1)))
            col = base[1]
        if self._changed(gm, "col", col):
            gm.buffers["col"].write(self._gpu_order(gm, col))
        if mesh.uvs is not None and self._changed(gm, "uv", mesh.uvs):
            gm.buffers["uv"].write(self._gpu_order(gm, mesh.uvs))
        if mesh.texture is not None and self._changed(gm, "tex", mesh.texture):
            if gm.texture is not None:
                gm.texture.release()
            t = np.ascontiguousarray(mesh.texture[::-1])  # GL textures start at the bottom row (v up)
            gm.texture = self.ctx.texture((t.shape[1], t.shape[0]), 3, t.tobytes(), alignment=1)
            gm.texture.build_mipmaps()
            # bilinear within the nearest mip level: trilinear's second level cost llvmpipe ~1.5-2 ms a frame
            # (3 views of t-shirt + jeans at 384 px: 17.4-18.4 -> 14.4-17.5 ms) for a mean difference of 0.03 levels
            gm.texture.filter = (self._mgl.LINEAR_MIPMAP_NEAREST, self._mgl.LINEAR)
        if mesh.overlay is not None and self._changed(gm, "ovl", mesh.overlay):
            gm.buffers["ovl"].write(self._gpu_order(gm, mesh.overlay))
        return gm

    @staticmethod
    def _gpu_order(gm: _GpuMesh, a: np.ndarray) -> bytes:
        """Per-vertex attribute rows in GPU vertex order, as float32 bytes."""
        return np.ascontiguousarray(np.take(np.asarray(a), gm.perm, axis=0), dtype=np.float32).tobytes()

    def _vao(self, gm: _GpuMesh, key: str):
        """The mesh's vertex array for program `key` (plain, textured or depth), made on first use."""
        vao = gm.vaos.get(key)
        if vao is None:
            b = gm.buffers
            attrs = [(b["pos"], "3f", "in_pos")]
            if key != "depth":
                attrs += [(b["nrm"], "3f", "in_normal"), (b["col"], "3f", "in_color"), (b["ovl"], "3f", "in_overlay")]
                attrs.append((b["uv"], "2f", "in_uv"))
            vao = gm.vaos[key] = self.ctx.vertex_array(
                self._progs[key],
                attrs,
                index_buffer=b["idx"],
                index_element_size=np.dtype(_index_dtype(gm.n_verts)).itemsize,
                skip_errors=True,  # a shader may leave attributes unused (compiled out)
            )
        return vao

    # -- drawing ------------------------------------------------------------------------------------------
    def _draw_meshes(self, fbo, gms: list[tuple[Mesh, _GpuMesh]], cam: Camera, flip: np.ndarray) -> None:
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
                self._vao(g, "depth").render(self._mgl.TRIANGLES)
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
            self._vao(g, key).render(self._mgl.TRIANGLES)
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
        fbo = self._fbo(w, h, "msaa" if self.msaa_samples else "rgba")
        fbo.use()
        self._clear(fbo, scene.background)
        self._flush()  # the worker threads clear the framebuffer while this thread computes normals and uploads
        gms = [(m, self._upload(m)) for m in scene.meshes if len(m.faces)]  # GL buffers cannot be empty
        flip = _FLIP_Y @ _MIRROR if mirror else _FLIP_Y
        occluders = occluders or [True] * len(cams)
        only_visible = [(m, g) for m, g in gms if m.visible]
        for cam, (x, y), occ in zip(cams, tiles, occluders, strict=True):
            self.ctx.viewport = (x, y, cam.width, cam.height)  # y counts from the top: the projection is flipped
            self._draw_meshes(fbo, gms if occ else only_visible, cam, flip)
        if self.msaa_samples:
            resolved = self._fbo(w, h)
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
        two_layers = person_mask is not None and any(not m.visible for m in scene.meshes)
        if two_layers:  # with and without the body's depth, side by side: one pass, one readback
            both = self.render_cameras(layer_scene, [cam, cam], [(0, 0), (w, 0)], (2 * w, h), occluders=[True, False])
            full, free = both[:, :w], both[:, w:]
        else:
            full = self.render_cameras(layer_scene, [cam], [(0, 0)], (w, h))  # garments + body depth
        a = full[..., 3].astype(np.float32) * (1 / 255)
        color = full[..., :3]
        if two_layers:
            a_free = free[..., 3].astype(np.float32) * (1 / 255)
            cut = np.clip(a_free - a, 0, 1)  # garment hidden by the body
            pm = person_mask.astype(np.float32)
            if person_mask.dtype == np.uint8 and pm.max() > 1:
                pm *= 1 / 255
            restore = cut * (1 - pm)  # ... where the real person is not: keep the garment
            a = a + restore
            color = np.where((restore > 0)[..., None], free[..., :3], color)
        if occluder_mask is not None:
            om = occluder_mask.astype(np.float32)
            if occluder_mask.dtype == np.uint8 and om.max() > 1:
                om *= 1 / 255
            a = a * (1 - om)
        out = frame_rgb.copy()
        ys, xs = np.nonzero(a > 0)
        if len(ys) == 0:
            return out
        pad = feather_px + 1
        y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
        ab = a[y0:y1, x0:x1]
        if feather_px > 0:
            # fade inwards only: pixels outside the garment have no garment colour to blend (and stay untouched)
            ab = ab * _box_blur(ab, feather_px)
        region = out[y0:y1, x0:x1].astype(np.float32)
        col = color[y0:y1, x0:x1].astype(np.float32)
        ab = ab[..., None]
        out[y0:y1, x0:x1] = (region * (1 - ab) + col * ab + 0.5).astype(np.uint8)
        return out

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
        fbo = self._fbo(w, h, "ids")
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


def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Separable box blur of radius r (edge-padded), for alpha feathering."""
    k = 2 * r + 1
    p = np.pad(a, r, mode="edge")
    c = np.cumsum(np.pad(p, ((0, 0), (1, 0))), axis=1)
    p = (c[:, k:] - c[:, :-k]) / k
    c = np.cumsum(np.pad(p, ((1, 0), (0, 0))), axis=0)
    return (c[k:] - c[:-k]) / k
