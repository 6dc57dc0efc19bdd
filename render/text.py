"""Tiny label drawing in numpy (view names on mosaic tiles). Glyph masks come from Pillow's built-in bitmap
font once and are cached, so drawing a label costs a few small array operations per frame."""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def _label_mask(text: str, scale: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=11 * scale) if hasattr(ImageFont, "load_default") else None
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=font)
    img = Image.new("L", (x1 - x0 + 1, y1 - y0 + 1), 0)
    ImageDraw.Draw(img).text((-x0, -y0), text, fill=255, font=font)
    return np.asarray(img, np.float32) / 255.0


def draw_label(
    img: np.ndarray,
    text: str,
    x: int,
    y: int,
    scale: int = 1,
    fg: tuple[int, int, int] = (255, 255, 255),
    bg: tuple[int, int, int] = (40, 40, 48),
    pad: int = 4,
) -> None:
    """Draw `text` in place with its top-left corner at (x, y) on a dark box (readable on any background)."""
    m = _label_mask(text, scale)
    h, w = m.shape
    y1, x1 = min(img.shape[0], y + h + 2 * pad), min(img.shape[1], x + w + 2 * pad)
    if y1 <= y or x1 <= x:
        return
    if img.shape[2] == 4:
        img[y:y1, x:x1, 3] = 255  # transparent frames: the label box is opaque
    box = img[y:y1, x:x1, :3]
    box[:] = (box * 0.35 + np.asarray(bg, np.float32) * 0.65).astype(np.uint8)
    mh, mw = min(h, y1 - y - pad), min(w, x1 - x - pad)
    if mh <= 0 or mw <= 0:
        return
    a = m[:mh, :mw, None]
    region = box[pad : pad + mh, pad : pad + mw]
    region[:] = (region * (1 - a) + np.asarray(fg, np.float32) * a).astype(np.uint8)
