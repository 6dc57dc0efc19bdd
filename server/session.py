"""One WebRTC session: webcam (and microphone) in, paced rendered video out, a validated control channel.

Design rules (see docs/server.md): always process the newest webcam frame (aiortc's receive queue is drained),
run the pipeline on this session's single worker thread, emit output at a steady rate repeating the last good
image when the webcam stalls, bound every buffer, and release every task, thread and track on close.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av
import cv2
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from fitmirror.catalog import CatalogIndex
from fitmirror.config import Settings
from fitmirror.errors import CapacityError, FitmirrorError, InputError, RateLimitError
from fitmirror.frame import FrameIn, PipelineResult, RenderState
from fitmirror.log import session_id_var
from render.layout import blank, label, n_tracks, output_sizes
from server import protocol as P
from server.aiortc_patches import drain_newest
from server.pipeline import Pipeline, build_pipeline
from server.state import ActionRefused, SessionState, demo_outfit_items

if TYPE_CHECKING:
    from server.catalog_db import CatalogDB
    from server.metrics import Metrics

log = logging.getLogger("fitmirror.server.session")

Reply = Callable[[str], Awaitable[None]]
CONTROL_QUEUE = 32
FLOOD_ERRORS = 20  # rate-limited messages answered with an error before we stop answering
FLOOD_CLOSE = 400  # rate-limited messages after which the session is closed
VIDEO_CLOCK = 90_000
MAX_VOICE_PENDING = 3  # spoken commands parsed at once per session; more get a "busy" error


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate, self.burst = rate_per_s, burst
        self.tokens, self.t = burst, time.monotonic()

    @classmethod
    def for_messages(cls, rate_per_s: float) -> TokenBucket:
        """The control channel's limit (before and after the offer): a burst of two seconds' worth, at least 4."""
        return cls(rate_per_s, max(4.0, 2 * rate_per_s))

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class RateMeter:
    """Events per second over the last few seconds."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window = window_s
        self.times: deque[float] = deque(maxlen=512)

    def tick(self, n: int = 1) -> None:
        now = time.monotonic()
        for _ in range(min(n, 8)):
            self.times.append(now)

    def rate(self) -> float:
        now = time.monotonic()
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(1e-3, now - self.times[0])


KEEPALIVE_S = 0.5  # an output track repeats its last image after this long without a new one


def video_frame(img: np.ndarray) -> av.VideoFrame:
    """RGB image -> the encoders' own format (yuv420p) when the size allows it (even sides), else rgb24."""
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        return av.VideoFrame.from_ndarray(img, format="rgb24")
    return av.VideoFrame.from_ndarray(cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420), format="yuv420p")


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


def parse_ice_servers(spec: str) -> list[RTCIceServer]:
    """'stun:host:3478,turn:user:pass@host:3478' -> RTCIceServer list."""
    servers = []
    for url in filter(None, (u.strip() for u in spec.split(","))):
        m = re.match(r"^(turns?):([^:@]+):([^@]+)@(.+)$", url)
        if m:
            servers.append(RTCIceServer(urls=f"{m[1]}:{m[4]}", username=m[2], credential=m[3]))
        else:
            servers.append(RTCIceServer(urls=url))
    return servers


def munge_answer(sdp: str, min_kbps: int, max_kbps: int) -> str:
    """Add x-google-{min,start,max}-bitrate to the video fmtp lines so browsers send the webcam fast enough
    (aiortc's REMB estimate otherwise starves the uplink; see notes/stack-webrtc.md)."""
    if not min_kbps and not max_kbps:
        return sdp
    params = []
    if min_kbps:
        params += [f"x-google-min-bitrate={min_kbps}", f"x-google-start-bitrate={min_kbps}"]
    if max_kbps:
        params.append(f"x-google-max-bitrate={max_kbps}")
    extra = ";".join(params)
    lines = sdp.split("\r\n")
    video_pts: set[str] = set()
    in_video = False
    for line in lines:
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and line.startswith("a=rtpmap:"):
            pt, codec = line[9:].split(" ", 1)
            if codec.upper().startswith(("VP8/", "H264/")):
                video_pts.add(pt)
    out, in_video, have_fmtp = [], False, set()
    for line in lines:
        if line.startswith("a=fmtp:") and line[7:].split(" ", 1)[0] in video_pts:
            line = f"{line};{extra}"
            have_fmtp.add(line[7:].split(" ", 1)[0])
        out.append(line)
        if line.startswith("a=rtpmap:") and line[9:].split(" ", 1)[0] in video_pts:
            pt = line[9:].split(" ", 1)[0]
            if f"a=fmtp:{pt} " not in sdp:
                out.append(f"a=fmtp:{pt} {extra}")
    return "\r\n".join(out)


