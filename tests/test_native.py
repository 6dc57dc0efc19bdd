"""Native components are portable and proven where they are installed: the installed llama.cpp holds no
instruction beyond its portable tier and runs a long grammar-constrained prompt in a subprocess; doctor opens each
native component in a subprocess and reports a crash or a hang with the component's name and the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fitmirror.config import REPO_ROOT
from fitmirror.doctor import PROBES, Check, _probe
from fitmirror.probe import run_probe

FITMIRROR = str(Path(sys.executable).parent / "fitmirror")
LLAMA_SH = REPO_ROOT / "scripts" / "llama.sh"


def llama(fn: str, *args: str) -> subprocess.CompletedProcess:
    """Call a function of scripts/llama.sh (the set-up's and the Dockerfile's one definition of the build)."""
    return subprocess.run(["bash", "-c", f'source "{LLAMA_SH}"; {fn} "$@"', "llama", *args],
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def installed_tier() -> str:
    stamp = (REPO_ROOT / ".venv" / ".fitmirror-stamp").read_text()
    tier = stamp.strip().rsplit("-", 2)[-2]
    assert tier in ("avx2", "sse42"), stamp
    return tier


@pytest.mark.slow
def test_the_installed_llama_runs_a_long_grammar_constrained_prompt_in_a_subprocess():
    r = run_probe("nlu.probe", "llm", timeout_s=540)
    assert r.status == "ok", r.detail
    assert r.data["prompt_tokens"] >= 300, r.data
    assert "correct" in r.detail


def test_the_installed_llama_holds_no_instruction_beyond_its_portable_tier():
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    assert any(lib_dir.glob("libggml-cpu*.so*")), f"no ggml CPU library in {lib_dir}"
    tier = installed_tier()
    r = llama("llama_check_isa", str(lib_dir), tier)
    assert r.returncode == 0, f"the installed llama.cpp uses instructions beyond the {tier} tier: {r.stderr}"


def test_the_wheel_cache_is_keyed_by_the_build_flags():
    keys = {
        llama("llama_key", t, x).stdout.strip() for t, x in [("avx2", ""), ("sse42", ""), ("avx2", "-DGGML_CUDA=ON")]
    }
    assert len(keys) == 3 and all(len(k) == 12 for k in keys), keys
    args = llama("llama_cmake_args", "avx2").stdout
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AVX512=OFF" in args and "-DGGML_AVX2=ON" in args
    assert "-DGGML_AVX2=OFF" in llama("llama_cmake_args", "sse42").stdout
    tier = llama("llama_cpu_tier").stdout.strip()
    flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split()
    assert tier == ("avx2" if {"avx2", "fma", "f16c", "bmi2"} <= set(flags) else "sse42")


def _prove(tmp_path: Path, works: str) -> subprocess.CompletedProcess:
    """scripts/llama.sh's llama_prove with the build, install and probe replaced: `works` says which tiers'
    wheels pass the probe on this imaginary CPU (what a real crash of the avx2 build would look like)."""
    script = f"""
source "{LLAMA_SH}"
echo avx2 > "{tmp_path}/installed"
llama_wheel() {{ echo "/cache/llama-$1.whl"; }}
llama_install() {{ basename "$1" .whl | sed 's/llama-//' > "{tmp_path}/installed"; echo "installed $1"; }}
llama_probe() {{ t=$(cat "{tmp_path}/installed"); case " {works} " in *" $t "*) echo "ok: $t correct";;
  *) echo "crashed: crashed (signal 11, SIGSEGV)"; return 1;; esac; }}
llama_prove "{tmp_path}" avx2
"""
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def test_setup_rebuilds_with_conservative_flags_when_the_portable_build_fails(tmp_path):
    ok = _prove(tmp_path, "avx2 sse42")
    assert ok.returncode == 0 and ok.stdout.strip() == "avx2" and "WARNING" not in ok.stderr
    assert not (tmp_path / "llama-tier-by-cpu").exists()

    fallback = _prove(tmp_path, "sse42")  # the avx2 build crashes on this CPU
    assert fallback.returncode == 0 and fallback.stdout.strip() == "sse42", fallback
    assert "WARNING: the 'avx2' build of llama-cpp-python FAILED on this CPU: crashed" in fallback.stderr
    assert "rebuilding it with the conservative flags" in fallback.stderr
    assert (tmp_path / "installed").read_text().strip() == "sse42"
    cpu = llama("llama_cpu_id").stdout.strip()
    assert (tmp_path / "llama-tier-by-cpu").read_text().split() == [cpu, "sse42"]  # the next set-up starts there

    none = _prove(tmp_path, "")
    assert none.returncode == 1 and "even with the conservative flags" in none.stderr, none.stderr


def test_setup_and_the_dockerfile_build_llama_the_same_portable_way():
    setup = (REPO_ROOT / "scripts" / "setup.sh").read_text()
    docker = (REPO_ROOT / "Dockerfile").read_text()
    assert "source scripts/llama.sh" in setup and "llama.sh build" in docker
    for text in (setup, docker):
        assert "pip install -r requirements.lock llama-cpp-python" not in text  # the old native build
        assert "GGML_NATIVE=ON" not in text
    assert "nlu.probe" in setup  # proven on this CPU after building or reusing the wheel


def test_doctor_reports_a_crashing_component_with_its_name_and_the_fix():
    r = subprocess.run([FITMIRROR, "doctor", "--json"], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
                       env={**os.environ, "FITMIRROR_PROBE_FAULT": "mediapipe:segv"})  # fmt: skip
    report = json.loads(r.stdout)
    by_name = {c["component"]: c for c in report["components"]}
    mp = by_name["mediapipe"]
    assert mp["status"] == "crashed", mp
    assert "crashed (signal 11, SIGSEGV)" in mp["detail"] and "Fix: reinstall mediapipe" in mp["detail"], mp
    assert r.returncode == 1 and report["ok"] is False
    # doctor itself survived and probed the rest
    for name in ("egl", "llm", "whisper", "codecs"):
        assert by_name[name]["status"] == "ok", by_name[name]
        assert "probe:" in by_name[name]["detail"], by_name[name]
    assert by_name["nvenc"]["status"] in ("ok", "unavailable")  # optional: n/a without a GPU, never a failure


def test_a_hung_probe_is_reported_as_hung(monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("FITMIRROR_PROBE_FAULT", "egl:hang")
    c = _probe(Check("egl", "ok", "llvmpipe"), replace(PROBES["egl"], timeout_s=3))
    assert c.status == "hung", c
    assert "hung (no answer within 3 s) while rendering a triangle" in c.detail and "Fix:" in c.detail, c
