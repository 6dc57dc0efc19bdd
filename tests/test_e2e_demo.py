"""The issue-9 demo, end to end: the real server in this process, headless Chromium on the desktop page with the
avatar pipeline, a fake webcam made from a real person photo and a fake microphone (espeak-ng).

A shopper connects and, without doing anything, sees themselves dressed in the demo outfit in three views; then
types "show me the blue dress in size M", "turn around", "which size fits me?", "compare M and L", "换成红色" and
each takes effect (state events, grounded replies, and the returned pixels change colour); a spoken command through
the microphone changes the outfit too. The browser helpers come from tests/test_web_client.py.
Screenshots: tests/artifacts/e2e_*.png.
"""

from __future__ import annotations

import base64
import io
import json
import time

import numpy as np
import pytest
from PIL import Image
from test_web_client import (  # noqa: F401  (media and pw are fixtures)
    Page,
    ServerThread,
    _launch,
    _require_server,
    _voice_available,
    media,
    pw,
)

pytestmark = pytest.mark.timeout(300)

FIRST_DRESSED_S = 60.0  # CPU-only: MediaPipe + anny pose + llvmpipe render, the drape in a background thread
EFFECT_S = 45.0  # a re-drape (new garment / colour / size) on a loaded 2-core box


@pytest.fixture(scope="module")
def server():
    _require_server()
    from server.app import MANAGER, preload_pipelines

    srv = ServerThread()
    # what `fitmirror serve` does at start-up (create_app(preload=True)): the avatar models are loaded and the
    # catalogue pre-draped before the first shopper, whose answer would otherwise wait 7-20 s on a loaded CPU;
    # the LLM worker process loads and evaluates its system prompt
    llm_s = srv.call(srv.app[MANAGER].preload_llm(), timeout=300)
    print(f"preloaded: {preload_pipelines(['avatar'], srv.app[MANAGER].catalog_index.products)}; LLM {llm_s} s")
    yield srv
    srv.stop()


GRAB = """(id) => {
  const v = document.getElementById(id);
  if (!v || !v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0);
  return c.toDataURL('image/png');
}"""


def grab(p: Page, video_id: str) -> np.ndarray:
    """The video element's current frame at its native size, RGB uint8."""
    url = p.js(GRAB, video_id)
    assert url, f"#{video_id} has no frame"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def tiles(img: np.ndarray, n: int = 3) -> list[np.ndarray]:
    w = img.shape[1] // n
    return [img[:, i * w : (i + 1) * w] for i in range(n)]


def color_share(img: np.ndarray, color: str) -> float:
    """Share of clearly blue / red pixels (garment colours; skin and the grey backdrop are neither)."""
    x = img.astype(np.int16)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    if color == "blue":
        m = (b > r + 30) & (b > g + 10)
    else:
        m = (r > g + 60) & (r > b + 50)
    return float(m.mean())


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference after resizing b to a's size."""
    bb = np.asarray(Image.fromarray(b).resize((a.shape[1], a.shape[0])))
    return float(np.abs(a.astype(np.int16) - bb.astype(np.int16)).mean())


def state(p: Page) -> dict:
    return p.js("() => window.fitmirror.conn.lastState") or {}


def wait_state(p: Page, cond_js: str, what: str, timeout_s: float = 15.0) -> tuple[dict, float]:
    t0 = time.monotonic()
    p.wait(f"() => {{ const s = window.fitmirror.conn.lastState; return !!s && ({cond_js}); }}", timeout_s, what)
    return state(p), time.monotonic() - t0


def type_command(p: Page, text: str) -> int:
    """Type into the chat box like a shopper; returns how many replies there were before."""
    n = p.js("() => window.__replies.length")
    p.page.fill("#chat-input", text)
    p.page.press("#chat-input", "Enter")
    return n


def wait_reply(p: Page, since: int, what: str, timeout_s: float = 30.0) -> str:
    p.wait(f"() => window.__replies.length > {since}", timeout_s, what)
    return " ".join(m["text"] for m in p.js("() => window.__replies")[since:])


