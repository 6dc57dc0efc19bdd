"""Codec probing shared by doctor and the server's encoder choice."""

from __future__ import annotations

import functools
from fractions import Fraction


@functools.cache
def nvenc_available() -> tuple[bool, str]:
    """Open h264_nvenc for one tiny frame: the codec being compiled into PyAV says nothing about a GPU."""
    import av
    import numpy as np

    if "h264_nvenc" not in av.codecs_available:
        return False, "PyAV build has no h264_nvenc"
    try:
        ctx = av.CodecContext.create("h264_nvenc", "w")
        ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
        ctx.time_base = Fraction(1, 30)
        ctx.open()
        frame = av.VideoFrame.from_ndarray(np.zeros((256, 256, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
        ctx.encode(frame)
        return True, "ok"
    except Exception as e:
        return False, f"no usable NVIDIA encoder ({type(e).__name__}: {str(e)[:120]})"
