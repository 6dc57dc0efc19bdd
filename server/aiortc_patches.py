"""Every touch of aiortc/aioice internals lives here, so a library upgrade breaks one small, tested module.

- loopback ICE: aioice skips 127.0.0.1 when gathering host candidates; tests and kiosks on one machine need it.
- H.264 encoder: aiortc creates libx264 with preset *medium* (11-18 ms/frame at 480p) and overwrites
  `codec.options`; a proxy around the codec context merges our low-latency options (ultrafast ~1.5 ms/frame), or
  swaps in h264_nvenc when a GPU encoder is usable.
- VP8 encoder: aiortc turns on libvpx's temporal denoiser (noise-sensitivity 4), which is for camera noise; on
  rendered frames it only costs time (3.5 -> 2.1 ms per 1152x384 frame without it).
- bitrate bounds: aiortc keeps them as module constants (VP8 max 1.5 Mbit/s, H.264 3 Mbit/s).
- newest frame: `RemoteStreamTrack` keeps an unbounded asyncio.Queue; `drain_newest` empties it to the last frame.
- jitter buffer: aiortc releases video frame N only when the first packet of frame N+1 arrives (one frame, ~33 ms,
  of added latency per hop); with the marker patch a frame is released as soon as its last packet (RTP marker bit)
  has arrived with no gap before it.
- playout delay: aiortc does not know the RTP playout-delay extension, so the browser smooths the returned video
  in its jitter buffer (~10-15 ms held per frame here, more when frame times vary). Negotiated and sent with
  min = 0 and max = `playout_delay_max_ms`, max 0 makes Chromium render each frame as soon as it is decoded.
"""

from __future__ import annotations

import asyncio
import logging
import types
from typing import Any, Literal

import aioice.ice
import av
from aiortc import rtp as aiortc_rtp
from aiortc.codecs import HEADER_EXTENSIONS
from aiortc.codecs import h264 as aiortc_h264
from aiortc.codecs import vpx as aiortc_vpx
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters

log = logging.getLogger("fitmirror.server.patches")

_ORIG_GET_HOST_ADDRESSES = aioice.ice.get_host_addresses
_ORIG_H264_AV = aiortc_h264.av
_ORIG_VPX_AV = aiortc_vpx.av
_CODEC_MODULES: tuple[Any, ...] = (aiortc_h264, aiortc_vpx)  # their bitrate constants are patched (not typed)
_ORIG_BITRATES = {m: (m.MIN_BITRATE, m.DEFAULT_BITRATE, m.MAX_BITRATE) for m in _CODEC_MODULES}
_ORIG_REMOVE_FRAME = JitterBuffer._remove_frame
_ORIG_EXT_CONFIGURE = aiortc_rtp.HeaderExtensionsMap.configure
_ORIG_EXT_SET = aiortc_rtp.HeaderExtensionsMap.set
PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
PLAYOUT_DELAY_ID = 6  # our id when aiortc makes the offer (1 and 3 are aiortc's own); an answer takes the offer's
_playout: dict[str, bytes | None] = {"payload": None}  # the extension's bytes while the patch is on
applied: dict[str, Any] = {}

VP8_OPTIONS = {"noise-sensitivity": "0"}  # merged over aiortc's options (see the module docstring)
NVENC_OPTIONS = {"preset": "p1", "tune": "ull", "zerolatency": "1", "delay": "0", "rc": "cbr"}


def enable_loopback_ice(enabled: bool = True) -> None:
    """Put 127.0.0.1 first among the host candidates aioice gathers (or restore the original)."""
    if not enabled:
        aioice.ice.get_host_addresses = _ORIG_GET_HOST_ADDRESSES
        applied.pop("ice_loopback", None)
        return

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        found = _ORIG_GET_HOST_ADDRESSES(use_ipv4, use_ipv6)
        return (["127.0.0.1"] if use_ipv4 else []) + [a for a in found if a != "127.0.0.1"]

    aioice.ice.get_host_addresses = get_host_addresses
    applied["ice_loopback"] = True


