"""Streaming server end to end with a real aiortc client in the same process (loopback ICE).

Run inside a loopback-only namespace:
  unshare -n bash -c 'ip link set lo up; FITMIRROR_ICE_LOOPBACK=1 .venv/bin/python -m pytest -q tests/test_server_webrtc.py'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image

from fitmirror.config import Settings
from server.app import MANAGER, create_app, start_site
from server.media import KEEPALIVE_S
from server.testclient import Client, HTTPError, StampedCamera

pytestmark = pytest.mark.timeout(120)


@contextlib.asynccontextmanager
async def serve(**overrides) -> AsyncIterator[tuple[str, object]]:
    settings = Settings(ice_loopback=True, **overrides)
    app = create_app(settings, peer_routes=False)
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


def _recent_stamps(client: Client, track: int = 0) -> list[int]:
    return [s for _, s in client.received[track].stamps if s is not None]


@pytest.mark.parametrize(
    ("layout", "views", "expected"),
    [
        ("mosaic", ["front", "back", "left"], [(1152, 384)]),
        ("stereo", ["front"], [(768, 384)]),
        ("tracks", ["front", "back", "right"], [(384, 384)] * 3),
        ("mirror", ["front"], [(640, 480)]),
    ],
)
async def test_layouts_return_recent_frames(layout, views, expected, artifacts):
    """Each layout returns tracks of the right size, and every output carries the stamp of a recent input."""
    async with serve() as (url, _app):
        client = Client(url)
        try:
            await client.connect_http({"layout": layout, "views": views, "stamp": True}, n_tracks=len(expected))
            assert client.options["tracks"] == len(expected)
            for i in range(len(expected)):
                await client.wait_frames(20, timeout=30, track=i)
            assert len(client.received) == len(expected)
            for rec, size in zip(client.received, expected, strict=True):
                assert rec.sizes == {size}, f"{layout}: got {rec.sizes}"
            for i in range(len(expected)):
                stamps = _recent_stamps(client, i)
                assert len(stamps) >= 5, f"{layout}: stamps unreadable in track {i}"
                assert stamps == sorted(stamps), "outputs went back in time"
                sent = client.camera.count
                assert sent - 45 <= stamps[-1] < sent, f"last output is from input {stamps[-1]}, camera at {sent}"
            Image.fromarray(client.received[0].last).save(artifacts / f"server_layout_{layout}.png")
        finally:
            await client.close()


async def test_h264_over_websocket_with_control_messages():
    """Signalling over /ws, H.264 output, and every control message answered with an ack or a clear error."""
    async with serve(max_messages_per_s=100) as (url, app):
        client = Client(url)
        try:
            answer = await client.connect_ws({"layout": "mosaic", "views": ["front", "left"], "codec": "h264"})
            assert "H264/90000" in answer["sdp"] and "VP8/90000" not in answer["sdp"]
            await client.wait_frames(10, timeout=30)
            assert client.received[0].sizes == {(768, 384)}

            ack = await client.request({"type": "ping", "id": "p1", "t": 12.5})
            assert ack == {**ack, "type": "ack", "id": "p1", "t": 12.5}
            ack = await client.request(
                {"type": "actions", "id": 2, "actions": [{"type": "select", "category": "dress", "color": "blue"}]}
            )
            assert ack["type"] == "ack"
            await client.wait_for(lambda: any(m["type"] == "state" and m["outfit"] for m in client.messages), 15)
            ack = await client.request({"type": "command", "id": "c1", "text": "in size M please"})
            assert ack["type"] == "ack" and {"type": "set_size", "size": "M"} in ack["actions"]
            await client.wait_for(lambda: any(m["type"] == "reply" for m in client.messages), 15)
            state = [m for m in client.messages if m["type"] == "state"][-1]
            assert state["size"] == "M" and state["outfit"][0]["color"] == "blue"
            ack = await client.request({"type": "set_measurements", "id": "m", "height_cm": 172, "weight_kg": 64})
            assert ack["type"] == "ack"

            bad = [
                ({"type": "actions", "id": "a", "actions": [{"type": "teleport"}]}, "invalid"),
                ({"type": "set_measurements", "id": "h", "height_cm": 900}, "invalid"),
                ({"type": "dance", "id": "d"}, "unknown_type"),
                ({"type": "command", "id": "x" * 100, "text": "hi"}, "invalid"),
                ({"type": "offer", "sdp": "v=0", "options": {}}, "already_negotiated"),
            ]
            for msg, code in bad:
                start = len(client.messages)
                client.send(msg)
                await client.wait_for(lambda s=start: any(m["type"] == "error" for m in client.messages[s:]), 15)
                err = next(m for m in client.messages[start:] if m["type"] == "error")
                assert err["code"] == code, (msg, err)
                assert err["message"]
            for raw, code in [
                ("{not json", "bad_json"),
                ("[1,2]", "invalid"),
                (json.dumps({"type": "ping", "id": 1, "pad": "x" * 9000}), "too_large"),
            ]:
                start = len(client.messages)
                client.send(raw)
                await client.wait_for(lambda s=start: any(m["type"] == "error" for m in client.messages[s:]), 15)
                assert next(m for m in client.messages[start:] if m["type"] == "error")["code"] == code
            # the session still streams after all that
            n = client.received[0].frames
            await client.wait_frames(n + 5, timeout=10)
            await client.wait_for(lambda: any(m["type"] == "stats" for m in client.messages), 15)
            stats = [m for m in client.messages if m["type"] == "stats"][-1]
            assert stats["fps_out"] > 0 and stats["fps_in"] > 0
        finally:
            await client.close()
        await asyncio.sleep(0.5)
        assert not app[MANAGER].sessions, "closing the websocket must end the session"


async def test_capacity_bad_offers_and_flood():
    async with serve(max_sessions=1, max_messages_per_s=5) as (url, _app):
        first = Client(url)
        other = Client(url)
        try:
            await first.connect_http({"layout": "mirror"})
            await first.wait_frames(5, timeout=30)
            with pytest.raises(HTTPError) as full:
                await other.connect_http({})
            assert full.value.status == 503
            assert int(full.value.headers["Retry-After"]) > 0
            assert full.value.body["code"] == "capacity" and full.value.body["hint"]
            await other.close()

            async with aiohttp.ClientSession() as http:
                for body, fragment in [
                    ({"sdp": "hello", "type": "offer"}, "malformed SDP"),
                    ({"sdp": "v=0\r\n" + "a=x\r\n" * 20000, "type": "offer"}, "larger than"),
                    ({"type": "offer"}, "invalid offer"),
                    ({"sdp": "v=0\r\n", "type": "offer", "options": {"layout": "cube"}}, "invalid offer"),
                ]:
                    async with http.post(f"{url}/offer", json=body) as r:
                        assert r.status == 400, (body.get("options"), await r.text())
                        assert fragment in (await r.json())["message"]
                json_ = {"Content-Type": "application/json"}
                for raw in (b"\xff\xfe garbage", b"[" * 100_000 + b"]" * 100_000, b'{"sdp": NaN, "type": "offer"}'):
                    async with http.post(f"{url}/offer", data=raw, headers=json_) as r:
                        assert r.status == 400, (raw[:20], r.status)
                # a cross-site page could post this without a CORS preflight: refused
                async with http.post(
                    f"{url}/offer", data=b'{"sdp": "v=0"}', headers={"Content-Type": "text/plain"}
                ) as r:
                    assert r.status == 415
                # media without DTLS would be unencrypted: an offer with its fingerprint removed is refused
                offerer = Client(url)
                offerer.pc.addTrack(offerer.camera)
                await offerer.pc.setLocalDescription(await offerer.pc.createOffer())
                sdp = offerer.pc.localDescription.sdp
                await offerer.close()
                bare = "".join(ln for ln in sdp.splitlines(True) if "fingerprint" not in ln)
                async with http.post(f"{url}/offer", json={"sdp": bare, "type": "offer"}) as r:
                    assert r.status == 400 and "DTLS fingerprint" in (await r.json())["message"]

            # flood: 60 pings at once from the first client; the limiter answers rate_limited, the video keeps going
            for i in range(60):
                first.send({"type": "ping", "id": i})
            await first.wait_for(lambda: any(m.get("code") == "rate_limited" for m in first.messages), 15)
            acks = [m for m in first.messages if m["type"] == "ack"]
            assert 0 < len(acks) < 60
            n = first.received[0].frames
            await first.wait_frames(n + 5, timeout=10)
        finally:
            await first.close()


async def test_unknown_codec_is_refused():
    async with serve() as (url, app):
        client = Client(url)
        try:
            client.pc.addTrack(client.camera)
            await client.pc.setLocalDescription(await client.pc.createOffer())
            sdp = client.pc.localDescription.sdp.replace("VP8/90000", "VP9/90000").replace("H264/90000", "AV1/90000")
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{url}/offer", json={"sdp": sdp, "type": "offer"}) as r,
            ):
                body = await r.json()
            assert r.status == 400 and "codec" in body["message"], body
            assert not app[MANAGER].sessions
        finally:
            await client.close()


async def test_stalled_webcam_keeps_output_flowing_and_audio_is_buffered():
    async with serve(output_fps=15) as (url, app):
        client = Client(url, camera=StampedCamera(fps=30), audio=True)
        try:
            await client.connect_http({"layout": "mirror", "stamp": True})
            await client.wait_frames(10, timeout=30)
            client.camera.stall(True)
            await asyncio.sleep(0.5)
            n = client.received[0].frames
            await asyncio.sleep(2.0)
            got = client.received[0].frames - n
            # the last image keeps coming as a keep-alive (every KEEPALIVE_S), not re-encoded at the full rate
            expected = 2.0 / KEEPALIVE_S
            assert expected - 1 <= got <= expected + 1, f"{got} frames in 2 s while the webcam stalled"
            stamps = {s for t, s in client.received[0].stamps[-got:]}
            assert len(stamps) == 1, "a stalled webcam must repeat the last good frame"
            session = next(iter(app[MANAGER].sessions.values()))
            assert session.audio.total_samples > 8000, "16 kHz mono audio should be buffered"
            client.camera.stall(False)
        finally:
            await client.close()


async def test_sessions_close_on_ice_timeout_and_vanished_client():
    async with serve(ice_timeout_s=1.5, session_idle_timeout_s=3) as (url, app):
        # an offer whose client never answers ICE (remote description never set)
        ghost = Client(url)
        ghost.pc.addTrack(ghost.camera)
        await ghost.pc.setLocalDescription(await ghost.pc.createOffer())
        async with aiohttp.ClientSession() as http:
            sdp = ghost.pc.localDescription.sdp
            async with http.post(f"{url}/offer", json={"sdp": sdp, "type": "offer"}) as r:
                assert r.status == 200
        assert len(app[MANAGER].sessions) == 1
        await asyncio.sleep(3.5)
        assert not app[MANAGER].sessions, "a session whose ICE never connects must be closed"
        await ghost.close()

        # a client that vanishes mid-stream (no bye): the data channel/peer close ends the session
        client = Client(url)
        await client.connect_http({"layout": "mirror"})
        await client.wait_frames(5, timeout=30)
        await client.pc.close()
        await client.wait_for(lambda: not app[MANAGER].sessions, 10)
        await client.close()


async def test_health_metrics_static():
    async with serve() as (url, app), aiohttp.ClientSession() as http:
        async with http.get(f"{url}/healthz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        async with http.get(f"{url}/readyz") as r:
            assert r.status == 200 and (await r.json())["ready"] is True
        client = Client(url)
        await client.connect_http({"layout": "mirror"})
        await client.wait_frames(10, timeout=30)
        async with http.get(f"{url}/metrics") as r:
            text = await r.text()
        for name in (
            "fitmirror_sessions_open 1.0",
            "fitmirror_frames_in_total",
            "fitmirror_fps_out",
            'fitmirror_stage_latency_seconds_bucket{le="0.005",stage="preview"}',
            "fitmirror_frames_dropped_total",
        ):
            assert name in text, name
        # The autoscaling signal: open sessions / capacity.
        cap = app[MANAGER].settings.max_sessions
        assert f"fitmirror_session_capacity {float(cap)}" in text
        assert f"fitmirror_session_occupancy {1 / cap}" in text
        await client.request({"type": "bye", "id": "b"})
        await client.wait_for(lambda: not app[MANAGER].sessions, 5)
        await client.close()
        async with http.get(f"{url}/_test/") as r:
            assert r.status == 404  # developer pages only when a test setting asks for them
        async with http.get(f"{url}/vendor/iwer/iwer.module.js") as r:
            assert r.status == 200
        for path in ("/vendor/iwer/", "/_test/../app.py", "/node_modules/iwer/package.json", "/%2e%2e/server/app.py"):
            async with http.get(f"{url}{path}") as r:
                assert r.status == 404, path


async def test_shutdown_tells_clients_and_closes_sessions():
    async with serve(drain_timeout_s=1.0) as (url, app):
        client = Client(url)
        try:
            await client.connect_ws({"layout": "mirror"})
            await client.wait_frames(3, timeout=30)
            await app[MANAGER].shutdown(1.0)
            assert not app[MANAGER].sessions
            await client.wait_for(lambda: any(m.get("code") == "shutting_down" for m in client.messages), 15)
            with pytest.raises(HTTPError) as e:
                other = Client(url)
                try:
                    await other.connect_http({})
                finally:
                    await other.close()
            assert e.value.status == 503
        finally:
            await client.close()


async def test_graceful_shutdown_closes_open_websockets_promptly():
    """A connected /ws client (with or without a session) must not hold the server's shutdown."""
    settings = Settings(ice_loopback=True, drain_timeout_s=1.0)
    app = create_app(settings, peer_routes=False)
    runner, port = await start_site(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    client = Client(url)
    idle = aiohttp.ClientSession()
    try:
        await client.connect_ws({"layout": "mirror"})
        await client.wait_frames(3, timeout=30)
        idle_ws = await idle.ws_connect(f"ws://127.0.0.1:{port}/ws")  # never sends an offer
        t0 = time.monotonic()
        await asyncio.wait_for(runner.cleanup(), 20)
        assert time.monotonic() - t0 < 10
        await client.wait_for(lambda: client.ws is not None and client.ws.closed, 5)
        assert (await idle_ws.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        await client.close()
        await idle.close()
