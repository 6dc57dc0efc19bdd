"""AR compositing math, no GL: blend the garment layers `Renderer.composite_ar` rendered (RGBA, webcam space) over
the webcam frame, with the person and occluder masks and the edge feathering (the occlusion rule is in
`Renderer.composite_ar`'s docstring and docs/render.md)."""

from __future__ import annotations

import numpy as np


def unit_mask(m: np.ndarray) -> np.ndarray:
    """A mask as float32 in 0..1: bool and float masks as they are, uint8 0..255 scaled (unless it is 0/1)."""
    out = m.astype(np.float32)
    if m.dtype == np.uint8 and out.max() > 1:
        out *= 1 / 255
    return out


def blend_layers(
    frame_rgb: np.ndarray,
    full: np.ndarray,
    free: np.ndarray | None = None,
    person_mask: np.ndarray | None = None,
    occluder_mask: np.ndarray | None = None,
    feather_px: int = 1,
) -> np.ndarray:
    """Blend the garments over `frame_rgb` (HxWx3 uint8). `full`: the garments as drawn with the body's depth
    (HxWx4 uint8, alpha = coverage); `free`: the same without the body's depth, given with `person_mask`, which
    restores the garment where the body cut it but the real person is not. `occluder_mask` clears the garment;
    `feather_px` fades its alpha inwards at the edges. Pixels outside the garment stay untouched. Returns a new
    HxWx3 uint8 frame."""
    h, w = frame_rgb.shape[:2]
    a = full[..., 3].astype(np.float32) * (1 / 255)
    color = full[..., :3]
    if free is not None:
        a_free = free[..., 3].astype(np.float32) * (1 / 255)
        cut = np.clip(a_free - a, 0, 1)  # garment hidden by the body
        restore = cut * (1 - unit_mask(person_mask))  # ... where the real person is not: keep the garment
        a = a + restore
        color = np.where((restore > 0)[..., None], free[..., :3], color)
    if occluder_mask is not None:
        a = a * (1 - unit_mask(occluder_mask))
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
        ab = ab * box_blur(ab, feather_px)
    region = out[y0:y1, x0:x1].astype(np.float32)
    col = color[y0:y1, x0:x1].astype(np.float32)
    ab = ab[..., None]
    out[y0:y1, x0:x1] = (region * (1 - ab) + col * ab + 0.5).astype(np.uint8)
    return out


def box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Separable box blur of radius r (edge-padded), for alpha feathering."""
    k = 2 * r + 1
    p = np.pad(a, r, mode="edge")
    c = np.cumsum(np.pad(p, ((0, 0), (1, 0))), axis=1)
    p = (c[:, k:] - c[:, :-k]) / k
    c = np.cumsum(np.pad(p, ((1, 0), (0, 0))), axis=0)
    return (c[k:] - c[:-k]) / k
