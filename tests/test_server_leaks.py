"""Open and close 50 real WebRTC sessions (three ways of ending them): no growth in threads, tasks or memory."""

from __future__ import annotations

import asyncio
import gc
import os
import threading

import pytest

from fitmirror.config import Settings
from server.app import MANAGER, create_app, start_site
from server.testclient import Client

pytestmark = pytest.mark.timeout(240)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _one(url: str, app, i: int) -> None:
    client = Client(url)
    client.decode_images = False
    try:
        if i % 3 == 2:
            await client.connect_ws({"layout": "mirror", "resolution": [320, 240]})
        else:
            await client.connect_http({"layout": "mirror", "resolution": [320, 240]})
        await client.wait_frames(2, timeout=30)
        if i % 3 == 0:
            await client.request({"type": "bye", "id": i})
    finally:
        await client.close()  # i % 3 == 1: the client just goes away (peer + data channel close)
    await client.wait_for(lambda: not app[MANAGER].sessions, 15)


async def test_fifty_sessions_release_everything():
    settings = Settings(ice_loopback=True, max_sessions=2, output_fps=15)
    app = create_app(settings, peer_routes=False)
    runner, port = await start_site(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    try:
        for i in range(15):  # warm-up: codec libraries, thread pools, allocator arenas (RSS plateaus after ~25)
            await _one(url, app, i)
        await asyncio.sleep(1.0)
        gc.collect()
        threads0, tasks0, rss0 = threading.active_count(), len(asyncio.all_tasks()), rss_mb()
        for i in range(25):
            await _one(url, app, i)
        gc.collect()
        rss_mid = rss_mb()
        for i in range(25, 50):
            await _one(url, app, i)
        await asyncio.sleep(2.0)  # let worker threads finish exiting
        gc.collect()
        threads1, tasks1, rss1 = threading.active_count(), len(asyncio.all_tasks()), rss_mb()
        names = sorted(t.name for t in threading.enumerate())
        print(f"threads {threads0}->{threads1}, tasks {tasks0}->{tasks1}, rss {rss0:.0f}->{rss_mid:.0f}->{rss1:.0f} MB")
        assert threads1 <= threads0 + 2, f"thread leak: {threads0} -> {threads1}: {names}"
        assert not [n for n in names if n.startswith("fm-session")], "session worker threads left running"
        assert tasks1 <= tasks0 + 2, f"task leak: {tasks0} -> {tasks1}"
        # allocator arenas settle over the first sessions; a leak keeps growing, so the second half is what counts
        assert rss1 - rss_mid < 25, f"memory grew by {rss1 - rss_mid:.0f} MB over the last 25 sessions (leak)"
        assert rss1 - rss0 < 60, f"memory grew by {rss1 - rss0:.0f} MB over 50 sessions"
        closed = app[MANAGER].metrics.sessions_closed
        assert sum(s.value for m in closed.collect() for s in m.samples if s.name.endswith("_total")) >= 65
    finally:
        await runner.cleanup()
