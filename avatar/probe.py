"""Probe of MediaPipe (see `fitmirror.probe`): build the pose and segmentation graph and track a frame, in a
process of its own. `python -m avatar.probe mediapipe`."""

from __future__ import annotations

import sys
import time
from typing import Any

from fitmirror.probe import ProbeFailed, probe_main


def probe_mediapipe() -> dict[str, Any]:
    import numpy as np

    from avatar.tracking import Tracker

    # a plain frame: the pose detector and the segmentation model run on it and find nobody (no person photo
    # ships with the package); a crash or a wrong-sized result is what this probe is for
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:] = (180, 170, 160)
    t0 = time.perf_counter()
    with Tracker(video=False) as t:
        build_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        tr = t.track(rgb)
        ms = (time.perf_counter() - t1) * 1000
    if tuple(tr.image_size) != (640, 480) or (tr.mask is not None and tr.mask.shape != (480, 640)):
        raise ProbeFailed(f"MediaPipe returned a result for the wrong image size ({tr.image_size})")
    import mediapipe as mp

    return {"detail": f"mediapipe {mp.__version__}: pose + segmentation graph built in {build_s:.1f} s, "
                      f"a 640x480 frame tracked in {ms:.0f} ms ({'a person' if tr.present else 'nobody'} found)"}  # fmt: skip


PROBES = {"mediapipe": probe_mediapipe}

if __name__ == "__main__":
    sys.exit(probe_main(PROBES, sys.argv[1:]))
