"""Overlay pictures for people to look at: the posed body drawn over the photo (flat-shaded, back-to-front
polygons with PIL; slow but dependency-free, for tests and benchmarks, not for the live path which uses
render/), tracked 2D landmarks in green and the body's projected landmarks in red."""

from __future__ import annotations

import numpy as np

from avatar.types import PosedBody, Tracking


def draw_overlay(rgb: np.ndarray, posed: PosedBody | None, tracking: Tracking | None, alpha: float = 0.55):
    from PIL import Image, ImageDraw

    base = Image.fromarray(rgb).convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    if posed is not None and posed.camera is not None:
        v = posed.vertices
        f = posed.faces
        uv = posed.camera.project(v)
        a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
        n = np.cross(b - a, c - a)
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        centre = (a + b + c) / 3
        facing = np.einsum("ij,ij->i", n, -centre) > 0
        light = np.clip(np.einsum("ij,j->i", n, np.array([0.3, 0.5, 0.8]) / 1.0), 0.15, 1.0)
        order = np.argsort(centre[:, 2])  # far (more negative z) first
        A = int(255 * alpha)
        for i in order:
            if not facing[i]:
                continue
            s = int(60 + 170 * light[i])
            d.polygon([tuple(uv[k]) for k in f[i]], fill=(s, int(s * 0.8), int(s * 0.6), A))
        if posed.landmarks_cam is not None:
            for x, y in posed.camera.project(posed.landmarks_cam)[11:]:
                d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(255, 40, 40, 255))
    if tracking is not None and tracking.present:
        for i, (x, y) in enumerate(tracking.landmarks_px):
            if tracking.visibility[i] > 0.5:
                d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(40, 255, 40, 255))
    return np.asarray(Image.alpha_composite(base, layer).convert("RGB"))


def save_png(rgb: np.ndarray, path) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path)
