"""A spoken command over the WebRTC audio track: espeak-ng speech -> Opus -> server resampling -> VAD ->
faster-whisper -> parser -> transcript, reply and state events on the control channel."""

from __future__ import annotations

import pytest

from fitmirror.config import Settings
from server.app import create_app, start_site
from server.testclient import Client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def test_spoken_command_changes_the_outfit():
    from nlu.voice import espeak_available, synthesize

    if not espeak_available():
        pytest.fail("espeak-ng is required to synthesise the spoken command (apt-get install espeak-ng)")
    speech = synthesize("show me the red dress in size small", "en")
    app = create_app(Settings(ice_loopback=True), peer_routes=False)
    runner, port = await start_site(app, "127.0.0.1", 0)
    client = Client(f"http://127.0.0.1:{port}", audio=speech)
    try:
        await client.connect_ws({"layout": "mirror", "lang": "en"})
        await client.wait_for(lambda: any(m["type"] == "transcript" for m in client.messages), 90)
        transcript = next(m for m in client.messages if m["type"] == "transcript")
        assert transcript["final"] is True and "dress" in transcript["text"].lower(), transcript
        await client.wait_for(
            lambda: any(m["type"] == "state" and m.get("outfit") and m.get("size") for m in client.messages), 30
        )
        state = [m for m in client.messages if m["type"] == "state"][-1]
        assert state["outfit"][-1]["category"] == "dress" and state["outfit"][-1]["color"] == "red", state
        assert state["size"] == "S"
        assert any(m["type"] == "reply" for m in client.messages)
    finally:
        await client.close()
        await runner.cleanup()
