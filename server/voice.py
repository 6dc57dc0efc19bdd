"""Spoken commands: the session's 16 kHz mono audio -> nlu.voice (Silero VAD segmenter, faster-whisper) -> the
same command path as typed text. VAD and ASR run on one shared voice thread per server (whisper is heavy and
has one model per process); each session has its own segmenter state.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from fitmirror.errors import CapacityError, FitmirrorError, ModelUnavailableError
from fitmirror.worker import WorkerError

log = logging.getLogger("fitmirror.server.voice")

POLL_S = 0.25


class VoiceEngine:
    """Per-server: the voice thread (segmenting) and the transcriber, in a supervised worker process
    (`nlu.worker` role asr, crash-isolated) or, without one, lazily loaded in this process."""

    def __init__(self, worker: Any = None) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fm-voice")
        self.worker = worker  # fitmirror.worker.Supervisor or None
        self._transcriber: Any = None
        self._lock = threading.Lock()

    async def transcribe(self, audio: Any, lang: str, key: str) -> str:
        if self.worker is not None:
            pcm = np.ascontiguousarray(audio, dtype=np.float32).tobytes()
            result, _ = await self.worker.call("transcribe", {"lang": lang}, pcm, key=key)
            return str(result["text"])
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: self.transcriber().transcribe(audio, lang=lang).text)

    def transcriber(self) -> Any:
        with self._lock:
            if self._transcriber is None:
                from nlu.voice import Transcriber

                self._transcriber = Transcriber()
            return self._transcriber

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class VoiceChannel:
    """One session's voice: polls its audio buffer, segments, transcribes, and hands the text on. It sees only
    what it needs of the session: where the audio comes from, the language, and where text and errors go."""

    def __init__(
        self,
        engine: VoiceEngine,
        *,
        take_audio: Callable[[], np.ndarray],  # the 16 kHz mono PCM received since the last call
        lang: str,
        key: str,  # fairness key of the transcriber queue (the session id)
        closing: Callable[[], bool],
        on_transcript: Callable[[str], Awaitable[None]],
        on_error: Callable[[str, str], Awaitable[None]],  # (code, message)
    ) -> None:
        self.engine = engine
        self.take_audio, self.lang, self.key, self.closing = take_audio, lang, key, closing
        self.on_transcript, self.on_error = on_transcript, on_error
        self.segmenter: Any = None
        self.utterances = 0
        self.closed = False

    def _feed(self, pcm: Any) -> list[Any]:
        if self.segmenter is None:
            from nlu.voice import VoiceSegmenter

            self.segmenter = VoiceSegmenter()
        return self.segmenter.feed(pcm)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closed and not self.closing():
            await asyncio.sleep(POLL_S)
            pcm = self.take_audio()
            if not len(pcm):
                continue
            try:
                utterances = await loop.run_in_executor(self.engine.pool, self._feed, pcm)
                for u in utterances:
                    try:
                        text = await self.engine.transcribe(u.audio, self.lang, key=self.key)
                    except (WorkerError, CapacityError) as e:  # crashed, hung or busy: this utterance is lost; say so
                        await self.on_error(e.code, e.message)
                        continue
                    self.utterances += 1
                    if not text.strip():
                        continue
                    await self.on_transcript(text)
            except (ImportError, ModelUnavailableError) as e:
                msg = e.message if isinstance(e, FitmirrorError) else str(e)
                log.warning("voice commands unavailable: %s", msg)
                await self.on_error("voice_unavailable", f"spoken commands are unavailable: {msg}")
                return
            except RuntimeError:
                if self.closing():
                    return
                raise

    def close(self) -> None:
        self.closed = True
        self.segmenter = None
