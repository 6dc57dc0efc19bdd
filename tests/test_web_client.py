"""The browser client end to end: headless Debian Chromium (Playwright) with a fake webcam made from a real person
photo and a fake microphone made with espeak-ng, against the real server (server.app.create_app) in this process.

Each mode (desktop /, kiosk /kiosk, WebXR /xr with the IWER emulator) must load without console errors, connect,
show the returned video within 5 s and change the outfit on a typed command (and a spoken one when the server has
a voice stage); the XR test checks per eye, by readPixels, that each eye shows its half of the stereo stream.
Error paths: camera denied, server unreachable, server full, and a dropped session that reconnects.
Screenshots of every mode go to tests/artifacts/web_*.png.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from fitmirror.browser import CHROMIUM, launch_chromium
from fitmirror.config import REPO_ROOT, Settings

IWER = REPO_ROOT / "web_client" / "node_modules" / "iwer" / "build" / "iwer.module.js"
SPOKEN = "show me the blue dress in size medium"

pytestmark = pytest.mark.timeout(120)

sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


# --- media: a real person as the webcam, espeak-ng as the microphone --------------------------------------


@pytest.fixture(scope="module")
def media(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("web_media")
    photo = sorted((shared_data / "tryon-photos" / "persons").glob("*.jpg"))[0]
    y4m = out / "person.y4m"
    # a still photo with a slow zoom so the encoder and tracker see a live-looking 640x480 webcam
    subprocess.run(
        [
            "ffmpeg", "-y", "-loglevel", "error", "-loop", "1", "-i", str(photo), "-vf",
            "scale=360:480,pad=640:480:140:0:color=gray,format=yuv420p", "-t", "2", "-r", "15",
            "-f", "yuv4mpegpipe", str(y4m),
        ],
        check=True,
    )  # fmt: skip
    raw = out / "raw.wav"
    wav = out / "command.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), SPOKEN], check=True)
    # 16 kHz mono with 1 s of silence after the sentence (Chromium loops the file; the VAD ends an utterance
    # on the silence)
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-i", str(raw), "-af", "apad=pad_dur=1", "-ar", "16000", "-ac", "1",
         str(wav)],
        check=True,
    )  # fmt: skip
    silence = out / "silence.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=16000:cl=mono",
            "-t",
            "3",
            str(silence),
        ],
        check=True,
    )
    return {"y4m": y4m, "wav": wav, "silence": silence, "photo": photo}


# --- the real server in a background thread -------------------------------------------------------------


class ServerThread:
    """server.app.create_app served on a free loopback port by an event loop in its own thread."""

    def __init__(self, **overrides: object) -> None:
        from server.app import create_app, start_site

        self.settings = Settings(ice_loopback=True, host="127.0.0.1", **overrides)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.app = create_app(self.settings)
        self.runner, self.port = self.call(start_site(self.app, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.port}"

    def call(self, coro, timeout: float = 20.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def sessions(self) -> list:
        from server.app import MANAGER

        return list(self.app[MANAGER].sessions.values())

    def drop_all_sessions(self) -> int:
        """Close every session on the server side (what a network drop or a server restart looks like)."""
        sessions = self.sessions()
        for s in sessions:
            self.call(s.close("test_drop"))
        return len(sessions)

    def stop(self) -> None:
        try:
            self.call(self.runner.cleanup(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def _require_server() -> None:
    if importlib.util.find_spec("server.app") is None:
        pytest.fail("server/app.py (create_app) is missing: the web client has no server to talk to")


@pytest.fixture(scope="module")
def server():
    _require_server()
    srv = ServerThread()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pw():
    with sync_api.sync_playwright() as p:
        yield p


def _launch(pw, video: Path, audio: Path):
    return launch_chromium(pw, video=video, audio=audio)


@pytest.fixture(scope="module")
def browser(pw, media):
    """The person webcam and a silent microphone (so the voice stage stays idle in the non-voice tests)."""
    b = _launch(pw, media["y4m"], media["silence"])
    yield b
    b.close()


@pytest.fixture(scope="module")
def voice_browser(pw, media):
    """The person webcam and the spoken command, looped, as the microphone."""
    b = _launch(pw, media["y4m"], media["wav"])
    yield b
    b.close()


@pytest.fixture(scope="module")
def voice_server():
    """A server of its own for the voice tests, so their ASR/LLM work never delays the typed-command tests."""
    _require_server()
    srv = ServerThread()
    yield srv
    srv.stop()


class Page:
    """A page plus everything it logged, so a test can assert 'no console errors'."""

    def __init__(self, browser, viewport=(1280, 800), **ctx) -> None:
        self.ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **ctx)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.log: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _on_console(self, m) -> None:
        self.log.append(f"{m.type}: {m.text}")
        if m.type == "error":
            self.errors.append(m.text)

    def js(self, expr: str, arg=None):
        return self.page.evaluate(expr, arg)

    def wait(self, expr: str, timeout_s: float = 10.0, what: str = ""):
        try:
            return self.page.wait_for_function(expr, timeout=timeout_s * 1000)
        except sync_api.TimeoutError:
            raise AssertionError(
                f"timed out after {timeout_s} s waiting for {what or expr}; page log tail: {self.log[-8:]}"
            ) from None

    def close(self) -> None:
        self.ctx.close()


def _outfit_text(state: dict | None) -> str:
    return json.dumps((state or {}).get("outfit", []), ensure_ascii=False).lower()


def _connected_with_video(p: Page, what: str) -> float:
    t0 = time.monotonic()
    p.wait("() => window.fitmirror && window.fitmirror.conn && window.fitmirror.conn.state === 'connected'", 10, what)
    p.wait(
        "() => { const v = document.getElementById('remote'); return v && v.videoWidth > 0 && v.currentTime > 0; }",
        5.0,
        f"{what}: returned video playing within 5 s of connecting",
    )
    return time.monotonic() - t0


def _typed_command(p: Page, open_form: str | None = None) -> dict:
    before = p.js("() => window.fitmirror.conn.lastState")
    if open_form:
        p.page.click(open_form)
    p.page.fill("#chat-input", "show me the blue dress in size M")
    p.page.press("#chat-input", "Enter")
    p.wait(
        "() => { const s = window.fitmirror.conn.lastState; return s && JSON.stringify(s.outfit).toLowerCase()"
        ".includes('dress') && JSON.stringify(s.outfit).toLowerCase().includes('blue'); }",
        15,
        "a state event with a blue dress in the outfit after the typed command",
    )
    after = p.js("() => window.fitmirror.conn.lastState")
    assert _outfit_text(after) != _outfit_text(before)
    return after


def _voice_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("server.voice", "nlu.voice"))


def _spoken_command(p: Page, hold: str | None) -> None:
    """Speak the WAV's command and expect a dress in the outfit. A failure is an xfail (reported, not hidden)
    only when every transcript the server sent is a fragment without "dress": then the browser delivered the
    audio and the server transcribed it, but its ASR heard only part of the sentence (seen under heavy CPU
    load, when the voice stage falls behind)."""
    if not _voice_available():
        pytest.skip("the server has no voice stage yet (server/voice.py, nlu/voice.py): audio reaches it untranscribed")
    p.js(
        "() => { window.__heard = []; window.fitmirror.conn.addEventListener('transcript',"
        " (e) => window.__heard.push(e.detail.msg)); }"
    )
    if hold == "squeeze":  # VR: hold the emulated controller's squeeze
        p.js("() => window.fitmirror.xrDevice.controllers.right.updateButtonValue('squeeze', 1)")
        time.sleep(8)
        p.js("() => window.fitmirror.xrDevice.controllers.right.updateButtonValue('squeeze', 0)")
    elif hold:  # push-to-talk: hold the button across at least one full loop of the WAV (speech + silence)
        box = p.page.locator(hold).bounding_box()
        p.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        p.page.mouse.down()
        time.sleep(8)  # the WAV loops every ~3.1 s (2.1 s speech + 1 s silence): two whole sentences fit
        p.page.mouse.up()
    try:
        p.wait(
            "() => { const s = window.fitmirror.conn.lastState; return s && JSON.stringify(s.outfit).toLowerCase()"
            ".includes('dress'); }",
            40,
            "a state event with a dress after the spoken command",
        )
    except AssertionError as e:
        finals = [m["text"] for m in p.js("() => window.__heard") if m.get("final")]
        if finals and not any("dress" in t.lower() for t in finals):
            pytest.xfail(f"the server transcribed only fragments of the spoken command: {finals}")
        raise AssertionError(f"{e}; final transcripts from the server: {finals}") from None
    assert p.js("() => document.getElementById('transcript').textContent").strip()


# --- desktop ---------------------------------------------------------------------------------------------


def test_desktop_connects_shows_video_and_obeys_typed_command(server, browser, artifacts):
    p = Page(browser)
    try:
        p.page.goto(server.url + "/?pipeline=preview")
        took = _connected_with_video(p, "desktop")
        assert p.js("() => document.getElementById('cam-msg').dataset.key") == "camera.ok"
        # connection quality fills in: received fps and a ping round trip
        p.wait("() => Number(document.getElementById('quality').dataset.fps) > 0", 8, "fps read-out")
        p.wait("() => document.getElementById('quality').dataset.rtt !== ''", 8, "round-trip read-out")
        state = _typed_command(p)
        p.wait("() => document.getElementById('outfit-list').children.length > 0", 5, "outfit panel filled")
        # a size picked in the outfit panel reaches the server and comes back in the state
        p.page.select_option("#size", "L")
        p.wait("() => window.fitmirror.conn.lastState.size === 'L'", 5, "size L from the size picker")
        # a product picked from the catalogue list goes on, and the outfit panel names it
        p.wait("() => document.querySelectorAll('#products button').length > 0", 5, "catalogue products listed")
        pid = p.page.get_attribute("#products li:first-child button", "data-product-id")
        name = p.page.inner_text("#products li:first-child button span:nth-of-type(1)")
        p.page.click("#products li:first-child button")
        p.wait(
            f"() => JSON.stringify(window.fitmirror.conn.lastState.outfit).includes({json.dumps(pid)})",
            5,
            "picked product in the outfit",
        )
        p.wait(
            f"() => document.getElementById('outfit-list').textContent.includes({json.dumps(name)})",
            5,
            "product name in the outfit panel",
        )
        # its colours come from the catalogue: pick the last one
        colors = p.js("() => [...document.querySelectorAll('#colors button')].map(b => b.dataset.color)")
        assert colors
        p.page.click(f"#colors button[data-color='{colors[-1]}']")
        p.wait(
            f"() => JSON.stringify(window.fitmirror.conn.lastState.outfit.at(-1)).includes({json.dumps(colors[-1])})",
            5,
            "colour picked in the outfit panel",
        )
        p.page.wait_for_timeout(700)
        p.js("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
        p.page.screenshot(path=str(artifacts / "web_desktop.png"), full_page=True)
        assert not p.errors, p.errors
        print(f"desktop: video {took:.2f} s after load, state {state.get('size')} {_outfit_text(state)[:120]}")
    finally:
        p.close()


def test_desktop_language_toggle_and_accessibility(server, browser, artifacts):
    p = Page(browser, viewport=(390, 844), locale="zh-CN")  # a phone, Chinese browser
    try:
        p.page.goto(server.url + "/?pipeline=preview")
        assert p.js("() => document.documentElement.lang") == "zh-CN"
        assert "发送" in p.page.inner_text("#chat-form button[type=submit]")
        _connected_with_video(p, "desktop on a phone")
        # responsive: one column, nothing wider than the screen
        assert p.js("() => document.documentElement.scrollWidth") <= 390
        p.page.wait_for_timeout(500)
        p.page.screenshot(path=str(artifacts / "web_desktop_zh_mobile.png"), full_page=True)
        p.page.click("#lang")
        assert p.js("() => document.documentElement.lang") == "en"
        assert p.page.inner_text("#chat-form button[type=submit]").strip() == "Send"
        # every button and input has an accessible name
        unnamed = p.js(
            """() => [...document.querySelectorAll('button, input, select')].filter(e =>
                 !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim() || e.title))
                 .map(e => e.id || e.outerHTML.slice(0, 60))"""
        )
        assert not unnamed, unnamed
        assert not p.errors, p.errors
    finally:
        p.close()


class AudioTap:
    """Records the RMS of every chunk of microphone audio the server appends for its sessions (the voice
    stage drains the buffer, so the test listens at the append instead)."""

    def __init__(self, server: ServerThread) -> None:
        import numpy as np

        self.server = server
        self.log: list[tuple[float, float, int]] = []

        def tap(buf) -> None:
            orig = buf.append

            def append(pcm) -> None:
                x = pcm.astype(np.float64)
                self.log.append((time.monotonic(), float(np.sqrt(np.mean(x**2))) if len(x) else 0.0, len(x)))
                orig(pcm)

            buf.append = append

        async def install() -> None:
            for session in server.sessions():
                tap(session.audio)

        server.call(install())

    def rms(self, seconds: float) -> float:
        now = time.monotonic()
        recent = [(r, n) for t, r, n in list(self.log) if now - t <= seconds]
        total = sum(n for _, n in recent)
        return (sum(r * r * n for r, n in recent) / total) ** 0.5 if total else 0.0


def test_desktop_reconnects_after_the_session_drops(server, browser):
    p = Page(browser)
    try:
        p.page.goto(server.url + "/?pipeline=preview")
        _connected_with_video(p, "desktop before the drop")
        first = server.sessions()
        assert len(first) >= 1
        assert server.drop_all_sessions() >= 1
        p.wait("() => window.fitmirror.conn.connects >= 2", 20, "automatic reconnect")
        assert p.js("() => window.fitmirror.conn.state") == "connected"
        p.wait("() => document.getElementById('remote').videoWidth > 0", 10, "video after reconnect")
        assert {s.id for s in server.sessions()}.isdisjoint({s.id for s in first})
    finally:
        p.close()


class ServerProcess:
    """`python -m fitmirror.cli serve` in a child process, so a test can kill it like a crash or a cut cable."""

    def __init__(self, port: int) -> None:
        import os
        import sys

        env = {**os.environ, "FITMIRROR_ICE_LOOPBACK": "1", "FITMIRROR_PORT": str(port), "FITMIRROR_HOST": "127.0.0.1"}
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fitmirror.cli", "serve"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        self.kill()
        raise AssertionError("server did not start listening within 30 s")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@contextlib.contextmanager
def _page_on_a_server_process(browser, path: str):
    """A page on a `fitmirror serve` child process, and `restart()`: start a new server on the same port and
    return the seconds until the page is connected with video again."""
    _require_server()
    port = _free_port()
    servers = [ServerProcess(port)]
    p = Page(browser)

    def restart() -> float:
        servers.append(ServerProcess(port))
        t0 = time.monotonic()
        p.wait("() => window.fitmirror.conn.state === 'connected'", 30, "reconnected after the server came back")
        p.wait("() => document.getElementById('remote').videoWidth > 0", 10, "video after the restart")
        return time.monotonic() - t0

    try:
        p.page.goto(servers[0].url + path)
        yield servers[0], p, restart
    finally:
        p.close()
        for srv in servers:
            if srv.proc.poll() is None:
                srv.kill()


def test_desktop_rides_out_a_server_crash(browser, artifacts):
    """The server process dies (every connection drops, the port refuses) and a new one starts on the same port:
    the page says so, backs off, and reconnects by itself."""
    with _page_on_a_server_process(browser, "/?pipeline=preview") as (srv, p, restart):
        _connected_with_video(p, "desktop before the crash")
        srv.kill()
        p.wait("() => document.getElementById('status').dataset.state === 'unreachable'", 15, "unreachable")
        assert "cannot be reached" in p.page.inner_text("#status")
        p.page.screenshot(path=str(artifacts / "web_desktop_reconnecting.png"))
        print(f"reconnected {restart():.1f} s after the new server process was started")


def _orphans(name: str) -> list[int]:
    """Processes whose command line names `name` and whose parent is init (left behind by a dead server)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if name in cmd and ppid == 1:
            out.append(int(d.name))
    return out


