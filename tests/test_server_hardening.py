"""What one shopper, one page or one stuck client can do to the server, tried for real (aiortc peers, raw HTTP and
websocket clients on loopback addresses 127.0.0.x as separate client machines): origins, headers, content types,
squatted capacity, pre-offer websockets, the drain, and a flood of outfit-growing commands beside another session."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from fitmirror.config import REPO_ROOT, Settings
from server.app import MANAGER, create_app, start_site
from server.testclient import Client, HTTPError

pytestmark = pytest.mark.timeout(180)


@contextlib.asynccontextmanager
async def serve(**overrides) -> AsyncIterator[tuple[str, object]]:
    app = create_app(Settings(ice_loopback=True, **overrides), peer_routes=False)
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


async def squat_offer(url: str, local_addr: str) -> int:
    """A real offer whose sender never completes ICE (it never sets the answer): what a squatter sends."""
    ghost = Client(url)
    ghost.pc.addTrack(ghost.camera)
    await ghost.pc.setLocalDescription(await ghost.pc.createOffer())
    sdp = ghost.pc.localDescription.sdp
    await ghost.close()
    conn = aiohttp.TCPConnector(local_addr=(local_addr, 0))
    async with (
        aiohttp.ClientSession(connector=conn) as http,
        http.post(f"{url}/offer", json={"sdp": sdp, "type": "offer"}) as r,
    ):
        return r.status


async def test_other_origins_get_no_session_and_pages_carry_security_headers():
    async with serve(allowed_origins="https://shop.example") as (url, _app), aiohttp.ClientSession() as http:
        ws_url = url.replace("http", "ws") + "/ws"
        for origin in ("https://evil.example", "null"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await http.ws_connect(ws_url, headers={"Origin": origin})
            assert e.value.status == 403
            async with http.post(f"{url}/offer", json={"sdp": "v=0"}, headers={"Origin": origin}) as r:
                assert r.status == 403 and (await r.json())["code"] == "forbidden_origin"
        for origin in (url, "https://shop.example"):  # the server's own pages, and a configured shop
            ws = await http.ws_connect(ws_url, headers={"Origin": origin})
            await ws.send_json({"type": "ping", "id": 1})
            assert (await ws.receive_json(timeout=5))["type"] == "ack"
            await ws.close()

        for page in ("/", "/kiosk", "/xr"):
            async with http.get(url + page) as r:
                assert r.status == 200, page
                h = r.headers
                csp = h["Content-Security-Policy"]
                assert "default-src 'self'" in csp and "object-src 'none'" in csp, csp
                assert "frame-ancestors 'self' https://shop.example" in csp, csp
                assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
                assert "camera=(self)" in h["Permissions-Policy"] and "microphone=(self)" in h["Permissions-Policy"]
                assert h["X-Content-Type-Options"] == "nosniff" and h["Referrer-Policy"] == "same-origin"
        for path in ("/_test/", "/./node_modules/iwer/package.json", "/node_modules/iwer/package.json",
                     "/css/" + "a" * 300, "/" + "x/" * 600):  # fmt: skip
            async with http.get(url + path) as r:
                assert r.status == 404, (path[:40], r.status)
    async with serve(test_pages=True) as (url, _app), aiohttp.ClientSession() as http:
        async with http.get(url + "/_test/") as r:
            assert r.status == 200 and "X-Frame-Options" in r.headers  # no shop origins: same-origin framing only


async def test_pre_offer_websockets_are_rate_limited_and_closed_when_idle():
    async with serve(preoffer_timeout_s=1.5, max_messages_per_s=5) as (url, _app), aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url.replace("http", "ws") + "/ws")
        for i in range(60):
            await ws.send_json({"type": "ping", "id": i})
        got = []
        with contextlib.suppress(asyncio.TimeoutError, TypeError):
            while len(got) < 60:
                got.append(await ws.receive_json(timeout=3))
        codes = [m.get("code") for m in got if m["type"] == "error"]
        acks = [m for m in got if m["type"] == "ack"]
        assert "rate_limited" in codes and len(acks) <= 12, (len(acks), codes[:3])
        await ws.close()

        idle = await http.ws_connect(url.replace("http", "ws") + "/ws")
        t0 = time.monotonic()
        msg = await idle.receive_json(timeout=5)
        assert msg["code"] == "idle"
        assert (await idle.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert time.monotonic() - t0 < 3.5


async def test_squatted_offers_cannot_keep_a_shopper_out():
    """Offers that never connect: one address holds one connecting slot at most; squatters from several
    addresses are cut off by the first-connect budget; the shopper gets in within seconds either way."""
    async with serve(max_sessions=4, ice_timeout_s=3.0) as (url, app):
        manager = app[MANAGER]
        assert await squat_offer(url, "127.0.0.3") == 200
        for _ in range(5):  # the same squatter again and again: 429 with Retry-After
            assert await squat_offer(url, "127.0.0.3") == 429
        shopper = Client(url, local_addr="127.0.0.2")
        try:
            t0 = time.monotonic()
            await shopper.connect_http({"layout": "mirror"})
            await shopper.wait_frames(5, timeout=30)
            print(f"shopper beside one squatter: streaming after {time.monotonic() - t0:.1f} s")
        finally:
            await shopper.close()
        await shopper.wait_for(lambda: len(manager.sessions) <= 1, 10)

        # two squatting addresses fill the connecting slots (half of max_sessions): the shopper is told to retry
        assert await squat_offer(url, "127.0.0.3") in (200, 429)  # 429: its first offer is still connecting
        assert await squat_offer(url, "127.0.0.4") == 200
        shopper = Client(url, local_addr="127.0.0.2")
        t0 = time.monotonic()
        try:
            while True:
                try:
                    await shopper.connect_http({"layout": "mirror"})
                    break
                except HTTPError as e:
                    assert e.status == 503 and int(e.headers["Retry-After"]) <= 3, (e.status, e.body)
                    await asyncio.sleep(int(e.headers["Retry-After"]))
                    await shopper.close()
                    shopper = Client(url, local_addr="127.0.0.2")
            await shopper.wait_frames(5, timeout=30)
            admitted = time.monotonic() - t0
            print(f"shopper beside two squatters: admitted after {admitted:.1f} s")
            assert admitted < 3.0 + 4.0, "the first-connect budget must free squatted slots within seconds"
        finally:
            await shopper.close()
        assert manager.metrics.sessions_rejected.labels("per_client")._value.get() >= 5


async def test_a_flood_of_outfit_commands_neither_grows_the_outfit_nor_slows_another_session():
    """500 outfit-growing actions (every category in turn, and "红" x 500) from one avatar session; another session's
    frame rate is measured before and during the flood."""
    async with serve(max_messages_per_s=50) as (url, app):
        flooder = Client(url, local_addr="127.0.0.5")
        other = Client(url, local_addr="127.0.0.6")
        try:
            await flooder.connect_ws({"layout": "mirror", "pipeline": "avatar"})
            await other.connect_ws({"layout": "mirror"})
            await other.wait_frames(30, timeout=60)
            await asyncio.sleep(3)  # the avatar pipeline warms up

            async def fps(seconds: float) -> float:
                n0, t0 = other.received[0].frames, time.monotonic()
                await asyncio.sleep(seconds)
                return (other.received[0].frames - n0) / (time.monotonic() - t0)

            before = await fps(5)
            cats = ["tshirt", "jeans", "jacket", "dress", "skirt", "coat", "shirt", "shorts", "sweater", "trousers"]

            async def flood() -> None:
                for i in range(500):
                    flooder.send(
                        {"type": "actions", "id": f"f{i}", "actions": [{"type": "select", "category": cats[i % 10]}]}
                    )
                    await asyncio.sleep(1 / 45)  # just under the rate limit: every message is taken
                flooder.send({"type": "command", "id": "red", "text": "红" * 500})

            task = asyncio.ensure_future(flood())
            during = await fps(8)
            await task
            (session,) = [s for s in app[MANAGER].sessions.values() if s.options.pipeline == "avatar"]
            await flooder.wait_for(lambda: any(m.get("id") == "red" for m in flooder.messages), 30)
            assert len(session.state.outfit) <= 3, session.state.outfit
            print(f"other session: {before:.1f} fps before, {during:.1f} fps during the flood")
            assert during >= 0.6 * before, (before, during)
            red = next(m for m in flooder.messages if m.get("id") == "red")  # one action, or refused for this garment
            assert (red["type"] == "ack" and len(red["actions"]) <= 1) or red.get("code") == "refused", red
        finally:
            await flooder.close()
            await other.close()


def test_a_draining_server_answers_new_offers_with_503_and_retry_after(tmp_path):
    """SIGTERM: open sessions are told and drained while the server still listens; a new offer meanwhile gets
    503 with Retry-After, not a refused connection."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FITMIRROR_ICE_LOOPBACK": "1", "FITMIRROR_PORT": str(port), "FITMIRROR_HOST": "127.0.0.1",
           "FITMIRROR_PRELOAD_PIPELINES": "", "FITMIRROR_PRELOAD_LLM": "0", "FITMIRROR_DRAIN_TIMEOUT_S": "4"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "fitmirror.cli", "serve"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    async def run() -> None:
        from server.aiortc_patches import enable_loopback_ice

        enable_loopback_ice(True)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    assert time.monotonic() < deadline, "the server did not start"
                    await asyncio.sleep(0.2)
        client = Client(url)
        try:
            await client.connect_ws({"layout": "mirror"})
            await client.wait_frames(5, timeout=30)
            proc.send_signal(signal.SIGTERM)
            await client.wait_for(lambda: any(m.get("code") == "shutting_down" for m in client.messages), 10)
            late = Client(url, local_addr="127.0.0.7")
            with pytest.raises(HTTPError) as e:
                await late.connect_http({"layout": "mirror"})
            await late.close()
            assert e.value.status == 503 and int(e.value.headers["Retry-After"]) > 0, e.value
            assert "shutting down" in e.value.body["message"]
        finally:
            await client.close()

    try:
        asyncio.run(run())
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_refused_commands_leave_the_outfit_and_answer_in_the_shoppers_language():
    async with serve() as (url, _app):
        client = Client(url, local_addr="127.0.0.8")
        try:
            await client.connect_ws({"layout": "mirror", "pipeline": "avatar", "lang": "zh"})
            await client.wait_for(lambda: any(m["type"] == "state" for m in client.messages), 10)
            start = [m for m in client.messages if m["type"] == "state"][-1]["outfit"]
            for text, said in [("我想试试紫色的牛仔裤", "没有紫色的牛仔裤；牛仔裤有蓝色"),
                               ("show me the purple jeans", "We have no purple jeans; jeans come in blue")]:  # fmt: skip
                n = len(client.messages)
                err = await client.request({"type": "command", "id": text[:8], "text": text})
                assert err["type"] == "error" and err["code"] == "refused", err
                await client.wait_for(lambda n=n: any(m["type"] == "reply" for m in client.messages[n:]), 10)
                reply = next(m for m in client.messages[n:] if m["type"] == "reply")
                assert reply["text"].startswith(said), reply
            states = [m for m in client.messages if m["type"] == "state"]
            assert states[-1]["outfit"] == start, "a refused command must leave the outfit as it was"
        finally:
            await client.close()
