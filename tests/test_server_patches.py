"""The one module that touches aiortc/aioice internals: each patch does what it says and can be undone."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import aioice.ice
import av
import numpy as np
from aiortc.codecs import h264, vpx
from aiortc.codecs.h264 import H264Decoder, H264Encoder
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpreceiver import RemoteStreamTrack

from server import aiortc_patches as patches
from server.media import video_frame
from server.sdp import munge_answer


def _frames(n: int, size=(640, 480)):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1], size[0], 3), np.uint8)
    for i in range(n):
        f = av.VideoFrame.from_ndarray(np.roll(base, i * 4, axis=1), format="rgb24")
        f.pts, f.time_base = i * 3000, Fraction(1, 90000)
        yield f


def test_loopback_ice_adds_127_0_0_1_and_restores():
    try:
        patches.enable_loopback_ice(True)
        addrs = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
        assert addrs[0] == "127.0.0.1" and addrs.count("127.0.0.1") == 1
    finally:
        patches.restore_all()
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


def test_h264_preset_and_bitrate_bounds():
    try:
        patches.configure_h264("ultrafast")
        patches.set_bitrate_bounds(2_000_000, 400_000)
        enc = H264Encoder()
        enc.target_bitrate = 10**9
        assert enc.target_bitrate == 2_000_000
        enc.target_bitrate = 1
        assert enc.target_bitrate == 400_000
        enc.target_bitrate = 1_000_000
        dec = H264Decoder()
        decoded, stream = 0, b""
        t0 = time.process_time()
        for frame in _frames(20):
            payloads, _ts = enc.encode(frame)
            data = b"".join(h264.h264_depayload(p) for p in payloads)
            stream += data
            decoded += len(dec.decode(JitterFrame(data=data, timestamp=0)))
        cpu_ms = (time.process_time() - t0) * 1000 / 20
        # x264 writes its settings into an SEI message: ultrafast means subme=0 and me=dia (medium: subme=7 me=hex)
        assert b"subme=0" in stream and b"me=dia" in stream, "libx264 is not running the ultrafast preset"
        assert b"bframes=0" in stream, "zerolatency must stay on (no B-frames)"
        assert decoded >= 18, "the patched encoder's stream must stay decodable"
        print(f"ultrafast encode+decode {cpu_ms:.1f} ms CPU/frame at 640x480")
    finally:
        patches.restore_all()
    assert h264.av is av and vpx.MAX_BITRATE == 1_500_000 and h264.MAX_BITRATE == 3_000_000


def test_vp8_without_denoiser_takes_yuv_frames_and_stays_decodable():
    """The VP8 patch only turns libvpx's camera denoiser off; the output track hands the encoder yuv420p frames
    (OpenCV's conversion gives swscale's luma within one grey level), and a decoder sees the same picture."""
    try:
        patches.configure_vp8()
        enc, dec = Vp8Encoder(), Vp8Decoder()
        img = np.zeros((384, 1152, 3), np.uint8)
        img[:, :, 0] = np.linspace(0, 255, 1152, dtype=np.uint8)[None, :]
        img[100:300, 200:500] = (30, 120, 200)
        ref = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p").to_ndarray()
        frame = video_frame(img)
        assert frame.format.name == "yuv420p"
        diff = np.abs(frame.to_ndarray().astype(int) - ref)
        assert diff[:384].max() <= 1 and diff.mean() < 0.5  # luma exact; chroma differs only at sharp edges
        assert video_frame(img[:383]).format.name == "rgb24"  # odd sizes keep rgb24 (the encoder converts)
        out = []
        for i in range(5):
            f = video_frame(img)
            f.pts, f.time_base = i * 3000, Fraction(1, 90000)
            payloads, _ts = enc.encode(f)
            data = b"".join(vpx.vp8_depayload(p) for p in payloads)
            out += dec.decode(JitterFrame(data=data, timestamp=0))
        # our options went through the proxy, and libvpx consumed them (PyAV leaves unknown ones in `options`)
        assert isinstance(enc.codec, patches._CodecContextProxy) and patches.applied["vp8"] == patches.VP8_OPTIONS
        assert "noise-sensitivity" not in enc.codec.options
        assert out, "the patched encoder's stream must stay decodable"
        got = out[-1].to_ndarray(format="rgb24").astype(int)
        assert np.abs(got - img).mean() < 6, "decoded picture differs from the rendered one"
    finally:
        patches.restore_all()
    assert vpx.av is av


async def test_drain_newest_skips_to_the_last_frame():
    track = RemoteStreamTrack(kind="video")
    frames = list(_frames(6, (64, 48)))
    for f in frames:
        await track._queue.put(f)
    first = await track.recv()
    newest, skipped, ended = patches.drain_newest(track, first)
    assert newest is frames[-1] and skipped == 5 and not ended
    await track._queue.put(frames[0])
    await track._queue.put(None)
    newest, skipped, ended = patches.drain_newest(track, frames[1])
    assert newest is frames[0] and skipped == 1 and ended
    await asyncio.sleep(0)


def test_answer_munging_sets_uplink_bitrate_hints():
    sdp = "\r\n".join(
        [
            "v=0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "a=rtpmap:111 opus/48000/2",
            "a=fmtp:111 minptime=10",
            "m=video 9 UDP/TLS/RTP/SAVPF 97 99",
            "a=rtpmap:97 VP8/90000",
            "a=rtpmap:99 H264/90000",
            "a=fmtp:99 packetization-mode=1",
            "",
        ]
    )
    out = munge_answer(sdp, 1500, 2500)
    assert "a=fmtp:97 x-google-min-bitrate=1500;x-google-start-bitrate=1500;x-google-max-bitrate=2500" in out
    assert "a=fmtp:99 packetization-mode=1;x-google-min-bitrate=1500" in out
    assert "a=fmtp:111 minptime=10\r\n" in out
    assert munge_answer(sdp, 0, 0) == sdp


def _packets(frames: list[int], per_frame: int = 3, start_seq: int = 1000):
    """RTP packets for frames (timestamps), `per_frame` packets each, marker on each frame's last packet."""
    from aiortc.rtp import RtpPacket

    out, seq = [], start_seq
    for ts in frames:
        for k in range(per_frame):
            p = RtpPacket(payload_type=96, sequence_number=seq & 0xFFFF, timestamp=ts, marker=int(k == per_frame - 1))
            p._data = bytes([ts % 256, k])
            out.append(p)
            seq += 1
    return out


