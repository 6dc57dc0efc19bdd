"""A 32-bit value drawn as black/white blocks across the top rows of a frame, robust to video compression.

Test clients stamp a frame counter (tests) or a millisecond clock (bench) into each input frame; with the session
option `stamp` the server copies the input's stamp into every output frame made from it, so a client can prove
which input an output belongs to and measure the round trip. An 8-bit sync word plus a cleanliness check keeps
ordinary webcam content from reading as a stamp.
"""

from __future__ import annotations

import numpy as np

SYNC_BITS = (1, 0, 1, 1, 0, 0, 1, 0)
DATA_BITS = 32
N_BLOCKS = 40  # 8 sync + 32 data


def block_px(width: int) -> int:
    return max(4, width // N_BLOCKS)


def _bits(value: int) -> list[int]:
    return [(value >> (DATA_BITS - 1 - i)) & 1 for i in range(DATA_BITS)]


def write_stamp(img: np.ndarray, value: int) -> None:
    """Draw `value` (mod 2**32) into the top `block_px(width)` rows of an HxWx3 uint8 image, in place."""
    b = block_px(img.shape[1])
    for i, bit in enumerate((*SYNC_BITS, *_bits(value & 0xFFFFFFFF))):
        img[:b, i * b : (i + 1) * b] = 255 if bit else 0


def read_stamp(img: np.ndarray) -> int | None:
    """The stamped value, or None when the top rows do not carry a clean stamp."""
    h, w = img.shape[:2]
    b = block_px(w)
    if h < b or w < b * N_BLOCKS:
        return None
    q = max(1, b // 4)
    band = img[q : b - q, : b * N_BLOCKS].astype(np.float32).mean(axis=2)  # luma-ish, rows x cols
    means = band.reshape(band.shape[0], N_BLOCKS, b)[:, :, q : b - q].mean(axis=(0, 2))
    if np.any((means > 70) & (means < 185)):
        return None
    bits = (means >= 128).astype(int).tolist()
    if tuple(bits[:8]) != SYNC_BITS:
        return None
    value = 0
    for bit in bits[8:]:
        value = (value << 1) | bit
    return value


def copy_stamp(src: np.ndarray, dst: np.ndarray) -> bool:
    """Re-draw the stamp of `src` into `dst` (which may be another size); False when `src` has none."""
    value = read_stamp(src)
    if value is None:
        return False
    write_stamp(dst, value)
    return True
