"""The language channel's native models in supervised child processes (`fitmirror.worker`):

- role `llm`: `nlu.parser.parse` with the configured local LLM (llama.cpp or transformers), warmed at start-up;
- role `asr`: faster-whisper transcription (`nlu.voice.Transcriber`).

A segfault in llama.cpp or CTranslate2 then ends only the call in flight; the server reports it to that shopper
and the supervisor restarts the child. Run as `python -m nlu.worker llm|asr` (the supervisor does).
"""

from __future__ import annotations

import sys
from typing import Any

from fitmirror.config import Settings, get_settings
from fitmirror.worker import Supervisor, SupervisorConfig, WorkerPool

ROLES = ("llm", "asr")


def local_llm(s: Settings) -> bool:
    """True when the configured LLM runs native code in this machine's process (llama.cpp or transformers);
    an OpenAI-compatible endpoint or `off` needs no worker."""
    from nlu.llm import backend_kind

    return backend_kind(s) in ("llama_cpp", "transformers")


def _supervisor(s: Settings, role: str, what: str, call_timeout_s: float, env: dict[str, str], on_event: Any):
    return Supervisor(
        SupervisorConfig(
            name=role,
            argv=[sys.executable, "-m", "nlu.worker", role],
            what=what,
            ready_timeout_s=s.worker_ready_timeout_s,
            call_timeout_s=call_timeout_s,
            hang_after_s=s.worker_hang_timeout_s,
            max_queued=max(4, 2 * s.max_sessions),
            max_queued_per_key=2,
            env=env,
        ),
        on_event,
    )


def llm_supervisor(s: Settings | None = None, on_event: Any = None) -> Supervisor | WorkerPool:
    """The LLM worker process, or a pool of `llm_workers` of them sharing `llm_threads` threads."""
    s = s or get_settings()
    env = {"FITMIRROR_LLM_THREADS": str(max(1, s.llm_threads // s.llm_workers))}
    workers = [_supervisor(s, "llm", "the language model", s.llm_call_timeout_s, env, on_event)
               for _ in range(s.llm_workers)]  # fmt: skip
    return workers[0] if len(workers) == 1 else WorkerPool(workers)


def asr_supervisor(s: Settings | None = None, on_event: Any = None) -> Supervisor:
    s = s or get_settings()
    return _supervisor(s, "asr", "speech recognition", s.asr_call_timeout_s, {}, on_event)


# --- child side ----------------------------------------------------------------------------------------


def _llm_child() -> None:
    import time

    from fitmirror.worker import serve
    from nlu.context import ParseContext
    from nlu.llm import load_and_warm
    from nlu.parser import parse

    def setup() -> dict[str, Any]:
        t0 = time.perf_counter()
        backend = load_and_warm()
        return {"backend": getattr(backend, "name", "none"), "load_s": round(time.perf_counter() - t0, 2)}

    def do_parse(args: dict[str, Any], _blob: bytes | None) -> tuple[dict[str, Any], None]:
        ctx = ParseContext.model_validate(args.get("ctx") or {})
        r = parse(str(args["text"]), ctx)
        return r.to_dict(), None

    serve({"parse": do_parse}, setup)


def _asr_child() -> None:
    import time

    import numpy as np

    from fitmirror.worker import serve
    from nlu.voice import Transcriber

    transcriber: list[Transcriber] = []

    def setup() -> dict[str, Any]:
        t0 = time.perf_counter()
        t = Transcriber()
        t.preload(("en",))
        transcriber.append(t)
        return {"load_s": round(time.perf_counter() - t0, 2)}

    def transcribe(args: dict[str, Any], blob: bytes | None) -> tuple[dict[str, Any], None]:
        audio = np.frombuffer(blob or b"", dtype=np.float32)
        t = transcriber[0].transcribe(audio, lang=str(args.get("lang") or "en"))
        return {"text": t.text, "latency_ms": round(t.latency_ms, 1), "model": t.model}, None

    serve({"transcribe": transcribe}, setup)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ROLES:
        print(f"usage: python -m nlu.worker {{{'|'.join(ROLES)}}}", file=sys.stderr)
        return 2
    from fitmirror.log import setup_logging

    s = get_settings()
    setup_logging(s.log_level, s.log_json)
    {"llm": _llm_child, "asr": _asr_child}[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
