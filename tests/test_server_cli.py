"""`fitmirror serve`: prints its URL, serves, and exits cleanly on SIGTERM (draining sessions)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from fitmirror.config import REPO_ROOT

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_prints_url_serves_and_stops_on_sigterm():
    port = _free_port()
    env = {**os.environ, "FITMIRROR_ICE_LOOPBACK": "1", "FITMIRROR_DRAIN_TIMEOUT_S": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fitmirror.cli", "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first, first
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            body = r.read().decode()
        assert '"ready": true' in body and "route_errors" in body and '"route_errors": {}' in body, body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
