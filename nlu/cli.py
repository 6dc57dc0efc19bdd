"""`fitmirror nlu`: parse a typed or spoken outfit command and print the actions.

fitmirror nlu "show me the blue dress in size M" --json
fitmirror nlu "换成红色" --lang zh --backend rules
fitmirror nlu --audio command.wav --lang en --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fitmirror.errors import InputError


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="fitmirror nlu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("text", nargs="?", help="the command text (omit with --audio)")
    ap.add_argument("--lang", choices=["en", "zh"], default=None, help="session language (default: from the text)")
    ap.add_argument("--backend", choices=["auto", "rules", "llm"], default="auto")
    ap.add_argument("--audio", type=Path, help="a WAV/any audio file to transcribe (16 kHz mono is best)")
    ap.add_argument("--context", type=Path, help="JSON file with a ParseContext (outfit, history, catalog)")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = ap.parse_args(argv)
    if (args.text is None) == (args.audio is None):
        ap.error("give either TEXT or --audio FILE")

    from nlu.context import ParseContext
    from nlu.parser import parse

    ctx = ParseContext.model_validate_json(args.context.read_text()) if args.context else ParseContext()
    transcript = None
    text = args.text
    lang = args.lang or ("zh" if text and any("\u4e00" <= c <= "\u9fff" for c in text) else ctx.lang)
    if args.audio is not None:
        from nlu.voice import Transcriber, VoicePipeline, read_wav

        audio = read_wav(args.audio)
        vp = VoicePipeline(Transcriber(), lang, ctx.catalog, max_utterance_s=30.0)
        utts = vp.feed(audio) + vp.flush()
        if not utts:
            raise InputError(f"no speech found in {args.audio}")
        # one command per file: transcribe from the first speech onset to the last offset
        whole = type(utts[0])(
            audio[int(utts[0].start_s * 16000) : int(utts[-1].end_s * 16000)], utts[0].start_s, utts[-1].end_s
        )
        t = vp.transcriber.transcribe(whole.audio, lang, vp.prompt)
        transcript = {
            "text": t.text,
            "lang": t.lang,
            "audio_s": round(t.audio_s, 2),
            "latency_ms": round(t.latency_ms, 1),
        }
        text = t.text
        if not text:
            raise InputError(f"could not make out any words in {args.audio}")
    ctx = ctx.model_copy(update={"lang": lang})
    r = parse(text, ctx, backend=args.backend)
    out = r.to_dict()
    if transcript:
        out["transcript"] = transcript
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        if transcript:
            print(f"heard: {transcript['text']}")
        for a in out["actions"]:
            print(json.dumps(a, ensure_ascii=False))
        print(f"reply: {r.reply}  ({r.backend_used}, {r.latency_ms:.1f} ms)")
    sys.stdout.flush()
    return 0
