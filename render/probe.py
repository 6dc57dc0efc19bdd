"""Probe of headless OpenGL (see `fitmirror.probe`): open the EGL context the renderer uses, rasterise a
triangle and read it back, in a process of its own. `python -m render.probe egl`."""

from __future__ import annotations

import sys
import time
from typing import Any

from fitmirror.probe import ProbeFailed, probe_main


def probe_egl() -> dict[str, Any]:
    import numpy as np

    from render.cameras import Camera, look_at, perspective
    from render.renderer import Renderer

    t0 = time.perf_counter()
    r = Renderer()
    open_s = time.perf_counter() - t0
    cam = Camera(look_at(np.array([0.0, 0.0, 2.0]), np.zeros(3)), perspective(45.0, 1.0, 0.1, 10.0), 64, 64)
    tri = np.array([[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.5, 0.0]], np.float32)
    ids = r.triangle_ids(tri, np.array([[0, 1, 2]], np.int32), cam)
    if ids.shape != (64, 64) or ids[34, 32] != 0 or ids[2, 2] != -1:
        raise ProbeFailed(
            f"the rasterised triangle read back wrong (centre {ids[34, 32] if ids.ndim == 2 else '?'}, "
            f"corner {ids[2, 2] if ids.ndim == 2 else '?'}, shape {ids.shape})",
            hint="the OpenGL driver computes wrong results: reinstall libgl1-mesa-dri or the NVIDIA driver",
        )
    return {"detail": f"{r.renderer_string}: context in {open_s:.2f} s, a triangle rasterised and read back"}


PROBES = {"egl": probe_egl}

if __name__ == "__main__":
    sys.exit(probe_main(PROBES, sys.argv[1:]))
