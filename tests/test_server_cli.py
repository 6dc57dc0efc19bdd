"""`fitmirror serve`: prints its URL, serves, and exits cleanly on SIGTERM (draining sessions)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from fitmirror.config import REPO_ROOT

pytestmark = pytest.mark.timeout(240)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port: int, **env_extra: str) -> subprocess.Popen:
    env = {**os.environ, "FITMIRROR_ICE_LOOPBACK": "1", "FITMIRROR_DRAIN_TIMEOUT_S": "1", **env_extra}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fitmirror.cli", "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = proc.stdout.readline()
    assert f"http://127.0.0.1:{port}/" in first, first
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                assert r.status == 200
                return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.2)


def _readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_serve_is_ready_once_models_are_loaded_and_stops_on_sigterm():
    port = _free_port()
    proc = _start(port)
    try:
        deadline = time.monotonic() + 150
        code, body = _readyz(port)
        while code != 200:  # 503 while the avatar pipeline and the LLM load in the background
            assert body["ready"] is False and "loading" in body["preload"].values(), body
            assert time.monotonic() < deadline, f"not ready after 150 s: {body}"
            time.sleep(0.5)
            code, body = _readyz(port)
        assert body["ready"] is True and "route_errors" not in body, body
        assert body["preload"] == {"pipelines": "ok", "llm": "ok"}, body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_during_model_warm_up_stops_promptly():
    """A shutdown does not wait for the LLM's uninterruptible start-up prompt evaluation."""
    port = _free_port()
    proc = _start(port, FITMIRROR_PRELOAD_PIPELINES="")
    try:
        code, body = _readyz(port)
        if code == 200:
            pytest.skip(f"the warm-up finished before the check could interrupt it: {body}")
        assert body["preload"] == {"llm": "loading"}, body
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        # (its "model warm-up abandoned" line can be lost: llama.cpp points stdout at /dev/null while it loads)
        assert time.monotonic() - t0 < 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_app_start_up_warms_the_rules_path():
    """The first typed command runs the rules inline on the event loop: their modules are imported when the app is
    made (a fresh interpreter, as `fitmirror serve`), not in the first shopper's command (100-175 ms there)."""
    code = (
        "import sys\n"
        "from server.app import create_app\n"
        "assert 'nlu.parser' not in sys.modules\n"
        "create_app()\n"
        "print('nlu.parser' in sys.modules, 'nlu.rules' in sys.modules)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True"], out.stdout