def check_offer(sdp: str, layout: str, n_views: int, s: Settings) -> None:
    """Cheap checks before any resources are taken (so bad offers get a 400 even when the server is full)."""
    if len(sdp.encode()) > s.max_sdp_bytes:
        raise InputError(f"SDP offer of {len(sdp)} bytes exceeds the limit of {s.max_sdp_bytes} bytes")
    if not sdp.startswith("v=0"):
        raise InputError("malformed SDP offer: it must start with 'v=0'")
    if not re.search(r"^a=fingerprint:[\w-]+ [0-9A-Fa-f:]{32,}\s*$", sdp, re.M):
        raise InputError(
            "the SDP offer has no DTLS fingerprint (a=fingerprint): media would not be encrypted",
            hint="send the offer your WebRTC stack made (browsers and aiortc include the fingerprint)",
        )
    n_video = len(re.findall(r"^m=video ", sdp, re.M))
    if not n_video:
        raise InputError("malformed SDP offer: it has no video m-line", hint="add the webcam track (sendrecv video)")
    n_out = n_tracks(layout, n_views)
    if n_video < n_out:
        raise InputError(
            f"layout '{layout}' with {n_out} views needs {n_out} video transceivers, the offer has {n_video}",
            hint="add one sendrecv transceiver for the webcam plus recvonly video transceivers for the other views",
        )


