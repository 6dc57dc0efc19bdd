"""`fitmirror serve [--host H] [--port P]`: run the fitting-room server until SIGINT/SIGTERM, then drain sessions."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from aiohttp import web

from fitmirror.config import get_settings

log = logging.getLogger("fitmirror.server")


def main(argv: list[str]) -> int:
    s = get_settings()
    ap = argparse.ArgumentParser(prog="fitmirror serve", description=__doc__)
    ap.add_argument("--host", default=s.host, help=f"bind address (default {s.host}, env FITMIRROR_HOST)")
    ap.add_argument("--port", type=int, default=s.port, help=f"port (default {s.port}, env FITMIRROR_PORT)")
    args = ap.parse_args(argv)
    from server.app import create_app

    app = create_app(s, preload=True)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    print(f"fitmirror: serving on http://{shown}:{args.port}/  (metrics /metrics)", flush=True)
    asyncio.run(_serve(app, args.host, args.port, s.drain_timeout_s))
    from server.app import preload_running

    if preload_running(app):
        # A start-up model load (MediaPipe graphs, the pre-drape) is native code on a worker thread that cannot be
        # interrupted; waiting for it would make SIGTERM take tens of seconds. Sessions are drained.
        print("fitmirror: stopped (model warm-up abandoned)", flush=True)
        logging.shutdown()
        os._exit(0)
    print("fitmirror: stopped", flush=True)
    return 0


async def _serve(app: web.Application, host: str, port: int, drain_s: float) -> None:
    """Serve until SIGINT/SIGTERM, then drain while still listening: new offers get 503 with Retry-After and
    /readyz says not ready (aiohttp's run_app closes the listening socket first, so they were refused), then stop."""
    from server.app import MANAGER

    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=drain_s + 5)
    await runner.setup()
    await web.TCPSite(runner, host or None, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("stopping: draining sessions for up to %.0f s", drain_s)
        await app[MANAGER].shutdown(drain_s)  # still listening: offers meanwhile get 503 + Retry-After
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
