"""`fitmirror serve [--host H] [--port P]`: run the fitting-room server until SIGINT/SIGTERM, then drain sessions."""

from __future__ import annotations

import argparse
import logging
import os

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
    print(f"fitmirror: serving on http://{shown}:{args.port}/  (test page /_test/, metrics /metrics)", flush=True)
    # run_app turns SIGINT/SIGTERM into a graceful exit: on_shutdown tells clients and drains sessions
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=None,
        shutdown_timeout=s.drain_timeout_s + 5,
        access_log=None,
    )
    from server.app import preload_running

    if preload_running(app):
        # A start-up model load (llama.cpp evaluating its prompt, MediaPipe graphs) is native code on a worker thread
        # that cannot be interrupted; waiting for it would make SIGTERM take tens of seconds. Sessions are drained.
        print("fitmirror: stopped (model warm-up abandoned)", flush=True)
        logging.shutdown()
        os._exit(0)
    print("fitmirror: stopped", flush=True)
    return 0