class Session:
    def __init__(self, manager: SessionManager, options: P.SessionOptions) -> None:
        s = manager.settings
        self.manager = manager
        self.settings: Settings = s
        self.metrics: Metrics = manager.metrics
        self.id = uuid.uuid4().hex[:12]
        self.client = ""  # the client's address (per-client limits), set by SessionManager.reserve
        self.options = options
        views = tuple(options.views or s.views)
        layout = options.layout or s.default_layout
        size = options.resolution or ((640, 480) if layout == "mirror" else (s.view_size_px, s.view_size_px))
        self.fps = options.fps or s.output_fps
        self.state = SessionState(
            views=views, layout=layout, view_size=size, stamp=options.stamp, catalog=manager.catalog_index
        )
        if options.pipeline == "avatar":  # the demo: dressed within seconds of connecting
            self.state.outfit = copy.deepcopy(manager.demo_outfit)
        self.created = time.monotonic()
        self.last_activity = self.created
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=parse_ice_servers(s.ice_servers)))
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fm-session-{self.id}")
        self.pipeline: Pipeline | None = None
        self.out_tracks = [
            PacedVideoTrack(sz, self.fps, self._on_frame_out) for sz in output_sizes(layout, views, size)
        ]
        self.audio = AudioBuffer(s.audio_buffer_s)
        self.tasks: set[asyncio.Task] = set()
        self.replies: list[Reply] = []  # open control channels (ws, data channel)
        self.bucket = TokenBucket.for_messages(s.max_messages_per_s)
        self.control_q: asyncio.Queue[tuple[str | bytes, Reply]] = asyncio.Queue(maxsize=CONTROL_QUEUE)
        self.rejected = 0
        self.closing = False
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.connected = False
        self.fps_in, self.fps_out = RateMeter(), RateMeter()
        self.drops = 0
        self.proc_ms: deque[float] = deque(maxlen=120)
        self.stage_ms: dict[str, float] = {}
        self.person_present: bool | None = None
        self.pipeline_errors = 0
        self.last_stage_error: str | None = None
        self.voice: Any = None  # server.voice.VoiceChannel, started with the first audio
        self.voice_count = 0
        self._cmd_seq = 0  # commands started, in arrival order
        self._applied_seq = 0  # the newest command whose actions were applied
        self.voice_pending = 0  # spoken commands still being parsed (bounded: MAX_VOICE_PENDING)

    # --- setup -------------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        task.set_name(f"fm-{self.id}-{name}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def start(self, sdp: str, sdp_type: str) -> str:
        """Negotiate: returns the answer SDP. Raises InputError for offers we cannot serve."""
        s = self.settings
        check_offer(sdp, self.state.layout, len(self.state.views), s)
        loop = asyncio.get_running_loop()
        self.pipeline = await loop.run_in_executor(self.worker, build_pipeline, self.options.pipeline)
        pc = self.pc
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)
        codec = self.options.codec or s.video_codec
        caps = None
        if codec != "auto":
            mime = {"vp8": "video/VP8", "h264": "video/H264"}[codec]
            caps = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in (mime, "video/rtx")]
        # transceivers created before the remote description bind to the offer's video m-lines in order
        for track in self.out_tracks:
            transceiver = pc.addTransceiver(track, direction="sendrecv")
            if caps:
                transceiver.setCodecPreferences(caps)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))
        except Exception as e:
            if "send parameters" in str(e):
                raise InputError(
                    f"no common video codec: the server sends {'VP8 or H.264' if codec == 'auto' else codec.upper()}",
                    hint="offer VP8 or H.264 (packetization-mode 1) for the video",
                ) from None
            raise InputError(f"malformed SDP offer: {type(e).__name__}: {str(e)[:200]}") from None
        try:
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except Exception as e:
            raise InputError(
                f"cannot answer this offer: {str(e)[:200]}",
                hint="the server sends VP8 or H.264 (packetization-mode 1) video",
            ) from None
        local = pc.localDescription.sdp
        if not re.search(r"^m=video [1-9]", local, re.M) or not re.search(r"a=rtpmap:\d+ (VP8|H264)/", local):
            raise InputError(
                "no common video codec: the server sends VP8 or H.264", hint="offer VP8 or H.264 for the video"
            )
        self._spawn(self._watchdog(), "watchdog")
        self._spawn(self._control_loop(), "control")
        self._spawn(self._stats_loop(), "stats")
        return munge_answer(local, s.uplink_min_bitrate_kbps, s.uplink_max_bitrate_kbps)

    def attach_channel(self, reply: Reply) -> None:
        self.replies.append(reply)

    def detach_channel(self, reply: Reply) -> None:
        if reply in self.replies:
            self.replies.remove(reply)

    # --- peer connection events ----------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and not any(t.get_name().endswith("-video") for t in self.tasks):
            self._spawn(self._video_loop(track), "video")
        elif track.kind == "audio" and not any(t.get_name().endswith("-audio") for t in self.tasks):
            self._spawn(self._audio_loop(track), "audio")

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label != "control":
            channel.close()
            return

        async def reply(text: str) -> None:
            if channel.readyState == "open":
                channel.send(text)

        self.attach_channel(reply)

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            self.submit(message, reply)

        @channel.on("close")
        def on_close() -> None:
            self.detach_channel(reply)
            self._spawn(self.close("datachannel_closed"), "close")

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.info("connection state %s", state, extra={"session": self.id})
        if state == "connected":
            self.connected = True
            self.last_activity = time.monotonic()
        elif state in ("failed", "closed"):
            self._spawn(self.close(f"peer_{state}"), "close")

    # --- media -------------------------------------------------------------------------------------

    def _on_frame_out(self, repeated: bool) -> None:
        self.fps_out.tick()
        self.metrics.frames_out.inc()
        if repeated:
            self.metrics.frames_repeated.inc()

    def _submit(self, frame: av.VideoFrame, seq: int, t_recv: float, state: RenderState) -> Future[PipelineResult]:
        """Worker thread: convert, then the pipeline's part that runs here; the rest (render) may still run when
        this returns (see OverlappedPipeline), so the next frame's tracking overlaps this frame's render."""
        t0 = time.perf_counter()
        img = frame.to_ndarray(format="rgb24")
        timings = {"convert": (time.perf_counter() - t0) * 1000}
        assert self.pipeline is not None
        return self.pipeline.submit(FrameIn(img, seq, t_recv), state, timings)

    async def _video_loop(self, track: MediaStreamTrack) -> None:
        session_id_var.set(self.id)
        loop = asyncio.get_running_loop()
        seq = 0
        while not self.closing:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            frame, skipped, ended = drain_newest(track, frame)
            t_recv = time.monotonic()
            self.last_activity = t_recv
            self.fps_in.tick(1 + skipped)
            self.metrics.frames_in.inc(1 + skipped)
            if skipped:
                self.drops += skipped
                self.metrics.frames_dropped.inc(skipped)
            try:
                fut = await loop.run_in_executor(
                    self.worker, self._submit, frame, seq, t_recv, self.state.render_state()
                )
            except RuntimeError as e:
                if self.closing:
                    break
                self._pipeline_failed(e)
                continue
            except Exception as e:
                self._pipeline_failed(e)
                continue
            seq += 1
            # at most one frame renders while the next is tracked (the pipeline waits for it before queueing
            # another), so at most two deliveries are ever pending
            self._spawn(self._deliver(asyncio.wrap_future(fut), t_recv), "deliver")
            if ended:
                break

    async def _deliver(self, fut: asyncio.Future[PipelineResult], t_recv: float) -> None:
        """A frame's result (in frame order: renders run one at a time): outputs to the tracks, events out."""
        try:
            result = await fut
        except Exception as e:
            if not self.closing:
                self._pipeline_failed(e)
            return
        if self.closing:
            return
        self.metrics.frames_processed.inc()
        for name, ms in result.timings_ms.items():
            self.metrics.stage_latency.labels(name).observe(ms / 1000)
        total_ms = (time.monotonic() - t_recv) * 1000
        self.metrics.pipeline_latency.observe(total_ms / 1000)
        self.proc_ms.append(total_ms)
        self.stage_ms = {k: round(v, 2) for k, v in result.timings_ms.items()}
        for out, img in zip(self.out_tracks, result.outputs, strict=False):
            out.push(img)
        if result.error != self.last_stage_error:
            self.last_stage_error = result.error
            if result.error:
                await self.broadcast(P.error_msg("pipeline", result.error[:300]))
        if result.fit is not None:
            fit = P.FitSummary(**dataclasses.asdict(result.fit))
            if fit != self.state.fit:
                self.state.fit = fit
                await self.broadcast(P.dump(self.state.to_msg()))
        if result.person_present is not None and result.person_present != self.person_present:
            self.person_present = result.person_present
            await self.broadcast(P.dump(P.TrackingMsg(present=result.person_present)))

    def _pipeline_failed(self, e: Exception) -> None:
        """Keep sending the last good frame; tell the client once per burst of failures."""
        self.pipeline_errors += 1
        if self.pipeline_errors in (1, 10, 100) or self.pipeline_errors % 1000 == 0:
            log.error("pipeline failed (%d times): %s", self.pipeline_errors, e, exc_info=self.pipeline_errors == 1)
            msg = e.message if isinstance(e, FitmirrorError) else f"{type(e).__name__}: {e}"
            self._spawn(self.broadcast(P.error_msg("pipeline", f"frame processing failed: {msg}"[:300])), "err")

    async def _audio_loop(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AudioBuffer.RATE)
        while not self.closing:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            for out in resampler.resample(frame):
                pcm = out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
                self.audio.append(pcm)
            if self.voice is None and self.settings.voice_commands:
                from server.voice import VoiceChannel

                self.voice = VoiceChannel(
                    self.manager.voice_engine(),
                    take_audio=self.audio.take,
                    lang=self.options.lang,
                    key=self.id,
                    closing=lambda: self.closing,
                    on_transcript=self.on_transcript,
                    on_error=self.broadcast_error,
                )
                self._spawn(self.voice.run(), "voice")

    # --- control channel ------------------------------------------------------------------------------

    def submit(self, raw: str | bytes, reply: Reply) -> None:
        """Queue one control message (called from ws/data channel handlers; never blocks)."""
        self.last_activity = time.monotonic()
        if not self.bucket.take():
            self.rejected += 1
            self.metrics.message_errors.labels("rate_limited").inc()
            if self.rejected >= FLOOD_CLOSE:
                self._spawn(self.close("flood"), "close")
            elif self.rejected <= FLOOD_ERRORS:
                self._spawn(
                    reply(rate_limited_msg(self.settings.max_messages_per_s)),
                    "reply",
                )
            return
        self.rejected = 0
        try:
            self.control_q.put_nowait((raw, reply))
        except asyncio.QueueFull:
            self.metrics.message_errors.labels("busy").inc()
            self._spawn(reply(P.error_msg("busy", "too many control messages waiting; try again")), "reply")

    async def _control_loop(self) -> None:
        session_id_var.set(self.id)
        while True:
            raw, reply = await self.control_q.get()
            try:
                await self.handle(raw, reply)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.exception("control message failed")
                await self._safe(reply, P.error_msg("internal", f"internal error: {type(e).__name__}"))

    async def _safe(self, reply: Reply, text: str) -> None:
        try:
            await reply(text)
        except Exception as e:  # a vanished client must not break the session loop
            log.debug("reply failed: %s", e)

    async def broadcast(self, text: str) -> None:
        for reply in list(self.replies):
            await self._safe(reply, text)

    async def handle(self, raw: str | bytes, reply: Reply) -> None:
        try:
            msg = P.parse_client_message(raw, self.settings.max_message_bytes)
        except P.ProtocolError as e:
            self.metrics.message_errors.labels(e.code).inc()
            await self._safe(reply, P.error_msg(e.code, e.message, e.msg_id, e.hint))
            return
        self.metrics.messages.labels(msg.type).inc()
        if isinstance(msg, P.PingMsg):
            await self._safe(reply, P.dump(P.AckMsg(id=msg.id, t=msg.t, server_t=time.time())))
        elif isinstance(msg, P.ByeMsg):
            if msg.id is not None:
                await self._safe(reply, P.dump(P.AckMsg(id=msg.id)))
            self._spawn(self.close("bye"), "close")
        elif isinstance(msg, P.OfferMsg):
            await self._safe(reply, P.error_msg("already_negotiated", "this session already has a connection"))
        elif isinstance(msg, P.ActionsMsg):
            await self._apply_actions(msg.id, msg.actions, reply)
        elif isinstance(msg, P.SetMeasurementsMsg):
            values = msg.model_dump(exclude={"type", "id"}, exclude_none=True)
            if not values:
                await self._safe(reply, P.error_msg("invalid", "set_measurements needs at least one value", msg.id))
                return
            self.state.measurements.update(values)
            await self._safe(reply, P.dump(P.AckMsg(id=msg.id)))
            await self.broadcast(P.dump(self.state.to_msg()))
        elif isinstance(msg, P.CommandMsg):
            await self._command(msg, reply)

    async def _apply_actions(
        self, msg_id: str | int, actions: list[dict[str, Any]], reply: Reply, spoken: bool = False,
        lang: str | None = None,
    ) -> bool:  # fmt: skip
        """All or nothing (server.state.SessionState.apply_all): a refused action leaves the state as it was and
        is answered with what there is instead ("we have no size 99XL; the sizes are XS-XXL"), in the language
        of the command (or of the session)."""
        try:
            applied = self.state.apply_all(actions)
        except ActionRefused as e:
            text = e.text(lang or self.options.lang)
            await self._safe(reply, P.error_msg("refused", text, msg_id))
            if spoken:  # a typed or spoken command gets the answer in the conversation too
                await self.broadcast(P.dump(P.ReplyMsg(text=_sentence(text), id=msg_id)))
            return False
        except (ValueError, TypeError) as e:
            await self._safe(reply, P.error_msg("invalid_action", str(e), msg_id))
            return False
        await self._safe(reply, P.dump(P.AckMsg(id=msg_id, actions=applied)))
        await self.broadcast(P.dump(self.state.to_msg()))
        return True

    async def _command(self, msg: P.CommandMsg, reply: Reply) -> None:
        if len(msg.text) > self.settings.max_utterance_chars:
            await self._safe(
                reply,
                P.error_msg(
                    "too_long", f"commands are limited to {self.settings.max_utterance_chars} characters", msg.id
                ),
            )
            return
        await self._run_command(msg.text, msg.lang or self.options.lang, msg.id, reply)

    async def _run_command(self, text: str, lang: str, msg_id: str | int, reply: Reply) -> None:
        from server.commands import parse_fast

        self._cmd_seq += 1
        seq = self._cmd_seq
        try:
            result = parse_fast(text, lang, self.state)
            if result is None:
                result = await self.manager.parse_command(text, lang, self.state, key=self.id)
        except FitmirrorError as e:
            await self._safe(reply, P.error_msg(e.code, e.message, msg_id, e.hint))
            return
        if result.actions and self._applied_seq > seq:
            # A newer command (e.g. the next spoken utterance, parsed by the rules) already changed the outfit while
            # this one waited for the LLM: applying it now would undo what the shopper asked for last.
            await self._safe(reply, P.dump(P.AckMsg(id=msg_id, actions=[])))
            await self.broadcast(P.dump(P.ReplyMsg(text=f'(skipped "{text}": a newer command came first)', id=msg_id)))
            return
        if result.actions:
            self._applied_seq = seq
        ok = (
            await self._apply_actions(msg_id, result.actions, reply, spoken=True, lang=result.lang)
            if result.actions
            else None
        )
        if ok is None:
            await self._safe(reply, P.dump(P.AckMsg(id=msg_id, actions=[])))
        if ok is False:
            return  # refused: the reason was the answer
        text_out = result.reply
        if any(a.get("type") in ("size_advice", "compare_sizes") for a in result.actions):
            from server.size_reply import size_reply  # the size module answers; nlu only said "let me check"

            st = self.state
            try:
                grounded = await asyncio.get_running_loop().run_in_executor(
                    None, size_reply, result.actions, st.outfit, st.size, st.measurements,
                    st.fit.model_dump(exclude_none=True), lang, self.manager.catalog_index,
                )  # fmt: skip
            except Exception as e:  # the size module failed: say so rather than pretend
                log.warning("size reply failed: %s", e)
                grounded = ("尺码服务出错。" if lang == "zh" else "The size service failed: ") + str(e)
            text_out = grounded or text_out
        if text_out:
            await self.broadcast(P.dump(P.ReplyMsg(text=text_out, id=msg_id)))

    async def on_transcript(self, text: str) -> None:
        """A spoken utterance (from server.voice): tell the clients, then run it as a command in its own task, so
        transcription goes on while an LLM parse is pending (a blocked voice loop loses the shopper's next words)."""
        await self.broadcast(P.dump(P.TranscriptMsg(text=text, final=True)))
        self.voice_count += 1
        msg_id = f"voice-{self.voice_count}"
        if self.voice_pending >= MAX_VOICE_PENDING:
            await self.broadcast(
                P.error_msg("busy", f"still working on {self.voice_pending} spoken commands", msg_id, "say it again")
            )
            return
        self.voice_pending += 1

        async def run() -> None:
            try:
                await self._run_command(
                    text[: self.settings.max_utterance_chars], self.options.lang, msg_id, self.broadcast
                )
            finally:
                self.voice_pending -= 1

        self._spawn(run(), msg_id)

    async def broadcast_error(self, code: str, message: str) -> None:
        await self.broadcast(P.error_msg(code, message))

    # --- housekeeping -------------------------------------------------------------------------------

    def stats(self) -> P.StatsMsg:
        lat = float(np.median(self.proc_ms)) if self.proc_ms else None
        return P.StatsMsg(
            fps_in=round(self.fps_in.rate(), 1),
            fps_out=round(self.fps_out.rate(), 1),
            latency_ms=None if lat is None else round(lat, 1),
            drops=self.drops,
            stages_ms=self.stage_ms,
        )

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.replies and self.connected:
                await self.broadcast(P.dump(self.stats()))

    async def _watchdog(self) -> None:
        s = self.settings
        while not self.closing:
            await asyncio.sleep(min(1.0, s.session_idle_timeout_s / 4, s.ice_timeout_s / 4))
            now = time.monotonic()
            if not self.connected and now - self.created > s.ice_timeout_s:
                await self.close("ice_timeout")
            elif now - self.last_activity > s.session_idle_timeout_s:
                await self.close("idle_timeout")

    async def close(self, reason: str) -> None:
        """Idempotent: stop media, tasks, the worker thread and the peer connection; free the slot."""
        if self.closing:
            await self.closed.wait()
            return
        self.closing = True
        self.close_reason = reason
        log.info("closing session: %s", reason, extra={"session": self.id})
        if reason not in ("bye", "ws_closed", "datachannel_closed", "peer_closed"):
            await self.broadcast(P.error_msg("session_closed", f"session closed: {reason.replace('_', ' ')}"))
        current = asyncio.current_task()
        for track in self.out_tracks:
            track.stop()
        try:
            await asyncio.wait_for(self.pc.close(), 5)
        except Exception as e:
            log.warning("peer connection close: %s", e)
        pending = [t for t in self.tasks if t is not current and not t.get_name().endswith("-close")]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self.voice is not None:
            self.voice.close()
        if self.pipeline is not None:
            pipeline = self.pipeline
            self.pipeline = None
            try:
                await asyncio.get_running_loop().run_in_executor(self.worker, pipeline.close)
            except Exception as e:
                log.warning("pipeline close: %s", e)
        self.worker.shutdown(wait=False, cancel_futures=True)
        self.replies.clear()
        self.audio.chunks.clear()
        self.manager.release(self, reason)
        self.closed.set()


