"""Headless Debian Chromium as the benches and the browser tests launch it (Playwright), and the benches' wait for
a server to say /readyz."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/lib/chromium/chromium"
BASE_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--allow-loopback-in-peer-connection",  # without it Chromium gathers no candidates on a loopback-only host
]


def chromium_args(
    fake_media: bool = True,
    fps: int | None = None,
    video: Path | str | None = None,
    audio: Path | str | None = None,
    extra: tuple[str, ...] | list[str] = (),
) -> list[str]:
    """BASE_ARGS, plus (fake_media) a granted fake camera and microphone at `fps` (Chromium's default when None),
    fed from a y4m `video` and a wav `audio` when given, then `extra`."""
    args = list(BASE_ARGS)
    if fake_media:
        fake_device = "--use-fake-device-for-media-stream" + (f"=fps={fps}" if fps else "")
        args += ["--use-fake-ui-for-media-stream", fake_device]
    if video is not None:
        args.append(f"--use-file-for-fake-video-capture={video}")
    if audio is not None:
        args.append(f"--use-file-for-fake-audio-capture={audio}")
    return [*args, *extra]


def launch_chromium(pw: Any, args: list[str] | None = None, **kwargs: Any) -> Any:
    """Headless CHROMIUM from a Playwright object (sync or async API: the async one returns an awaitable) with
    `args`, or chromium_args(**kwargs) when none are given."""
    return pw.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=chromium_args(**kwargs) if args is None else args
    )


async def wait_ready(url: str, timeout_s: float) -> float:
    """Poll `url`/readyz until the server is ready (its start-up preload done: pipelines built, the LLM's system
    prompt evaluated) and return the seconds waited. Benchmarks start only then: the preload runs for 20-40 s on
    both cores of the build box and measured sessions beside it at about half their speed."""
    import aiohttp

    t0 = time.monotonic()
    body: dict = {}
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - t0 < timeout_s:
            try:
                async with http.get(f"{url}/readyz") as r:
                    body = await r.json()
                    if body.get("ready"):
                        return time.monotonic() - t0
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise TimeoutError(f"server not ready after {timeout_s:.0f} s: {body}")