def test_a_hung_server_is_noticed_within_seconds_on_the_data_channel(browser, artifacts):
    """A server that stops answering without closing anything (SIGSTOP: no RST, the data channel stays open for
    ~30 s): the page notices the silence within seconds, says so, and reconnects once a server is back."""
    with _page_on_a_server_process(browser, "/?pipeline=preview&signalling=http") as (srv, p, restart):
        _connected_with_video(p, "desktop (data channel only) before the hang")
        assert p.js("() => window.fitmirror.conn.signalledVia") == "http"
        srv.proc.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        p.wait("() => window.fitmirror.conn.state !== 'connected'", 10, "the page noticing a silent server")
        noticed = time.monotonic() - t0
        assert noticed < 4.0 + 2.5, f"a silent server was noticed after {noticed:.1f} s"
        status = p.page.inner_text("#status")
        assert "Connection lost" in status or "cannot be reached" in status, status
        # said over the video too, where the shopper is looking
        p.wait("() => !document.getElementById('video-wait').hidden", 3, "the message over the video")
        over = p.page.inner_text("#video-wait")
        assert "Connection lost" in over or "cannot be reached" in over, over
        p.page.screenshot(path=str(artifacts / "web_desktop_server_silent.png"))
        srv.kill()
        time.sleep(1.0)
        assert not _orphans("nlu.worker"), "worker processes must die with their server"
        print(f"silence noticed after {noticed:.1f} s; reconnected {restart():.1f} s after a new server started")


