"""The one rasteriser interface behind the differentiable path: visibility as a triangle-id image.

Everything differentiable (barycentrics, interpolation, silhouette coverage) is computed in torch from these ids
(render/diff.py), so every backend gives the same gradients; the backend only decides who rasterises.

- moderngl (default): OpenGL on headless EGL (Mesa llvmpipe on CPU, the NVIDIA EGL driver on GPU). Tested here.
- nvdiffrast: CUDA only, NVIDIA Source Code License (non-commercial use only). Refused unless
  render_backend == "nvdiffrast" AND accept_nvdiffrast_license is set. Imported lazily. NOT tested on this CPU
  machine (it has no CUDA).
- pytorch3d: when installed (built from source; no Linux wheel on PyPI). CPU rasterisation is very slow (~26 s per
  512x512 frame measured here), so it is only worth it on CUDA. Imported lazily. NOT tested here.
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np

from fitmirror.errors import ConfigError, SetupError
from render.cameras import Camera

NVDIFFRAST_LICENSE = "NVIDIA Source Code License (1-Way Commercial), non-commercial use only (section 3.3)"


class Rasterizer(Protocol):
    name: str

    def triangle_ids(self, vertices, faces, camera: Camera) -> np.ndarray:
        """(H,W) int32 index of the nearest triangle per pixel centre, -1 = background, row 0 at the top."""
        ...


class ModernglRasterizer:
    name = "moderngl"

    def __init__(self) -> None:
        from render.renderer import Renderer

        self.renderer = Renderer()
        self.renderer_string = self.renderer.renderer_string

    def triangle_ids(self, vertices, faces, camera: Camera) -> np.ndarray:
        v = vertices.detach().cpu().numpy() if hasattr(vertices, "detach") else np.asarray(vertices)
        f = faces.detach().cpu().numpy() if hasattr(faces, "detach") else np.asarray(faces)
        return self.renderer.triangle_ids(v.astype(np.float32), f.astype(np.int32), camera)


class NvdiffrastRasterizer:  # pragma: no cover - needs CUDA
    name = "nvdiffrast"

    def __init__(self) -> None:
        import torch

        try:
            import nvdiffrast.torch as dr
        except ImportError as e:
            raise SetupError("nvdiffrast is not installed", hint="pip install '.[gpu-nvdiffrast]'") from e
        if not torch.cuda.is_available():
            raise SetupError("nvdiffrast needs CUDA", hint="use render_backend=moderngl on CPU machines")
        self._dr = dr
        try:
            self.ctx = dr.RasterizeCudaContext()
        except ModuleNotFoundError as e:
            # nvdiffrast <= 0.3.3 builds its plugin with torch's JIT load() and then imports it by name, but
            # current torch loads a JIT module from its build folder without putting that folder on sys.path
            # (seen on an H100 with torch 2.11): put it there and ask again, the build is already done.
            if not (e.name or "").startswith("nvdiffrast_plugin"):
                raise
            import sys

            from torch.utils import cpp_extension

            sys.path.insert(0, cpp_extension._get_build_directory(e.name, False))
            self.ctx = dr.RasterizeCudaContext()
        self.renderer_string = f"nvdiffrast CUDA ({torch.cuda.get_device_name()})"

    def triangle_ids(self, vertices, faces, camera: Camera) -> np.ndarray:
        import torch

        v = torch.as_tensor(vertices, dtype=torch.float32, device="cuda")
        f = torch.as_tensor(faces, device="cuda").to(torch.int32).contiguous()
        mvp = torch.as_tensor(camera.mvp.T.copy(), device="cuda")
        clip = (torch.cat([v, torch.ones_like(v[:, :1])], 1) @ mvp)[None].contiguous()
        rast, _ = self._dr.rasterize(self.ctx, clip, f, (camera.height, camera.width))
        ids = rast[0, ..., 3].round().to(torch.int64) - 1  # row 0 = bottom (OpenGL)
        return ids.flip(0).to(torch.int32).cpu().numpy()


class Pytorch3dRasterizer:  # pragma: no cover - pytorch3d is not installable from PyPI here
    name = "pytorch3d"

    def __init__(self) -> None:
        try:
            from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
            from pytorch3d.structures import Meshes
        except ImportError as e:
            raise SetupError(
                "pytorch3d is not installed", hint="build it from source against your torch (see docs/render.md)"
            ) from e
        self._rasterize, self._meshes = rasterize_meshes, Meshes
        self.renderer_string = "pytorch3d rasterize_meshes"

    def triangle_ids(self, vertices, faces, camera: Camera) -> np.ndarray:
        import torch

        v = torch.as_tensor(vertices, dtype=torch.float32)
        f = torch.as_tensor(faces).to(torch.int64)
        mvp = torch.as_tensor(camera.mvp.T.copy())
        clip = torch.cat([v, torch.ones_like(v[:, :1])], 1) @ mvp
        ndc = clip[:, :2] / clip[:, 3:]
        w, h = camera.width, camera.height
        s = max(w, h) / min(w, h)  # pytorch3d NDC: the short side spans [-1, 1]
        sx, sy = (s, 1.0) if w >= h else (1.0, s)
        # pytorch3d screen NDC: +x left, +y up, z = distance in front of the camera
        pts = torch.stack([-ndc[:, 0] * sx, ndc[:, 1] * sy, clip[:, 3]], -1)
        pix_to_face, *_ = self._rasterize(self._meshes([pts], [f]), image_size=(h, w), faces_per_pixel=1)
        return pix_to_face[0, ..., 0].to(torch.int32).numpy()


_local = threading.local()


def make_rasterizer(backend: str | None = None) -> Rasterizer:
    """A new rasteriser for the configured backend (get_settings().render_backend unless given)."""
    from fitmirror.config import get_settings

    s = get_settings()
    name = backend or s.render_backend
    if name == "moderngl":
        return ModernglRasterizer()
    if name == "nvdiffrast":
        if not s.accept_nvdiffrast_license:
            raise ConfigError(
                f"nvdiffrast is under the {NVDIFFRAST_LICENSE}",
                hint="set FITMIRROR_ACCEPT_NVDIFFRAST_LICENSE=1 only if your use is non-commercial, "
                "or keep FITMIRROR_RENDER_BACKEND=moderngl",
            )
        return NvdiffrastRasterizer()
    if name == "pytorch3d":
        return Pytorch3dRasterizer()
    raise ConfigError(f"unknown render backend {name!r}", hint="moderngl, nvdiffrast or pytorch3d")


def default_rasterizer() -> Rasterizer:
    """The calling thread's rasteriser (GL contexts are thread-bound), created on first use."""
    r = getattr(_local, "rasterizer", None)
    if r is None:
        r = _local.rasterizer = make_rasterizer()
    return r
