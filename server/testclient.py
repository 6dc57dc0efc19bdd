"""A real aiortc client for tests and the benchmark: a synthetic webcam whose frames carry a stamp (frame counter
or millisecond clock), N receive tracks, and the "control" data channel.

It runs in the same process as the server in tests (both need `aiortc_patches.enable_loopback_ice()` inside a
loopback-only network namespace).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from server.aiortc_patches import drain_newest
from server.stamp import read_stamp, write_stamp

CLOCK = 90_000


def now_ms32() -> int:
    return int(time.time() * 1000) & 0xFFFFFFFF


class StampedCamera(MediaStreamTrack):
    """Synthetic webcam: a moving pattern with a stamp in the top rows. mode 'counter' stamps the frame number,
    'clock' stamps wall-clock milliseconds (mod 2**32) for round-trip measurement. `stall()` pauses it."""

    kind = "video"

    def __init__(
        self,
        size: tuple[int, int] = (640, 480),
        fps: int = 30,
        mode: str = "counter",
        background: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.size, self.fps, self.mode = size, fps, mode
        self.count = 0
        self.sent_at: dict[int, float] = {}  # stamp -> time.monotonic() when produced
        self._t0: float | None = None
        self._paused = asyncio.Event()
        self._paused.set()
        w, h = size
        yy, xx = np.mgrid[0:h, 0:w]
        self._base = np.stack([(xx * 255 // w), (yy * 255 // h), np.full_like(xx, 96)], -1).astype(np.uint8)
        self._moving_box = background is None
        if background is not None:  # e.g. a person photo (HxWx3 RGB, already `size`) for the avatar pipeline
            self._base = np.ascontiguousarray(background[:h, :w])

    def stall(self, on: bool) -> None:
        if on:
            self._paused.clear()
        else:
            self._paused.set()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._paused.wait()
        if self._t0 is None:
            self._t0 = time.monotonic()
        target = self._t0 + self.count / self.fps
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self._t0 -= delay  # fell behind (stall): restart the clock rather than burst
        img = self._base.copy()
        w, h = self.size
        if self._moving_box:
            x = int((math.sin(self.count / 15) * 0.4 + 0.5) * (w - 80))
            img[h // 2 - 40 : h // 2 + 40, x : x + 80] = (230, 60, 60)
        value = self.count if self.mode == "counter" else now_ms32()
        write_stamp(img, value)
        self.sent_at[value] = time.monotonic()
        if len(self.sent_at) > 4000:
            for k in list(self.sent_at)[:1000]:
                del self.sent_at[k]
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = int(self.count * CLOCK / self.fps)
        frame.time_base = Fraction(1, CLOCK)
        self.count += 1
        return frame


class ToneMicrophone(MediaStreamTrack):
    """48 kHz stereo in 20 ms frames: a 440 Hz tone, or `speech` (16 kHz mono float32, e.g. espeak-ng output)
    played once after `delay_s` of silence and followed by silence (exercises resampling, buffer and voice)."""

    kind = "audio"

    def __init__(self, speech: np.ndarray | None = None, delay_s: float = 1.0) -> None:
        super().__init__()
        self.n = 0
        self._t0: float | None = None
        self._speech48: np.ndarray | None = None
        self._speech_start = int(delay_s * 50)
        if speech is not None:
            n48 = len(speech) * 3
            s48 = np.interp(np.arange(n48) / 3, np.arange(len(speech)), speech)
            self._speech48 = (np.clip(s48, -1, 1) * 20000).astype(np.int16)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._t0 is None:
            self._t0 = time.monotonic()
        delay = self._t0 + self.n * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if self._speech48 is None:
            t = (np.arange(960) + self.n * 960) / 48_000
            tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        else:
            i = (self.n - self._speech_start) * 960
            tone = np.zeros(960, np.int16)
            if 0 <= i < len(self._speech48):
                chunk = self._speech48[i : i + 960]
                tone[: len(chunk)] = chunk
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = 48_000
        frame.pts = self.n * 960
        frame.time_base = Fraction(1, 48_000)
        self.n += 1
        return frame


@dataclass
class Received:
    """What one remote track delivered."""

    frames: int = 0
    sizes: set[tuple[int, int]] = field(default_factory=set)
    stamps: list[tuple[float, int | None]] = field(default_factory=list)  # (monotonic, stamp)
    last: np.ndarray | None = None


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        camera: StampedCamera | None = None,
        audio: bool | np.ndarray = False,
        local_addr: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.local_addr = local_addr  # signal from this address (127.0.0.x: another client, for per-client limits)
        self.camera = camera or StampedCamera()
        self.audio = audio
        self.pc = RTCPeerConnection()
        self.received: list[Received] = []
        self.messages: list[dict[str, Any]] = []
        self.session_id: str | None = None
        self.options: dict[str, Any] = {}
        self.dc: Any = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task] = []
        self._msg_event = asyncio.Event()
        self.decode_images = True

    async def _offer(self, n_tracks: int) -> str:
        self.pc.addTrack(self.camera)
        for _ in range(n_tracks - 1):
            self.pc.addTransceiver("video", direction="recvonly")
        if self.audio is not False:
            self.pc.addTrack(ToneMicrophone(None if self.audio is True else self.audio))
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "video":
            return
        rec = Received()
        self.received.append(rec)
        self._tasks.append(asyncio.ensure_future(self._read(track, rec)))

    async def _read(self, track: MediaStreamTrack, rec: Received) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            # like a browser, show the newest decoded frame: a backlog would measure this client, not the server
            frame, skipped, _ended = drain_newest(track, frame)
            rec.frames += 1 + skipped
            rec.sizes.add((frame.width, frame.height))
            if self.decode_images:
                img = frame.to_ndarray(format="rgb24")
                rec.last = img
                rec.stamps.append((time.monotonic(), read_stamp(img)))
                del rec.stamps[:-2000]

    def _on_message(self, text: str) -> None:
        try:
            self.messages.append(json.loads(text))
        except ValueError:
            self.messages.append({"raw": text})
        self._msg_event.set()

    async def connect_http(self, options: dict[str, Any], n_tracks: int = 1, datachannel: bool = True) -> dict:
        """POST /offer; returns the JSON answer (raises on HTTP errors with the body in the message)."""
        if datachannel:
            self.dc = self.pc.createDataChannel("control")
            self.dc.on("message", self._on_message)
        sdp = await self._offer(n_tracks)
        self._http = self._session()
        async with self._http.post(
            f"{self.base_url}/offer", json={"sdp": sdp, "type": "offer", "options": options}
        ) as r:
            body = await r.json()
            if r.status != 200:
                raise HTTPError(r.status, body, dict(r.headers))
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
        self.session_id, self.options = body["session_id"], body["options"]
        if datachannel:
            await self.wait_for(lambda: self.dc.readyState == "open", 10)
        return body

    async def connect_ws(self, options: dict[str, Any], n_tracks: int = 1) -> dict:
        sdp = await self._offer(n_tracks)
        self._http = self._session()
        self.ws = await self._http.ws_connect(f"{self.base_url.replace('http', 'ws', 1)}/ws")
        await self.ws.send_json({"type": "offer", "sdp": sdp, "sdp_type": "offer", "options": options})
        msg = await self.ws.receive_json(timeout=30)
        if msg.get("type") != "answer":
            raise HTTPError(0, msg, {})
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))
        self.session_id, self.options = msg["session_id"], msg["options"]
        self._tasks.append(asyncio.ensure_future(self._ws_reader()))
        return msg

    def _session(self) -> aiohttp.ClientSession:
        if self.local_addr is None:
            return aiohttp.ClientSession()
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(self.local_addr, 0)))

    async def _ws_reader(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self._on_message(msg.data)
            else:
                break

    def send(self, obj: dict[str, Any] | str) -> None:
        text = obj if isinstance(obj, str) else json.dumps(obj)
        if self.ws is not None:
            self._tasks.append(asyncio.ensure_future(self.ws.send_str(text)))
        else:
            self.dc.send(text)

    async def request(self, obj: dict[str, Any], timeout: float = 20) -> dict[str, Any]:  # noqa: ASYNC109
        """Send a message with an id and wait for the ack or error carrying that id."""
        start = len(self.messages)
        self.send(obj)
        found: list[dict] = []

        def done() -> bool:
            found[:] = [
                m for m in self.messages[start:] if m.get("type") in ("ack", "error") and m.get("id") == obj.get("id")
            ]
            return bool(found)

        await self.wait_for(done, timeout)
        return found[0]

    async def wait_for(self, pred: Any, timeout: float) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.02)

    async def wait_frames(self, n: int, timeout: float = 20, track: int = 0) -> None:  # noqa: ASYNC109
        await self.wait_for(lambda: len(self.received) > track and self.received[track].frames >= n, timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pc.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.ws is not None:
            await self.ws.close()
        if self._http is not None:
            await self._http.close()


class HTTPError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body, self.headers = status, body, headers