class _CodecContextProxy:
    """Forwards everything to a PyAV codec context; assignments to `options` get our options merged in."""

    def __init__(self, ctx: Any, extra: dict[str, str], replace: bool = False) -> None:
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "_extra", extra)
        object.__setattr__(self, "_replace", replace)

    def __getattr__(self, key: str) -> Any:
        return getattr(self._ctx, key)

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "options":
            value = dict(self._extra) if self._replace else {**value, **self._extra}
        elif key == "profile" and self._replace:
            return  # nvenc names its profiles differently; its default (main/high) is fine for browsers
        setattr(self._ctx, key, value)

    def encode(self, frame: Any = None) -> Any:
        return self._ctx.encode(frame)


def configure_h264(preset: str = "ultrafast", use_nvenc: bool = False) -> None:
    """Make aiortc's H.264 encoder use `preset` (libx264) or h264_nvenc with low-latency options."""
    extra = {"preset": preset, "tune": "zerolatency"}

    def create(name: str, mode: Literal["r", "w"] | None = None) -> Any:
        if name == "libx264" and mode == "w":
            if use_nvenc:
                return _CodecContextProxy(av.CodecContext.create("h264_nvenc", "w"), NVENC_OPTIONS, replace=True)
            return _CodecContextProxy(av.CodecContext.create(name, mode), extra)
        return av.CodecContext.create(name, mode)

    aiortc_h264.av = _shim(_ORIG_H264_AV, create)
    applied["h264"] = "h264_nvenc" if use_nvenc else f"libx264 preset={preset}"


def _shim(module_av: Any, create: Any) -> types.ModuleType:
    """A stand-in for the `av` module an aiortc codec module imported, with CodecContext.create replaced."""
    shim = types.ModuleType("fitmirror_av_shim")
    shim.__dict__.update(module_av.__dict__)
    shim.CodecContext = type("CodecContext", (), {"create": staticmethod(create)})  # type: ignore[attr-defined]
    return shim


def configure_vp8() -> None:
    """Merge VP8_OPTIONS into the options aiortc's VP8 encoder sets on its libvpx context."""

    def create(name: str, mode: Literal["r", "w"] | None = None) -> Any:
        if name == "libvpx" and mode == "w":
            return _CodecContextProxy(av.CodecContext.create(name, mode), VP8_OPTIONS)
        return av.CodecContext.create(name, mode)

    aiortc_vpx.av = _shim(_ORIG_VPX_AV, create)
    applied["vp8"] = dict(VP8_OPTIONS)


def set_bitrate_bounds(max_bps: int, min_bps: int | None = None) -> None:
    """Upper (and lower) bound of the sender bitrate that aiortc's congestion feedback may choose."""
    for mod in _CODEC_MODULES:
        lo, default, _ = _ORIG_BITRATES[mod]
        mod.MAX_BITRATE = max_bps
        mod.MIN_BITRATE = min(min_bps if min_bps is not None else lo, max_bps)
        mod.DEFAULT_BITRATE = max(mod.MIN_BITRATE, min(default, max_bps))
    applied["bitrate"] = (min_bps, max_bps)


def _remove_frame_on_marker(self: JitterBuffer, sequence_number: int) -> JitterFrame | None:
    """Video: emit the oldest frame once its packets are contiguous from the buffer origin and either its
    marker packet is in (new) or a packet of the next frame arrived (aiortc's rule). Audio: unchanged."""
    if not self._is_video or self._prefetch:
        return _ORIG_REMOVE_FRAME(self, sequence_number)
    packets: list[Any] = []
    timestamp = None
    origin = self._origin
    assert origin is not None  # aiortc calls this only once a packet is in
    for count in range(self._capacity):
        packet = self._packets[(origin + count) % self._capacity]
        if packet is None:
            return None
        if timestamp is None:
            timestamp = packet.timestamp
        elif packet.timestamp != timestamp:
            self.remove(count)
            return JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)
        packets.append(packet)
        if packet.marker:
            self.remove(count + 1)
            return JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)
    return None


def enable_jitter_marker(enabled: bool = True) -> None:
    JitterBuffer._remove_frame = _remove_frame_on_marker if enabled else _ORIG_REMOVE_FRAME  # type: ignore[method-assign]
    if enabled:
        applied["jitter_marker"] = True
    else:
        applied.pop("jitter_marker", None)


def playout_delay_bytes(min_ms: int, max_ms: int) -> bytes:
    """The extension's 3 bytes: 12-bit minimum and maximum delay, in 10 ms units."""
    lo, hi = (max(0, min(4095, round(v / 10))) for v in (min_ms, max_ms))
    return bytes([lo >> 4, ((lo & 0xF) << 4) | (hi >> 8), hi & 0xFF])


