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
from typing import TYPE_CHECKING, Any, Protocol

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from fitmirror.config import Settings
from fitmirror.errors import FitmirrorError, InputError
from fitmirror.frame import FitReport, FrameIn, PipelineResult, RenderState
from fitmirror.log import session_id_var
from nlu.schema import Action, CompareSizes, SizeAdvice
from render.layout import output_sizes
from server import protocol as P
from server.aiortc_patches import drain_newest
from server.media import AudioBuffer, PacedVideoTrack
from server.pipeline import Pipeline, build_pipeline
from server.ratelimit import RateMeter, TokenBucket, rate_limited_msg
from server.sdp import check_offer, munge_answer, parse_ice_servers
from server.state import ActionRefused, SessionState

if TYPE_CHECKING:
    from fitmirror.catalog import CatalogIndex
    from server.commands import CommandResult
    from server.metrics import Metrics
    from server.voice import VoiceChannel, VoiceEngine

log = logging.getLogger("fitmirror.server.session")

Reply = Callable[[str], Awaitable[None]]
CONTROL_QUEUE = 32
FLOOD_ERRORS = 20  # rate-limited messages answered with an error before we stop answering
FLOOD_CLOSE = 400  # rate-limited messages after which the session is closed
MAX_VOICE_PENDING = 3  # spoken commands parsed at once per session; more get a "busy" error


class SessionHost(Protocol):
    """What a session needs of the server that holds it (`server.manager.SessionManager`)."""

    settings: Settings
    metrics: Metrics
    catalog_index: CatalogIndex
    demo_outfit: list[dict[str, Any]]

    def release(self, session: Session, reason: str) -> None: ...

    async def parse_command(self, text: str, lang: str, state: SessionState, key: str) -> CommandResult: ...

    def voice_engine(self) -> VoiceEngine: ...


class Session:
    """One peer: its media loops, its control channel, its state and its pipeline."""

    def __init__(self, manager: SessionHost, options: P.SessionOptions) -> None:
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
        self._fit_shown: FitReport | None = None  # the pipeline's fit summary the clients were last sent
        self.voice: VoiceChannel | None = None  # started with the first audio
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
        if result.fit is not None and result.fit != self._fit_shown:  # a dataclass compare per frame, no model
            self._fit_shown = result.fit
            self.state.fit = P.FitSummary(**dataclasses.asdict(result.fit))
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
            for out in resampler.resample(frame):  # type: ignore[arg-type]  # an audio track's frames
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
        self, msg_id: str | int, actions: list[Action], reply: Reply, spoken: bool = False,
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
        await self._safe(reply, P.dump(P.AckMsg(id=msg_id, actions=[a.model_dump(exclude_none=True) for a in applied])))
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
        if any(isinstance(a, SizeAdvice | CompareSizes) for a in result.actions):
            from server.size_reply import size_reply  # the size module answers; nlu only said "let me check"

            st = self.state
            try:
                grounded = await asyncio.get_running_loop().run_in_executor(
                    None, size_reply, result.actions_json(), st.outfit, st.size, st.measurements,
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


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?", "。", "！", "？")) else ".")