def wait_dressed(p: Page, what: str, timeout_s: float) -> float:
    """Until the garment stage reports a fit (the outfit is draped and drawn on the posed body)."""
    t0 = time.monotonic()
    p.wait(
        "() => { const s = window.fitmirror.conn.lastState; return s && s.fit && s.fit.status === 'ok'; }",
        timeout_s,
        what,
    )
    return time.monotonic() - t0


def open_demo(browser, server) -> Page:
    p = Page(browser)
    p.page.goto(server.url + "/?pipeline=avatar&lang=en")
    p.wait("() => window.fitmirror && window.fitmirror.conn", 10, "app loaded")
    p.js(
        "() => { window.__replies = []; window.__states = [];"
        " const c = window.fitmirror.conn;"
        " c.addEventListener('reply', (e) => window.__replies.push(e.detail.msg));"
        " c.addEventListener('state', (e) => window.__states.push({t: performance.now(), s: e.detail.msg})); }"
    )
    p.wait("() => window.fitmirror.conn.state === 'connected'", 20, "connected")
    p.wait(
        "() => { const v = document.getElementById('remote'); return v && v.videoWidth > 0 && v.currentTime > 0; }",
        20,
        "returned video playing",
    )
    return p


def test_demo_dressed_on_connect_then_typed_commands(server, pw, media, artifacts):  # noqa: F811
    browser = _launch(pw, media["y4m"], media["silence"])
    p = open_demo(browser, server)
    try:
        s0 = state(p)
        # a demo outfit from the first state on: the shopper does nothing and gets dressed
        assert s0.get("outfit"), f"no demo outfit in the first state: {s0}"
        assert {i["category"] for i in s0["outfit"]} >= {"tshirt", "jeans"}, s0["outfit"]
        dressed_s = wait_dressed(p, "the demo outfit draped and drawn", FIRST_DRESSED_S)
        p.page.wait_for_timeout(1500)  # a few rendered frames with the garments
        out = grab(p, "remote")
        cam = grab(p, "local")
        assert out.shape[:2] == (384, 3 * 384), out.shape  # mosaic: 3 views of 384x384 in one row
        front, left, back = tiles(out)
        # the views are not the bare webcam and not copies of each other
        for name, t in (("front", front), ("left", left), ("back", back)):
            assert mad(t, cam) > 15, f"{name} tile looks like the webcam (MAD {mad(t, cam):.1f})"
        assert mad(front, left) > 5 and mad(front, back) > 3, (mad(front, left), mad(front, back))
        p.page.screenshot(path=str(artifacts / "e2e_demo_dressed.png"), full_page=True)
        Image.fromarray(out).save(artifacts / "e2e_demo_dressed_views.png")
        blue0, red0 = color_share(front, "blue"), color_share(front, "red")

        # 1. "show me the blue dress in size M"
        type_command(p, "show me the blue dress in size M")
        _, took = wait_state(
            p,
            "JSON.stringify(s.outfit).includes('dress') && JSON.stringify(s.outfit).includes('blue') && s.size === 'M'",
            "a blue dress in size M",
        )
        dress_state_s = took

        def blue_front() -> float:
            return color_share(tiles(grab(p, "remote"))[0], "blue")

        deadline = time.monotonic() + EFFECT_S
        while blue_front() < blue0 + 0.03 and time.monotonic() < deadline:
            time.sleep(0.5)
        out_blue = grab(p, "remote")
        blue1 = color_share(tiles(out_blue)[0], "blue")
        Image.fromarray(out_blue).save(artifacts / "e2e_demo_blue_dress_views.png")
        assert blue1 > blue0 + 0.03, f"the front view did not turn blue: {blue0:.3f} -> {blue1:.3f}"

        # 2. "turn around"
        type_command(p, "turn around")
        wait_state(p, "s.view === 'back'", "view back after 'turn around'")

        # 3. "which size fits me?" -> a grounded answer with a size
        n = type_command(p, "which size fits me?")
        advice = wait_reply(p, n, "a size answer")
        assert any(
            f" {z} " in f" {advice} ".replace(".", " ").replace(":", " ") for z in ("XS", "S", "M", "L", "XL")
        ), advice
        assert "let me check" not in advice.lower(), f"the answer is not grounded in the size module: {advice}"

        # 4. "compare M and L" -> both sizes with chart numbers
        n = type_command(p, "compare M and L")
        cmp_ = wait_reply(p, n, "a size comparison")
        assert "M" in cmp_ and "L" in cmp_ and "cm" in cmp_, cmp_

        # 5. "换成红色" -> the dress turns red
        n = type_command(p, "换成红色")
        wait_state(p, "JSON.stringify(s.outfit.at(-1)).includes('red')", "the last item red after 换成红色")
        deadline = time.monotonic() + EFFECT_S
        red1 = 0.0
        while time.monotonic() < deadline:
            out_red = grab(p, "remote")
            red1 = color_share(tiles(out_red)[0], "red")
            if red1 > red0 + 0.03:
                break
            time.sleep(0.5)
        Image.fromarray(out_red).save(artifacts / "e2e_demo_red_views.png")
        p.js("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
        p.page.screenshot(path=str(artifacts / "e2e_demo_after_commands.png"), full_page=True)
        assert red1 > red0 + 0.03, f"the front view did not turn red: {red0:.3f} -> {red1:.3f}"
        replies = [m["text"] for m in p.js("() => window.__replies")]
        print(
            f"\ndemo: dressed {dressed_s:.1f} s after connect; blue dress state {dress_state_s * 1000:.0f} ms; "
            f"blue share {blue0:.3f}->{blue1:.3f}, red {red0:.3f}->{red1:.3f}\nreplies: {json.dumps(replies, ensure_ascii=False)}"
        )
        assert not p.errors, p.errors
    finally:
        p.close()
        browser.close()


def test_demo_spoken_command(server, pw, media, artifacts):  # noqa: F811
    """Push-to-talk with the fake microphone saying "show me the blue dress in size medium": the state changes.
    No xfail: if the ASR misses under load, this fails and says what it heard."""
    if not _voice_available():
        pytest.fail("the server has no voice stage (server/voice.py, nlu/voice.py)")
    browser = _launch(pw, media["y4m"], media["wav"])
    p = open_demo(browser, server)
    try:
        p.js(
            "() => { window.__heard = []; window.fitmirror.conn.addEventListener('transcript',"
            " (e) => window.__heard.push(e.detail.msg)); }"
        )
        box = p.page.locator("#ptt").bounding_box()
        p.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        p.page.mouse.down()
        # The WAV loops every ~3.1 s and the press can land mid-sentence (a fragment such as "...dress in size
        # medium"): holding 12 s gives at least three whole sentences.
        time.sleep(12)
        p.page.mouse.up()
        try:
            s, _ = wait_state(p, "JSON.stringify(s.outfit).includes('dress')", "a dress after the spoken command", 60)
        except AssertionError as e:
            heard = [m["text"] for m in p.js("() => window.__heard")]
            raise AssertionError(f"{e}; transcripts from the server: {heard}") from None
        heard = [m["text"] for m in p.js("() => window.__heard")]
        deadline = time.monotonic() + EFFECT_S  # and the dress shows up in the returned video
        while color_share(tiles(grab(p, "remote"))[0], "blue") < 0.09 and time.monotonic() < deadline:
            time.sleep(0.5)
        p.page.screenshot(path=str(artifacts / "e2e_demo_spoken.png"), full_page=True)
        assert color_share(tiles(grab(p, "remote"))[0], "blue") >= 0.09, "the spoken dress never showed up"
        print(f"\nspoken: heard {heard}; outfit {s['outfit']}")
        assert p.js("() => document.getElementById('transcript').textContent").strip()
    finally:
        p.close()
        browser.close()