def catalog_index(db: CatalogDB) -> CatalogIndex:
    """The shop's catalogue as an in-memory index, read once (blocking)."""
    return CatalogIndex(db.all())


def rate_limited_msg(rate_per_s: float) -> str:
    """The error a refused control message gets (before the offer too)."""
    return P.error_msg(
        "rate_limited",
        f"more than {rate_per_s:g} messages per second",
        hint="slow down; the session closes if the flood continues",
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?", "。", "！", "？")) else ".")


class SessionManager:
    """Owns all sessions of one app: capacity, creation, shutdown, and the shared nlu worker."""

    def __init__(self, settings: Settings, metrics: Metrics, catalog_db: CatalogDB) -> None:
        self.settings = settings
        self.metrics = metrics
        self.catalog_db = catalog_db
        self.sessions: dict[str, Session] = {}
        # resolved once at start-up: a bad setting fails here, and the catalogue import stays off the event loop
        self.demo_outfit = demo_outfit_items(settings.demo_outfit)
        self.catalog_index = catalog_index(
            catalog_db
        )  # what commands are checked against (refresh_catalog after edits)
        self.accepting = True
        self._nlu_pool: ThreadPoolExecutor | None = None
        self._voice: Any = None
        self._llm: Any = None  # fitmirror.worker.Supervisor, see llm_worker()
        self._asr: Any = None
        metrics.bind_sessions(lambda: len(self.sessions), settings.max_sessions)
        metrics.bind_fps(
            lambda: sum(s.fps_in.rate() for s in list(self.sessions.values())),
            lambda: sum(s.fps_out.rate() for s in list(self.sessions.values())),
        )

    def reserve(self, options: P.SessionOptions, client: str = "") -> Session:
        """Create a session object and take its slot synchronously (so concurrent offers cannot overbook).

        Offers whose ICE never completes cannot squat the server: at most `connecting_limit` sessions may be
        connecting at once, one client address at most `max_connecting_per_client` of them and
        `max_sessions_per_client` sessions in all, and each has `ice_timeout_s` to connect."""
        s = self.settings
        if not self.accepting:
            self.metrics.sessions_rejected.labels("shutting_down").inc()
            raise CapacityError("the server is shutting down", retry_after_s=5, hint="reconnect in a few seconds")
        mine = [x for x in self.sessions.values() if x.client == client]
        if len(mine) >= s.max_sessions_per_client or (
            sum(not x.connected for x in mine) >= s.max_connecting_per_client
        ):
            self.metrics.sessions_rejected.labels("per_client").inc()
            raise RateLimitError(
                f"this address already holds {len(mine)} fitting-room session(s)", retry_after_s=int(s.ice_timeout_s),
                hint="close the other session (tab) first",
            )  # fmt: skip
        if sum(not x.connected for x in self.sessions.values()) >= s.connecting_limit:
            self.metrics.sessions_rejected.labels("connecting").inc()
            raise CapacityError(
                "too many sessions are connecting right now", retry_after_s=2, hint="retry in a couple of seconds"
            )
        if len(self.sessions) >= self.settings.max_sessions:
            self.metrics.sessions_rejected.labels("full").inc()
            raise CapacityError(
                f"all {self.settings.max_sessions} fitting-room sessions are in use",
                retry_after_s=10,
                hint="try again shortly; the server limits concurrent sessions (FITMIRROR_MAX_SESSIONS)",
            )
        session = Session(self, options)
        session.client = client
        self.sessions[session.id] = session
        self.metrics.sessions.set(len(self.sessions))
        self.metrics.sessions_total.inc()
        return session

    async def open(self, offer: P.OfferMsg, client: str = "") -> tuple[Session, str]:
        o = offer.options
        check_offer(
            offer.sdp, o.layout or self.settings.default_layout, len(o.views or self.settings.views), self.settings
        )
        session = self.reserve(offer.options, client)
        try:
            answer = await session.start(offer.sdp, offer.sdp_type)
        except BaseException:
            await session.close("bad_offer")
            raise
        return session, answer

    def refresh_catalog(self) -> None:
        """Re-read the catalogue (blocking: call from an executor) after products were added or removed; open
        sessions check their next commands against it."""
        self.catalog_index = catalog_index(self.catalog_db)
        for s in self.sessions.values():
            s.state.catalog = self.catalog_index

    def release(self, session: Session, reason: str) -> None:
        if self.sessions.pop(session.id, None) is not None:
            self.metrics.sessions_closed.labels(reason).inc()
        self.metrics.sessions.set(len(self.sessions))

    async def run_nlu(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Language work that stays in this process (no LLM worker) runs on one shared thread."""
        if self._nlu_pool is None:
            self._nlu_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fm-nlu")
        return await asyncio.get_running_loop().run_in_executor(self._nlu_pool, fn, *args)

    def _worker_event(self, worker: str, kind: str) -> None:
        self.metrics.worker_restarts.labels(worker, kind).inc()

    def llm_worker(self) -> Any:
        """The supervised LLM process (`nlu.worker`), or None when the LLM needs none (off, HTTP endpoint, or
        llm_process=false). Created on first use; started by the preload or the first free-form command."""
        from nlu.worker import llm_supervisor, local_llm

        if not (self.settings.llm_process and local_llm(self.settings)):
            return None
        if self._llm is None:
            self._llm = llm_supervisor(self.settings, self._worker_event)
            self.metrics.bind_worker("llm", self._llm)
        return self._llm

    def asr_worker(self) -> Any:
        """The supervised speech-recognition process, or None with asr_process=false."""
        from nlu.worker import asr_supervisor

        if not self.settings.asr_process:
            return None
        if self._asr is None:
            self._asr = asr_supervisor(self.settings, self._worker_event)
            self.metrics.bind_worker("asr", self._asr)
        return self._asr

    def workers(self) -> dict[str, Any]:
        """What /readyz reports about the worker processes."""
        return {w.config.name: w.status.to_dict() for w in (self._llm, self._asr) if w is not None}

    async def preload_llm(self) -> float:
        """Start the LLM (worker) and evaluate its system prompt; returns seconds (0 with the LLM off)."""
        worker = self.llm_worker()
        if worker is not None:
            return round(await worker.wait_ready(), 2)
        from server.commands import preload_llm_in_process

        return await self.run_nlu(preload_llm_in_process)

    async def parse_command(self, text: str, lang: str, state: Any, key: str) -> Any:
        """A command the rules could not settle: the LLM worker (crash-isolated, fair across sessions by `key`),
        or the in-process parser when there is no worker."""
        from server.commands import CommandResult, llm_context, parse_command

        worker = self.llm_worker()
        if worker is None:
            return await self.run_nlu(parse_command, text, lang, state)
        ctx = llm_context(lang, state)
        result, _ = await worker.call("parse", {"text": text, "ctx": ctx}, key=key)
        return CommandResult(result["actions"], result["reply"], result["backend_used"], result.get("lang", lang))

    def voice_engine(self) -> Any:
        if self._voice is None:
            from server.voice import VoiceEngine

            self._voice = VoiceEngine(self.asr_worker())
        return self._voice

    async def shutdown(self, drain_s: float) -> None:
        """Stop accepting, ask clients to leave, wait up to drain_s, then close what is left."""
        self.accepting = False
        sessions = list(self.sessions.values())
        for s in sessions:
            await s.broadcast(P.error_msg("shutting_down", "the server is shutting down", hint="reconnect later"))
        waits = [asyncio.ensure_future(s.closed.wait()) for s in sessions]
        if waits:
            await asyncio.wait(waits, timeout=drain_s)
            for w in waits:
                w.cancel()
        await asyncio.gather(*(s.close("shutdown") for s in list(self.sessions.values())), return_exceptions=True)
        if self._nlu_pool is not None:
            self._nlu_pool.shutdown(wait=False, cancel_futures=True)
            self._nlu_pool = None
        if self._voice is not None:
            self._voice.close()
            self._voice = None
        for w in (self._llm, self._asr):
            if w is not None:
                await w.close()
        self._llm = self._asr = None