def test_jitter_marker_releases_frames_without_waiting_for_the_next_one():
    from aiortc.jitterbuffer import JitterBuffer

    pkts = _packets([3000, 6000, 9000])
    stock = JitterBuffer(capacity=128, is_video=True)
    got_stock = [stock.add(p)[1] for p in pkts[:3]]
    assert got_stock == [None, None, None], "stock aiortc holds frame 1 until frame 2 starts"
    try:
        patches.enable_jitter_marker(True)
        jb = JitterBuffer(capacity=128, is_video=True)
        got = [jb.add(p)[1] for p in pkts]
        frames = [(f.timestamp, f.data) for f in got if f is not None]
        assert frames == [(ts, bytes([ts % 256, 0, ts % 256, 1, ts % 256, 2])) for ts in (3000, 6000, 9000)]
        assert got[2] is not None, "frame 1 must come out with its marker packet"

        # loss and reordering: a frame is released only when complete and contiguous, in order
        jb = JitterBuffer(capacity=128, is_video=True)
        a, b, c, d, e, f = _packets([3000, 6000])
        assert jb.add(a)[1] is None
        assert jb.add(c)[1] is None, "marker arrived but packet b is missing: wait (NACK will fetch it)"
        assert jb.add(d)[1] is None
        out = jb.add(b)[1]
        assert out is not None and out.timestamp == 3000 and out.data == bytes([184, 0, 184, 1, 184, 2])
        assert jb.add(f)[1] is None and jb.add(e)[1].timestamp == 6000

        # audio buffers keep aiortc's prefetch behaviour
        audio = JitterBuffer(capacity=16, prefetch=4)
        assert [audio.add(p)[1] for p in _packets([1, 2], per_frame=1)] == [None, None]
    finally:
        patches.restore_all()


def test_playout_delay_extension_is_negotiated_and_sent_on_video():
    """The browser honours min/max playout delay only when the extension is negotiated and on the packets: check
    both with two real aiortc peers (the answerer sends video, as the server does) and the packet bytes."""
    from aiortc import RTCPeerConnection, VideoStreamTrack
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, unpack_header_extensions

    assert patches.playout_delay_bytes(0, 0) == b"\x00\x00\x00"
    assert patches.playout_delay_bytes(100, 1000) == bytes([0x00, 0xA0, 0x64])  # 10 and 100 units of 10 ms

    async def negotiate() -> str:
        offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
        try:
            offerer.addTransceiver("video", direction="recvonly")
            await offerer.setLocalDescription(await offerer.createOffer())
            await answerer.setRemoteDescription(offerer.localDescription)
            answerer.addTrack(VideoStreamTrack())
            await answerer.setLocalDescription(await answerer.createAnswer())
            return answerer.localDescription.sdp
        finally:
            await offerer.close()
            await answerer.close()

    try:
        patches.enable_playout_delay(0)
        sdp = asyncio.run(negotiate())
        assert f"a=extmap:{patches.PLAYOUT_DELAY_ID} {patches.PLAYOUT_DELAY_URI}" in sdp
        ext_map = HeaderExtensionsMap()
        ext_map.configure(
            RTCRtpParameters(
                headerExtensions=[
                    RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                    RTCRtpHeaderExtensionParameters(id=9, uri=patches.PLAYOUT_DELAY_URI),
                ]
            )
        )
        profile, value = ext_map.set(HeaderExtensions(mid="0"))
        assert dict(unpack_header_extensions(profile, value)) == {1: b"0", 9: b"\x00\x00\x00"}
        audio_map = HeaderExtensionsMap()  # audio negotiates no playout delay: its packets stay as they were
        audio_map.configure(
            RTCRtpParameters(
                headerExtensions=[RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid")]
            )
        )
        assert dict(unpack_header_extensions(*audio_map.set(HeaderExtensions(mid="1")))) == {1: b"1"}
    finally:
        patches.restore_all()
    assert patches.PLAYOUT_DELAY_URI not in asyncio.run(negotiate()), "restore_all takes the extension back"
