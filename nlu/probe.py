"""Probes of the language channel's native components (see `fitmirror.probe`), run in a process of their own:

- `llm`: load the configured GGUF in llama.cpp, evaluate the whole fixed prompt in one go (several hundred tokens:
  a native build for the wrong CPU crashed on any prompt of more than one token) and generate a
  grammar-constrained command, which must be the right one;
- `whisper`: transcribe a clip spoken by espeak-ng (a tone when espeak-ng is absent) with faster-whisper.

`python -m nlu.probe llm|whisper`; the set-up and `fitmirror doctor` run them.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from fitmirror.probe import ProbeFailed, probe_main

# An utterance that is not among the few-shot examples, with one right answer under the grammar.
LLM_PROBE_TEXT = "let me try the red skirt in size S"
LLM_PROBE_EXPECT = [{"type": "select", "category": "skirt", "color": "red"}, {"type": "set_size", "size": "S"}]
LLM_PROBE_MIN_PROMPT_TOKENS = 300


def probe_llm() -> dict[str, Any]:
    from fitmirror.config import get_settings
    from nlu.llm import LlamaCppBackend, backend_kind, build_user_message

    s = get_settings()
    if backend_kind(s) != "llama_cpp":
        return {"detail": f"llm backend {backend_kind(s)}: no llama.cpp build to probe", "unavailable": True}
    import llama_cpp

    from nlu.context import ParseContext
    from nlu.schema import llm_json_schema

    t0 = time.perf_counter()
    backend = LlamaCppBackend(n_threads=s.llm_threads)  # fresh: nothing cached, the whole prompt is evaluated
    load_s = time.perf_counter() - t0
    raw = backend.complete(
        backend.system_prompt, build_user_message(LLM_PROBE_TEXT, ParseContext()), llm_json_schema(),
        backend.max_new_tokens,
    )  # fmt: skip
    stats = backend.last_stats
    n_prompt = int(stats.get("prompt_tokens") or 0)
    if n_prompt < LLM_PROBE_MIN_PROMPT_TOKENS:
        raise ProbeFailed(f"the probe prompt had only {n_prompt} tokens (expected >= {LLM_PROBE_MIN_PROMPT_TOKENS})")
    cmd, ok = backend.decode(raw)
    got = [a.model_dump(exclude_none=True) for a in cmd.actions]
    if not ok or got != LLM_PROBE_EXPECT:
        raise ProbeFailed(
            f"wrong output from the model: {raw!r} for {LLM_PROBE_TEXT!r} (expected {LLM_PROBE_EXPECT})",
            hint="the llama-cpp-python build computes wrong results on this CPU: rebuild it (make setup)",
        )
    sysinfo = llama_cpp.llama_print_system_info().decode(errors="replace")
    feats = [p.split("=")[0].split(":")[-1].strip() for p in sysinfo.split("|") if p.strip().endswith("= 1")]
    return {
        "detail": (
            f"llama-cpp-python {llama_cpp.__version__}: {n_prompt}-token prompt + {stats.get('completion_tokens')} "
            f"generated in {stats['complete_ms'] / 1000:.1f} s (load {load_s:.1f} s), output {raw.strip()!r} correct"
        ),
        "prompt_tokens": n_prompt,
        "complete_ms": round(stats["complete_ms"], 1),
        "load_s": round(load_s, 2),
        "cpu_features": feats,
    }


def probe_whisper() -> dict[str, Any]:
    import numpy as np

    from nlu.voice import SAMPLE_RATE, Transcriber, espeak_available, synthesize

    spoken = espeak_available()
    if spoken:
        audio = synthesize("show me the red dress", "en")
    else:
        t = np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE
        audio = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    tr = Transcriber()
    t0 = time.perf_counter()
    out = tr.transcribe(audio, lang="en")
    ms = (time.perf_counter() - t0) * 1000
    if spoken and "dress" not in out.text.lower():
        raise ProbeFailed(f"whisper heard {out.text!r} for 'show me the red dress'")
    clip = "an espeak-ng clip" if spoken else "a tone (espeak-ng not installed)"
    return {"detail": f"{out.model}: {clip} -> {out.text!r} in {ms:.0f} ms (load {tr.load_s:.1f} s)", "text": out.text}


PROBES = {"llm": probe_llm, "whisper": probe_whisper}

if __name__ == "__main__":
    sys.exit(probe_main(PROBES, sys.argv[1:]))
