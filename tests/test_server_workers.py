"""Fault isolation of the language channel's native models: the real LLM and whisper run in supervised worker
processes (nlu.worker); killing or stopping one fails only the command in flight, with a clear error to that
shopper, while the session's video goes on, and the next command works on the restarted worker."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp
import pytest

from fitmirror.config import Settings
from server.app import MANAGER, create_app, start_site
from server.testclient import Client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

FREE_FORM = "I would love something light and airy for a summer garden party"  # the rules leave it to the LLM


async def _in_flight(worker, timeout_s: float = 60) -> None:
    t0 = time.monotonic()
    while worker.in_flight is None:
        assert time.monotonic() - t0 < timeout_s, "the command never reached the LLM worker"
        await asyncio.sleep(0.01)


async def _error_for(client: Client, msg_id: str, timeout_s: float) -> dict:
    await client.wait_for(lambda: any(m.get("type") == "error" and m.get("id") == msg_id for m in client.messages),
                          timeout_s)  # fmt: skip
    return next(m for m in client.messages if m.get("type") == "error" and m.get("id") == msg_id)


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGSTOP], ids=["sigsegv", "sigstop"])
async def test_a_dead_or_stuck_llm_worker_fails_only_the_command_in_flight(sig):
    settings = Settings(ice_loopback=True, worker_hang_timeout_s=3.0)
    app = create_app(settings, peer_routes=False)
    runner, port = await start_site(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    client = Client(url)
    try:
        manager = app[MANAGER]
        await manager.preload_llm()  # the worker loads the model and evaluates its system prompt
        worker = manager.llm_worker()  # a pool of llm_workers processes
        await client.connect_ws({"layout": "mirror", "lang": "en"})
        await client.wait_frames(5, timeout=30)

        client.send({"type": "command", "id": "c1", "text": FREE_FORM})
        await _in_flight(worker)
        first_pid = worker.in_flight_pid
        t_kill = time.monotonic()
        os.kill(first_pid, sig)
        err = await _error_for(client, "c1", 30)
        detected_s = time.monotonic() - t_kill
        assert err["code"] == "worker_restarting", err
        assert "the language model" in err["message"] and "restarting, please try again" in err["message"], err
        if sig == signal.SIGSTOP:
            assert detected_s < 3.0 + 3.0, f"a stopped LLM worker was noticed after {detected_s:.1f} s"

        # the session never stopped streaming
        frames = client.received[0].frames
        await client.wait_frames(frames + 15, timeout=15)
        assert manager.sessions, "the session must survive the worker's death"

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/readyz") as r:
                ready = await r.json()
            async with http.get(f"{url}/metrics") as r:
                metrics = await r.text()
        llm = ready["workers"]["llm"]
        assert llm["restarts"] == 1 and ("SIGSEGV" in llm["last_exit"] or sig == signal.SIGSTOP), llm
        reason = "crash" if sig == signal.SIGSEGV else "hang"
        assert f'fitmirror_worker_restarts_total{{reason="{reason}",worker="llm"}} 1.0' in metrics, metrics[-1500:]

        # the next free-form command works, on a new worker process
        ack = await client.request({"type": "command", "id": "c2", "text": FREE_FORM}, timeout=240)
        assert ack["type"] == "ack" and ack["actions"], ack
        assert first_pid not in worker.pids and len(worker.pids) == settings.llm_workers
        assert 'fitmirror_worker_up{worker="llm"} 1.0' in await _metrics(url)
    finally:
        await client.close()
        await runner.cleanup()
    await asyncio.sleep(0.2)
    assert not [p for p in worker.pids if _alive(p)], "shutting down must end the worker processes"


async def _metrics(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as r:
        return await r.text()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_crashed_speech_worker_loses_one_utterance_and_recovers():
    import numpy as np

    from fitmirror.worker import WorkerError
    from nlu.voice import synthesize
    from nlu.worker import asr_supervisor

    speech = synthesize("show me the red dress in size small", "en").astype(np.float32)
    sup = asr_supervisor(Settings(worker_hang_timeout_s=3.0))
    try:
        result, _ = await sup.call("transcribe", {"lang": "en"}, speech.tobytes(), key="s1")
        assert "dress" in result["text"].lower(), result
        first = sup.pid
        long = np.tile(speech, 12)[: 29 * 16_000]  # ~29 s of speech: in flight long enough to be killed
        call = asyncio.ensure_future(sup.call("transcribe", {"lang": "en"}, long.tobytes(), key="s1"))
        await _in_flight(sup)
        os.kill(sup.in_flight_pid, signal.SIGSEGV)
        with pytest.raises(WorkerError, match="speech recognition stopped; it is restarting, please try again"):
            await call
        result, _ = await sup.call("transcribe", {"lang": "en"}, speech.tobytes(), key="s2")
        assert "dress" in result["text"].lower() and sup.pid != first and sup.status.crashes == 1
    finally:
        await sup.close()