def _ext_configure(self: Any, parameters: Any) -> None:
    _ORIG_EXT_CONFIGURE(self, parameters)
    self._fm_playout_id = next((e.id for e in parameters.headerExtensions if e.uri == PLAYOUT_DELAY_URI), None)


def _ext_set(self: Any, values: Any) -> tuple[int, bytes]:
    profile, value = _ORIG_EXT_SET(self, values)
    ext_id, payload = getattr(self, "_fm_playout_id", None), _playout["payload"]
    if ext_id is None or payload is None:
        return profile, value
    extensions = aiortc_rtp.unpack_header_extensions(profile, value) if value else []
    return aiortc_rtp.pack_header_extensions([*extensions, (ext_id, payload)])


def enable_playout_delay(max_ms: int | None) -> None:
    """Negotiate the playout-delay extension for video and send min 0 / max `max_ms` on every packet of the
    video we send (None: neither). Header extension maps read the payload per packet, so a change applies at once."""
    exts = HEADER_EXTENSIONS["video"]
    exts[:] = [e for e in exts if e.uri != PLAYOUT_DELAY_URI]
    if max_ms is None:
        aiortc_rtp.HeaderExtensionsMap.configure = _ORIG_EXT_CONFIGURE  # type: ignore[method-assign]
        aiortc_rtp.HeaderExtensionsMap.set = _ORIG_EXT_SET  # type: ignore[method-assign]
        applied.pop("playout_delay", None)
        _playout["payload"] = None
        return
    exts.append(RTCRtpHeaderExtensionParameters(id=PLAYOUT_DELAY_ID, uri=PLAYOUT_DELAY_URI))
    aiortc_rtp.HeaderExtensionsMap.configure = _ext_configure  # type: ignore[method-assign]
    aiortc_rtp.HeaderExtensionsMap.set = _ext_set  # type: ignore[method-assign]
    _playout["payload"] = playout_delay_bytes(0, max_ms)
    applied["playout_delay"] = f"min 0 ms, max {max_ms} ms"


def restore_all() -> None:
    """Undo every patch (tests)."""
    enable_playout_delay(None)
    JitterBuffer._remove_frame = _ORIG_REMOVE_FRAME  # type: ignore[method-assign]
    aioice.ice.get_host_addresses = _ORIG_GET_HOST_ADDRESSES
    aiortc_h264.av = _ORIG_H264_AV
    aiortc_vpx.av = _ORIG_VPX_AV
    for mod, (lo, default, hi) in _ORIG_BITRATES.items():
        mod.MIN_BITRATE, mod.DEFAULT_BITRATE, mod.MAX_BITRATE = lo, default, hi
    applied.clear()


def apply_settings(settings: Any) -> dict[str, Any]:
    """Apply the patches the settings ask for (process-wide, idempotent). Returns what is active."""
    enable_loopback_ice(bool(settings.ice_loopback))
    use_nvenc = False
    if settings.nvenc != "off":
        from fitmirror.video import nvenc_available

        ok, why = nvenc_available()
        if settings.nvenc == "on" and not ok:
            log.warning("nvenc=on but no usable NVENC encoder: %s; using libx264", why)
        use_nvenc = ok
    configure_h264(settings.h264_preset, use_nvenc)
    configure_vp8()
    set_bitrate_bounds(settings.max_bitrate_bps, settings.min_bitrate_bps)
    enable_jitter_marker(bool(settings.jitter_buffer_marker))
    enable_playout_delay(None if settings.playout_delay_max_ms < 0 else settings.playout_delay_max_ms)
    return dict(applied)


def drain_newest(track: Any, frame: Any) -> tuple[Any, int, bool]:
    """Given a frame just received from an aiortc RemoteStreamTrack, take every frame queued behind it and
    return (newest frame, number of frames skipped, ended). `ended` is True when the end marker was queued."""
    queue: asyncio.Queue | None = getattr(track, "_queue", None)
    skipped, ended = 0, False
    if queue is None:
        return frame, 0, False
    while True:
        try:
            nxt = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        if nxt is None:
            ended = True
            break
        frame, skipped = nxt, skipped + 1
    return frame, skipped, ended
