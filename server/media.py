"""Media of a session: the paced output video track, webcam frames to and from numpy, the bounded microphone
buffer. aiortc track objects; nothing here knows about sessions."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction

import av
import cv2
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from render.layout import blank, label

VIDEO_CLOCK = 90_000
KEEPALIVE_S = 0.5  # an output track repeats its last image after this long without a new one


def video_frame(img: np.ndarray) -> av.VideoFrame:
    """RGB image -> the encoders' own format (yuv420p) when the size allows it (even sides), else rgb24."""
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        return av.VideoFrame.from_ndarray(img, format="rgb24")
    yuv: np.ndarray = cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420)
    return av.VideoFrame.from_ndarray(yuv, format="yuv420p")


class PacedVideoTrack(MediaStreamTrack):
    """Output track: emits the newest pipeline image at most `fps` times a second, and repeats the last image
    only as a keep-alive (KEEPALIVE_S without a new one: a stalled webcam, a slow first frame). Repeating at the
    full rate, as before, spent an encode per repeat (~40 % of the frames sent when the pipeline makes 12 fps of
    30) on pixels the viewer already shows.

    Frames go to the encoder as yuv420p converted by OpenCV (0.2 ms at 1152x384): an rgb24 frame makes the
    encoder convert it with swscale's generic path, ~7 ms of the ~11 ms per VP8 frame."""

    kind = "video"

    def __init__(self, size: tuple[int, int], fps: int, on_frame: Callable[[bool], None]) -> None:
        super().__init__()
        self._period = 1.0 / fps
        self._img = blank(size)
        label(self._img, "waiting for camera...", "top")
        self._new = asyncio.Event()
        self._last_emit: float | None = None
        self._t0: float | None = None
        self._repeating = False
        self._on_frame = on_frame
        self._cached: tuple[int, av.VideoFrame] | None = None

    def push(self, img: np.ndarray) -> None:
        self._img = img
        self._new.set()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._last_emit is not None:
            earliest = self._last_emit + 0.85 * self._period
            now = time.monotonic()
            if now < earliest:
                await asyncio.sleep(earliest - now)
            if not self._new.is_set():
                timeout = self._last_emit + max(KEEPALIVE_S, 1.5 * self._period) - time.monotonic()
                if timeout > 0:
                    try:
                        await asyncio.wait_for(self._new.wait(), timeout)
                    except TimeoutError:
                        pass
        if self.readyState != "live":
            raise MediaStreamError
        self._repeating = not self._new.is_set()
        self._new.clear()
        img = self._img
        if self._cached is not None and self._cached[0] == id(img):
            frame = self._cached[1]
        else:
            frame = video_frame(img)
            self._cached = (id(img), frame)
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        frame.pts = int((now - self._t0) * VIDEO_CLOCK)
        frame.time_base = Fraction(1, VIDEO_CLOCK)
        self._last_emit = now
        self._on_frame(self._repeating)
        return frame


class AudioBuffer:
    """Bounded buffer of 16 kHz mono int16 audio (the voice stage reads it); the oldest audio is dropped."""

    RATE = 16_000

    def __init__(self, max_s: float) -> None:
        self.max_samples = int(max_s * self.RATE)
        self.chunks: deque[np.ndarray] = deque()
        self.samples = 0
        self.dropped_samples = 0
        self.total_samples = 0

    def append(self, pcm: np.ndarray) -> None:
        self.chunks.append(pcm)
        self.samples += len(pcm)
        self.total_samples += len(pcm)
        while self.samples > self.max_samples and self.chunks:
            old = self.chunks.popleft()
            self.samples -= len(old)
            self.dropped_samples += len(old)

    def take(self) -> np.ndarray:
        if not self.chunks:
            return np.zeros(0, np.int16)
        out = np.concatenate(list(self.chunks))
        self.chunks.clear()
        self.samples = 0
        return out