# --- kiosk -----------------------------------------------------------------------------------------------


def test_kiosk_mirror_typed_command_and_wipe(server, browser, artifacts):
    p = Page(browser, viewport=(1080, 1920 // 2))
    try:
        p.page.goto(server.url + "/kiosk?reset_after=4&attract_after=1&pipeline=preview")
        _connected_with_video(p, "kiosk")
        p.wait("() => window.fitmirror.conn.lastState", 5, "first state")
        assert p.js("() => window.fitmirror.conn.lastState.layout") == "mirror"
        p.wait("() => Number(document.getElementById('quality').dataset.fps) > 0", 8, "kiosk fps read-out")
        assert p.page.is_visible(".privacy")
        # tap the attract screen when it is up (tracking may take a moment to see the shopper)
        if p.page.is_visible("#attract"):
            p.page.click("#attract")
        _typed_command(p, open_form="#kbd")
        # touch targets are large
        size = p.js("() => { const r = document.querySelector('#sizes button').getBoundingClientRect(); "
                    "return [r.width, r.height]; }")  # fmt: skip
        assert min(size) >= 64, size
        p.page.wait_for_timeout(500)
        p.page.screenshot(path=str(artifacts / "web_kiosk.png"))
        # "Start over": the session ends on the server, the screen is cleared, a fresh session starts
        old = {s.id for s in server.sessions()}
        p.page.click("#reset")
        p.wait("() => window.fitmirror.wipes === 1", 5, "wipe")
        assert p.js("() => document.getElementById('transcript').textContent") == ""
        p.wait("() => window.fitmirror.conn && window.fitmirror.conn.state === 'connected'", 15, "new session")
        p.wait("() => window.fitmirror.conn.lastState", 5, "state of the new session")
        assert "dress" not in _outfit_text(p.js("() => window.fitmirror.conn.lastState"))
        assert {s.id for s in server.sessions()}.isdisjoint(old)
        assert not p.errors, p.errors
    finally:
        p.close()


def test_kiosk_attract_screen_and_auto_wipe_when_nobody_is_there(server, pw, media, artifacts):
    """Chromium's built-in fake camera (a moving pattern, no person) makes the server report nobody present."""
    from server.app import preload_pipelines

    preload_pipelines(["avatar"])  # as `fitmirror serve` does at start-up: the kiosk runs the avatar pipeline
    b = launch_chromium(pw)
    p = Page(b, viewport=(1080, 960))
    try:
        p.page.goto(server.url + "/kiosk?reset_after=3&attract_after=1")
        _connected_with_video(p, "kiosk (empty)")
        p.page.click("#attract")  # someone tapped, then nobody shows up in front of the camera
        # The kiosk's default (avatar) pipeline tracks: an empty camera must produce a "nobody there" event.
        p.wait("() => window.fitmirror.trackingEvents > 0", 30, "a tracking event from the avatar pipeline")
        p.wait(
            "() => window.fitmirror.present === false && window.fitmirror.wipes >= 1",
            15,
            "tracking absent -> attract screen and wipe",
        )
        assert p.page.is_visible("#attract")
        p.page.screenshot(path=str(artifacts / "web_kiosk_attract_empty_camera.png"))
    finally:
        p.close()
        b.close()


def test_kiosk_presence_drives_attract_screen_microphone_and_wipe(server, browser, artifacts):
    """The kiosk's reaction to the server's tracking events: shopper present -> attract screen gone, microphone
    live; shopper gone -> attract screen, microphone off, and after reset_after s the server session is ended
    and a fresh one opened. The events are fed through the page's own message handler (the same path a
    server message takes), because the preview pipeline does not detect people yet."""
    p = Page(browser)
    try:
        p.page.goto(server.url + "/kiosk?reset_after=2&attract_after=0.5&pipeline=preview")
        _connected_with_video(p, "kiosk (presence)")
        assert p.page.is_visible("#attract")
        assert p.js("() => window.fitmirror.stream.getAudioTracks()[0].enabled") is False
        p.js("() => window.fitmirror.conn._onMessage({type: 'tracking', present: true})")
        assert not p.page.is_visible("#attract")
        assert p.js("() => window.fitmirror.stream.getAudioTracks()[0].enabled") is True
        assert p.page.is_visible("#listening")
        _typed_command(p, open_form="#kbd")
        old = {s.id for s in server.sessions()}
        assert old
        p.js("() => window.fitmirror.conn._onMessage({type: 'tracking', present: false})")
        assert p.js("() => window.fitmirror.stream.getAudioTracks()[0].enabled") is False
        p.wait("() => !document.getElementById('attract').hidden", 3, "attract screen after attract_after")
        p.page.screenshot(path=str(artifacts / "web_kiosk_attract.png"))
        assert p.js("() => window.fitmirror.wipes") == 0
        p.wait("() => window.fitmirror.wipes === 1", 5, "wipe after reset_after")
        assert p.js("() => document.getElementById('transcript').textContent") == ""
        p.wait("() => window.fitmirror.conn && window.fitmirror.conn.state === 'connected'", 15, "fresh session")
        p.wait("() => window.fitmirror.conn.lastState", 5, "fresh state")
        assert "dress" not in _outfit_text(p.js("() => window.fitmirror.conn.lastState"))
        assert {s.id for s in server.sessions()}.isdisjoint(old), "the old session must be gone from the server"
        assert not p.errors, p.errors
    finally:
        p.close()


# --- WebXR -----------------------------------------------------------------------------------------------


def _xr_select(p: Page, index_expr: str) -> dict:
    """Point IWER's right controller (identity rotation looks down -z) at a strip button and click the trigger."""
    want = p.js(index_expr)
    assert want >= 0
    p.js("() => { const c = window.fitmirror.xrDevice.controllers.right; c.quaternion.set(0, 0, 0, 1);"
         " c.position.set(0, 1.0, -0.5); }")  # fmt: skip
    start = p.js("() => window.fitmirror.xrFrames")
    p.wait(f"() => window.fitmirror.xrFrames > {start + 3}", 10, "XR frames after moving the controller")
    # the 'local' space is offset from IWER's device space: measure the offset from the ray origin
    origin = p.js("() => window.fitmirror.rays.right.origin")
    off = [origin[0] - 0.0, origin[1] - 1.0, origin[2] + 0.5]
    cx, cy, _ = p.js(f"() => window.fitmirror.buttonCenter({want})")
    p.js(
        f"() => window.fitmirror.xrDevice.controllers.right.position.set({cx - off[0]}, {cy - off[1]}, {-0.5 - off[2]})"
    )
    start = p.js("() => window.fitmirror.xrFrames")
    p.wait(f"() => window.fitmirror.xrFrames > {start + 3}", 10, "XR frames after aiming")
    hit = p.js("() => { const r = window.fitmirror.rays.right; return window.fitmirror.pickButton(r.origin, r.dir); }")
    n = p.js("() => window.fitmirror.picks.length")
    p.js("() => window.fitmirror.xrDevice.controllers.right.updateButtonValue('trigger', 1)")
    start = p.js("() => window.fitmirror.xrFrames")
    p.wait(f"() => window.fitmirror.xrFrames > {start + 3}", 10, "XR frames with the trigger down")
    p.js("() => window.fitmirror.xrDevice.controllers.right.updateButtonValue('trigger', 0)")
    p.wait(f"() => window.fitmirror.picks.length > {n}", 10, "a select event from the emulated controller")
    return {"want": want, "hit": hit, "pick": p.js("() => window.fitmirror.picks.at(-1)")}


def test_xr_stereo_per_eye_with_iwer(server, browser, artifacts):
    if not IWER.exists():
        pytest.fail(f"{IWER} missing: run scripts/setup.sh (npm ci in web_client)")
    p = Page(browser)
    try:
        p.page.goto(server.url + "/xr?emulate=1&pipeline=preview")
        p.wait("() => window.fitmirror.xrSupported === true", 10, "IWER immersive-vr support")
        _connected_with_video(p, "xr")
        assert p.js("() => window.fitmirror.conn.lastState.layout") == "stereo"
        vw, vh = p.js(
            "() => [document.getElementById('remote').videoWidth, document.getElementById('remote').videoHeight]"
        )
        assert vw >= 2 * vh * 0.9, f"stereo stream should be side by side, got {vw}x{vh}"
        p.page.click("#enter")  # a real click gives the user activation requestSession needs
        p.wait("() => window.fitmirror.xrFrames > 5", 15, "XR frames")
        probe = p.js("() => window.fitmirror.xrProbe()")
        eyes = {e["eye"]: e for e in probe["eyes"]}
        assert set(eyes) == {"left", "right"}, probe
        for name, e in eyes.items():
            assert e["n"] > 100, (name, e)
            # the eye shows its own half: a small error against it ...
            assert e["errOwn"] < 20, (name, e)
            # ... and, where the halves differ, a smaller one than against the other half
            if probe["halfDiff"] > 2:
                assert e["errOwn"] < e["errOther"], (name, e, probe["halfDiff"])
        p.page.screenshot(path=str(artifacts / "web_xr.png"))
        # the controller ray picks a button on the strip under the panel: aim the emulated right controller
        # straight at the "back" view button and pull the trigger
        picked = _xr_select(p, "() => window.fitmirror.buttons.findIndex(b => b.action.view === 'back')")
        assert picked["hit"] == picked["want"], picked
        p.wait("() => window.fitmirror.conn.lastState.view === 'back'", 10, "view 'back' picked with the ray")
        # squeeze is push-to-talk in VR
        assert p.js("() => window.fitmirror.stream.getAudioTracks()[0].enabled") is False
        p.js("() => window.fitmirror.xrDevice.controllers.right.updateButtonValue('squeeze', 1)")
        p.wait("() => window.fitmirror.stream.getAudioTracks()[0].enabled === true", 5, "squeeze -> microphone on")
        p.js("() => window.fitmirror.xrDevice.controllers.right.updateButtonValue('squeeze', 0)")
        p.wait("() => window.fitmirror.stream.getAudioTracks()[0].enabled === false", 5, "release -> microphone off")
        # typed command while in VR
        _typed_command(p)
        print("xr probe:", json.dumps(probe)[:400])
        assert not p.errors, p.errors
    finally:
        p.close()


def test_xr_without_webxr_falls_back_to_desktop_link(server, browser):
    p = Page(browser)
    try:
        p.page.goto(server.url + "/xr?pipeline=preview")
        p.wait("() => window.fitmirror.xrSupported === false", 10, "no immersive-vr without a headset")
        assert p.page.is_visible("#fallback")
        assert p.page.get_attribute("#fallback-link", "href").startswith("/")
        assert not p.errors, p.errors
    finally:
        p.close()


# --- error paths -----------------------------------------------------------------------------------------


def test_camera_denied_shows_a_clear_message(server, pw, artifacts):
    b = launch_chromium(pw, fake_media=False)  # no fake-ui: prompt denied
    p = Page(b)
    try:
        p.page.goto(server.url + "/?pipeline=preview")
        p.wait("() => document.getElementById('cam-msg').dataset.kind === 'error'", 10, "camera error message")
        key = p.js("() => document.getElementById('cam-msg').dataset.key")
        assert key in ("camera.denied", "camera.none"), key
        assert p.page.is_visible("#cam-retry")
        assert p.js("() => window.fitmirror.conn") is None  # no session without a camera
        p.page.screenshot(path=str(artifacts / "web_camera_denied.png"))
    finally:
        p.close()
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_unreachable_message_and_backoff(server, browser):
    p = Page(browser)
    try:
        dead = f"http://127.0.0.1:{_free_port()}"
        p.page.goto(server.url + f"/?server={dead}&pipeline=preview")
        p.wait("() => document.getElementById('status').dataset.state === 'unreachable'", 10, "unreachable status")
        text = p.page.inner_text("#status")
        assert "cannot be reached" in text
        assert p.page.is_visible("#retry")
    finally:
        p.close()


def test_server_full_message(browser, artifacts):
    _require_server()
    full = ServerThread(max_sessions=0)
    p = Page(browser)
    try:
        p.page.goto(full.url + "/?pipeline=preview")
        p.wait("() => document.getElementById('status').dataset.state === 'full'", 10, "server-full status (ws)")
        assert "full" in p.page.inner_text("#status").lower()
        assert p.js("() => window.fitmirror.conn.signalling") == "auto"
        p.page.screenshot(path=str(artifacts / "web_server_full.png"))
        # the POST /offer path: 503 + Retry-After
        p.page.goto(full.url + "/?signalling=http&lang=zh&pipeline=preview")
        p.wait("() => document.getElementById('status').dataset.state === 'full'", 10, "server-full status (http)")
        assert "试衣间已满" in p.page.inner_text("#status")
    finally:
        p.close()
        full.stop()


def test_camera_error_messages_are_specific(server, browser):
    """Each getUserMedia failure maps to its own message (no camera, denied, busy) in both languages."""
    p = Page(browser)
    try:
        p.page.goto(server.url + "/xr?pipeline=preview")  # any page; the modules are imported directly
        got = p.js(
            """async () => {
              const { classifyMediaError } = await import('/js/media.js');
              const i18n = await import('/js/i18n.js');
              const out = {};
              for (const name of ['NotFoundError', 'NotAllowedError', 'NotReadableError', 'TypeError']) {
                const key = classifyMediaError({ name });
                i18n.setLang('en'); const en = i18n.t(key, { detail: name });
                i18n.setLang('zh'); const zh = i18n.t(key, { detail: name });
                out[name] = { key, en, zh };
              }
              i18n.setLang('en');
              return out;
            }"""
        )
        assert got["NotFoundError"]["key"] == "camera.none" and "No camera" in got["NotFoundError"]["en"]
        assert got["NotAllowedError"]["key"] == "camera.denied" and "denied" in got["NotAllowedError"]["en"]
        assert got["NotReadableError"]["key"] == "camera.busy" and "busy" in got["NotReadableError"]["en"]
        assert got["TypeError"]["key"] == "camera.error"
        for v in got.values():
            assert v["zh"] != v["en"] and not v["zh"].startswith("camera."), v
    finally:
        p.close()


# --- voice (its own server and browser, last: whisper and the LLM keep the CPU busy) ---------------


def test_desktop_push_to_talk_sends_microphone_audio(voice_server, voice_browser):
    """The microphone goes to the server as a WebRTC audio track, silent until the talk button is held."""
    p = Page(voice_browser)
    try:
        p.page.goto(voice_server.url + "/?pipeline=preview")
        _connected_with_video(p, "desktop (microphone)")
        tap = AudioTap(voice_server)
        p.page.wait_for_timeout(2500)
        quiet = tap.rms(2.0)
        box = p.page.locator("#ptt").bounding_box()
        p.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        p.page.mouse.down()
        assert p.page.get_attribute("#ptt", "aria-pressed") == "true"
        p.page.wait_for_timeout(4500)  # longer than one loop of the WAV (speech + 1 s silence)
        talking = tap.rms(4.0)
        p.page.mouse.up()
        assert p.page.get_attribute("#ptt", "aria-pressed") == "false"
        p.page.wait_for_timeout(2000)
        after = tap.rms(1.0)
        print(f"server-side microphone RMS: before {quiet:.0f}, holding {talking:.0f}, released {after:.0f}")
        assert talking > 300 and talking > 10 * max(quiet, 1.0), (quiet, talking)
        assert after < talking / 10, (talking, after)
        assert not p.errors, p.errors
    finally:
        p.close()


def test_desktop_spoken_command(voice_server, voice_browser):
    p = Page(voice_browser)
    try:
        p.page.goto(voice_server.url + "/?pipeline=preview")
        _connected_with_video(p, "desktop (voice)")
        _spoken_command(p, "#ptt")
        assert not p.errors, p.errors
    finally:
        p.close()


def test_kiosk_spoken_command(voice_server, voice_browser):
    p = Page(voice_browser)
    try:
        p.page.goto(voice_server.url + "/kiosk?pipeline=preview")
        _connected_with_video(p, "kiosk (voice)")
        if p.page.is_visible("#attract"):
            p.page.click("#attract")  # present: the microphone is live (voice is the kiosk's main input)
        _spoken_command(p, None)
    finally:
        p.close()


def test_xr_spoken_command_with_squeeze(voice_server, voice_browser):
    if not _voice_available():
        pytest.skip("the server has no voice stage yet (server/voice.py, nlu/voice.py)")
    p = Page(voice_browser)
    try:
        p.page.goto(voice_server.url + "/xr?emulate=1&pipeline=preview")
        p.wait("() => window.fitmirror.xrSupported === true", 10, "IWER immersive-vr support")
        _connected_with_video(p, "xr (voice)")
        p.page.click("#enter")
        p.wait("() => window.fitmirror.xrFrames > 3", 15, "XR frames")
        _spoken_command(p, "squeeze")
        assert not p.errors, p.errors
    finally:
        p.close()
