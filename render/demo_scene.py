"""A stand-alone scene to render without the avatar stages: the anny body in its rest pose plus two stand-in
garments (offset copies of its torso). `fitmirror render` (render/cli.py) draws it to check the renderer on a
machine; the render tests and the benchmarks (benchmarks/render.py, benchmarks/server.py, scripts/gpu_check.py)
time and check against it."""

from __future__ import annotations

import os

import numpy as np

from render.scene import Mesh, Scene


def anny_scene() -> tuple[Scene, np.ndarray, np.ndarray]:
    """Body + two stand-in garments in world space (metres, y up, facing +z). Returns (scene, body_v, body_f)."""
    from fitmirror.config import get_settings

    os.environ.setdefault("ANNY_CACHE_DIR", str(get_settings().anny_cache_dir))
    import anny
    import torch

    model = anny.Anny().to(dtype=torch.float32)
    with torch.no_grad():
        v = model()["vertices"][0].numpy()
    f = model.faces.numpy().astype(np.int32)
    v = np.stack([v[:, 0], v[:, 2], -v[:, 1]], -1).astype(np.float32)  # anny: z up, facing -y
    v[:, 1] -= v[:, 1].min()  # feet on the floor
    body = Mesh("body", v, f, base_color=(0.87, 0.72, 0.62), double_sided=False)  # closed, CCW outwards
    return Scene([body, *stand_in_garments(v, f)]), v, f


def stand_in_garments(v: np.ndarray, f: np.ndarray) -> list[Mesh]:
    """Two offset copies of the torso region (a shirt and a looser jacket) until real garments are wired in."""
    h = v[:, 1].max()
    torso = (v[:, 1] > 0.4 * h) & (v[:, 1] < 0.84 * h) & (np.abs(v[:, 0]) < 0.21 * h)
    keep = torso[f].all(1)
    sub = f[keep]
    used = np.unique(sub)
    remap = np.full(len(v), -1, np.int32)
    remap[used] = np.arange(len(used))
    faces = remap[sub]
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    fn = np.cross(b - a, c - a)
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    vn /= np.linalg.norm(vn, axis=1, keepdims=True) + 1e-12
    out = []
    for name, off, col in (("shirt", 0.012, (0.85, 0.1, 0.12)), ("jacket", 0.03, (0.15, 0.22, 0.45))):
        gv = (v[used] + off * vn[used]).astype(np.float32)
        out.append(Mesh(name, gv, faces.copy(), colors=np.tile(np.float32(col), (len(gv), 1))))
    return out
