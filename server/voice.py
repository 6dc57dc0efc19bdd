"""Spoken commands: the session's 16 kHz mono audio -> nlu.voice (Silero VAD segmenter, faster-whisper) -> the
same command path as typed text. VAD and ASR run on one shared voice thread per server (whisper is heavy and
has one model per process); each session has its own segmenter state.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from fitmirror.errors import CapacityError, FitmirrorError, ModelUnavailableError
from fitmirror.worker import WorkerError

if TYPE_CHECKING:
    from server.session import Session

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
            import numpy as np

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
    """One session's voice: polls its audio buffer, segments, transcribes, and hands text to the session."""

    def __init__(self, session: Session, engine: VoiceEngine) -> None:
        self.session = session
        self.engine = engine
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
        s = self.session
        while not self.closed and not s.closing:
            await asyncio.sleep(POLL_S)
            pcm = s.audio.take()
            if not len(pcm):
                continue
            try:
                utterances = await loop.run_in_executor(self.engine.pool, self._feed, pcm)
                for u in utterances:
                    try:
                        text = await self.engine.transcribe(u.audio, s.options.lang, key=s.id)
                    except (WorkerError, CapacityError) as e:  # crashed, hung or busy: this utterance is lost; say so
                        await s.broadcast_error(e.code, e.message)
                        continue
                    self.utterances += 1
                    if not text.strip():
                        continue
                    await s.on_transcript(text)
            except (ImportError, ModelUnavailableError) as e:
                msg = e.message if isinstance(e, FitmirrorError) else str(e)
                log.warning("voice commands unavailable: %s", msg)
                await s.broadcast_error("voice_unavailable", f"spoken commands are unavailable: {msg}")
                return
            except RuntimeError:
                if s.closing:
                    return
                raise

    def close(self) -> None:
        self.closed = True
        self.segmenter = None
