"""Headless Debian Chromium (Playwright) against the real server: fake webcam from a y4m made of a real person
photo, the server's /_test/ page, WebRTC both ways on loopback, a typed command, a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fitmirror.browser import CHROMIUM, launch_chromium
from fitmirror.config import Settings
from server.app import MANAGER, create_app, start_site

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def person_y4m(shared_data: Path, tmp_path_factory) -> Path:
    """A 2 s 640x480 y4m of a real person photo (Chromium loops it); made in a temp dir, never in the repo."""
    if not Path(CHROMIUM).exists() or shutil.which("ffmpeg") is None:
        pytest.fail("Debian chromium and ffmpeg are required (scripts/setup.sh installs them)")
    photos = sorted((shared_data / "tryon-photos" / "persons").glob("*.jpg"))
    assert photos, "no person photos in ../shared/data/tryon-photos/persons"
    out = tmp_path_factory.mktemp("y4m") / "person_640x480.y4m"
    vf = "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,format=yuv420p"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-loop",
            "1",
            "-i",
            str(photos[0]),
            "-t",
            "2",
            "-r",
            "30",
            "-vf",
            vf,
            "-f",
            "yuv4mpegpipe",
            str(out),
        ],
        check=True,
    )
    return out


async def test_chromium_session_video_and_command(person_y4m: Path, artifacts: Path):
    from playwright.async_api import async_playwright

    app = create_app(Settings(ice_loopback=True, test_pages=True), peer_routes=False)
    runner, port = await start_site(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    console_errors: list[str] = []
    try:
        async with async_playwright() as p:
            browser = await launch_chromium(p, fps=30, video=person_y4m)
            try:
                page = await browser.new_page(viewport={"width": 1000, "height": 1100})
                page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
                await page.goto(f"{url}/_test/")
                await page.evaluate("fm.start({layout: 'mosaic', views: ['front', 'back', 'left'], codec: 'h264'})")
                await page.wait_for_function("async () => (await fm.framesDecoded()) > 20", timeout=30_000, polling=250)
                await page.wait_for_function(
                    "document.querySelector('video') && document.querySelector('video').videoWidth > 0", timeout=10_000
                )
                size = await page.evaluate(
                    "[document.querySelector('video').videoWidth, document.querySelector('video').videoHeight]"
                )
                assert size == [1152, 384], size

                msg_id = await page.evaluate("fm.command('show me the blue dress in size M')")
                await page.wait_for_function(
                    f"fm.messages.some(m => (m.type === 'ack' || m.type === 'error') && m.id === '{msg_id}')",
                    timeout=15_000,
                )
                ack = await page.evaluate(f"fm.messages.find(m => m.id === '{msg_id}')")
                assert ack["type"] == "ack", ack
                await page.wait_for_function("fm.state && fm.state.size === 'M'", timeout=10_000)
                state = await page.evaluate("fm.state")
                assert state["outfit"][0]["color"] == "blue" and state["outfit"][0]["category"] == "dress"
                await page.wait_for_function("fm.stats && fm.stats.fps_out > 5", timeout=10_000)
                n = await page.evaluate("fm.framesDecoded()")
                await page.wait_for_function(
                    f"async () => (await fm.framesDecoded()) > {n + 15}", timeout=15_000, polling=250
                )
                await page.screenshot(path=str(artifacts / "server_chromium_mosaic.png"))

                session = next(iter(app[MANAGER].sessions.values()))
                assert session.fps_in.rate() > 5, "the webcam (y4m) should arrive at a real frame rate"
                assert session.audio.total_samples > 0, "the fake microphone should reach the audio buffer"
                assert session.state.size == "M"
                await page.evaluate("fm.stop()")
                await session.closed.wait()
            finally:
                await browser.close()
    finally:
        await runner.cleanup()
    assert not [e for e in console_errors if "favicon" not in e], console_errors
