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


@pytest.mark.timeout(420)
async def test_a_slow_llm_parse_neither_blocks_nor_overrides_the_next_utterance():
    """Speech keeps coming while a free-form utterance waits for the LLM: the next (rules-parsed) utterance is
    applied at once, and the older LLM result, arriving later, does not undo it."""
    from server.app import MANAGER

    app = create_app(Settings(ice_loopback=True), peer_routes=False)
    runner, port = await start_site(app, "127.0.0.1", 0)
    client = Client(f"http://127.0.0.1:{port}")
    try:
        await client.connect_ws({"layout": "mirror", "lang": "en"})
        (session,) = app[MANAGER].sessions.values()
        # what the CI's ASR heard once: the rules are unsure of "two dress", so this one goes to the LLM
        await session.on_transcript("Two dress in size medium.")
        await session.on_transcript("show me the red skirt")
        await client.wait_for(
            lambda: any(m["type"] == "state" and any(o["category"] == "skirt" for o in m["outfit"] or [])
                        for m in client.messages), 10,
        )  # fmt: skip
        await client.wait_for(
            lambda: any(m["type"] == "reply" and m.get("id") == "voice-1" for m in client.messages),
            360,  # a cold LLM: model load plus the system prompt's evaluation, slow on a loaded machine
        )
        texts = [m["text"] for m in client.messages if m["type"] == "transcript"]
        assert texts == ["Two dress in size medium.", "show me the red skirt"], texts
        skipped = next(m for m in client.messages if m["type"] == "reply" and m.get("id") == "voice-1")
        assert "newer command" in skipped["text"], skipped
        state = [m for m in client.messages if m["type"] == "state"][-1]
        assert [o["category"] for o in state["outfit"]][-1] == "skirt" and state["outfit"][-1]["color"] == "red", state
        assert session.voice_pending == 0
    finally:
        await client.close()
        await runner.cleanup()
