"""Dependency-light preview renderer (painter's algorithm with PIL) for test and benchmark pictures.

The product renderer lives in render/; this only exists so garment pictures can be made anywhere, headless."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def render_meshes(
    meshes: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    size_px: tuple[int, int] = (360, 640),
    yaw_deg: float = 0.0,
    bg: tuple[int, int, int] = (250, 250, 250),
) -> np.ndarray:
    """meshes: (vertices (N,3), faces (F,3), colours (N,3) in 0..1 or (3,)); orthographic view from +z, rotated by yaw.
    Returns HxWx3 uint8."""
    w, h = size_px
    th = np.deg2rad(yaw_deg)
    rot = np.array([[np.cos(th), 0, np.sin(th)], [0, 1, 0], [-np.sin(th), 0, np.cos(th)]], np.float32)
    allv = np.concatenate([m[0] for m in meshes]) @ rot.T
    lo, hi = allv.min(0), allv.max(0)
    scale = 0.92 * min(w / max(hi[0] - lo[0], 1e-6), h / max(hi[1] - lo[1], 1e-6))
    cx, cy = (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2
    polys, depth, cols = [], [], []
    light = np.array([0.3, 0.5, 0.8], np.float32)
    light /= np.linalg.norm(light)
    for v, f, c in meshes:
        vv = v @ rot.T
        tri = vv[f]
        nrm = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        vis = nrm[:, 2] > -0.05  # cull back faces (keep grazing ones)
        shade = 0.35 + 0.65 * np.abs(nrm @ light)
        c = np.asarray(c, np.float32)
        fc = c[f].mean(1) if c.ndim == 2 else np.broadcast_to(c, (len(f), 3))
        fc = np.clip(fc * shade[:, None], 0, 1)
        xy = np.empty((len(f), 3, 2), np.float32)
        xy[..., 0] = (tri[..., 0] - cx) * scale + w / 2
        xy[..., 1] = h / 2 - (tri[..., 1] - cy) * scale
        polys.append(xy[vis])
        depth.append(tri[vis, :, 2].mean(1))
        cols.append((fc[vis] * 255).astype(np.uint8))
    xy, d, col = np.concatenate(polys), np.concatenate(depth), np.concatenate(cols)
    order = np.argsort(d)
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    for i in order:
        p = xy[i]
        draw.polygon([(p[0, 0], p[0, 1]), (p[1, 0], p[1, 1]), (p[2, 0], p[2, 1])], fill=tuple(int(x) for x in col[i]))
    return np.asarray(img)
