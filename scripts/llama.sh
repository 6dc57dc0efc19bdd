#!/usr/bin/env bash
# llama-cpp-python built for any x86-64 machine, never for the build host's CPU. Sourced by scripts/setup.sh;
# the Dockerfile runs `bash scripts/llama.sh build TIER OUTDIR [EXTRA_CMAKE_ARGS]`.
#
# Tiers (GGML_NATIVE=OFF in both: a -march=native build made on an AVX-512 host crashed on another CPU):
#   avx2   AVX, AVX2, FMA, F16C, BMI2; no AVX-512, AVX-VNNI or AMX: any x86-64 from Haswell / Zen 1 on (default)
#   sse42  SSE4.2 only: the conservative fallback when the avx2 build fails its probe on a machine
# A wheel is cached under $CACHE/wheels/llama-cpp-python-$LLAMA_VERSION-$TIER-$KEY, where KEY hashes the version,
# the tier's flags and the compiler, so a wheel built with other flags (or the old native ones) is never reused.

LLAMA_VERSION=0.3.36
_LLAMA_OFF="-DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF \
-DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_BACKEND_DL=OFF \
-DGGML_CPU_ALL_VARIANTS=OFF"

llama_cmake_args() {  # TIER -> the CMAKE_ARGS for that tier
  case "$1" in
    avx2) echo "-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_BMI2=ON $_LLAMA_OFF" ;;
    sse42) echo "-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF \
-DGGML_BMI2=OFF $_LLAMA_OFF" ;;
    *) echo "unknown llama tier: $1" >&2; return 1 ;;
  esac
}

llama_cpu_tier() {  # the fastest tier this CPU can run at all (the probe then proves it works)
  local flags f
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
  [ "$(uname -m)" = x86_64 ] || { echo sse42; return; }
  for f in avx avx2 fma f16c bmi2; do
    grep -qw "$f" <<<"$flags" || { echo sse42; return; }
  done
  echo avx2
}

llama_cpu_id() {  # identifies this machine's CPU for the probe stamp: model name and instruction-set flags
  { grep -m1 '^model name' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo; uname -m; } 2>/dev/null | sha256sum | cut -c1-16
}

llama_key() {  # TIER [EXTRA] -> cache key of the wheel
  { echo "$LLAMA_VERSION"; llama_cmake_args "$1"; echo "${2:-}"; gcc --version 2>/dev/null | head -1; } | sha256sum | cut -c1-12
}

llama_wheel_dir() {  # CACHE TIER [EXTRA]
  echo "$1/wheels/llama-cpp-python-$LLAMA_VERSION-$2-$(llama_key "$2" "${3:-}")"
}

llama_check_isa() {  # WHEEL_OR_DIR TIER: no instruction beyond the tier in its native libraries (objdump)
  local src=$1 tier=$2 dir tmp="" bad=0 pat sum n lib
  command -v objdump >/dev/null 2>&1 || { echo "objdump not found (apt-get install binutils): cannot check the instructions" >&2; return 1; }
  if [ -d "$src" ]; then dir=$src; else tmp=$(mktemp -d); dir=$tmp; python3 -m zipfile -e "$src" "$tmp" >/dev/null; fi
  # AVX-512 (zmm, mask and upper registers, EVEX-only and VNNI/BF16/AMX mnemonics) for avx2; any VEX for sse42
  case "$tier" in
    avx2) pat='%zmm|%k[0-7]\b|%[xy]mm(1[6-9]|2[0-9]|3[01])\b|vpternlog|vpermt2|vpermi2|vpcompress|vpexpand|vpdpbusd|vpdpwssd|vdpbf16ps|vcvtne2ps2bf16|tdpb|ldtilecfg' ;;
    sse42) pat=':\s+v[a-z0-9]+\s|%ymm|%zmm' ;;
    *) echo "unknown llama tier: $tier" >&2; return 1 ;;
  esac
  declare -A seen=()
  while IFS= read -r lib; do
    sum=$(sha256sum "$lib" | cut -c1-16)
    [ -z "${seen[$sum]:-}" ] || continue  # the wheel holds each library under several names
    seen[$sum]=1
    n=$(objdump -d --no-show-raw-insn "$lib" | grep -cE "$pat" || true)
    if [ "$n" != 0 ]; then echo "$(basename "$lib"): $n instructions beyond the $tier tier" >&2; bad=1; fi
  done < <(find "$dir" -name '*.so*' -type f)
  [ -z "$tmp" ] || rm -rf "$tmp"
  return $bad
}

llama_build() {  # TIER OUTDIR [EXTRA]: build the wheel into OUTDIR (nothing else there), check its instructions
  local tier=$1 out=$2 extra=${3:-} log
  mkdir -p "$out"
  log="$out/build.log"
  # SOURCE_DATE_EPOCH changes ggml's defaults; every flag is given explicitly anyway
  CMAKE_ARGS="$(llama_cmake_args "$tier") $extra" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "${LLAMA_PYTHON:-python3}" -m pip wheel --no-deps --no-cache-dir "llama-cpp-python==$LLAMA_VERSION" -w "$out.partial" \
    > "$log" 2>&1 &
  local pid=$!
  while kill -0 $pid 2>/dev/null; do
    sleep 30
    printf '[setup]   still compiling llama-cpp-python (%s tier): %s\n' "$tier" "$(tail -c 300 "$log" | tr '\r\n' '  ' | tail -c 70)"
  done
  if ! wait $pid; then echo "[setup] llama-cpp-python failed to build; see $log" >&2; return 1; fi
  local wheel
  wheel=$(ls "$out.partial"/llama_cpp_python-*.whl)
  if ! llama_check_isa "$wheel" "$tier"; then
    echo "[setup] the $tier build of llama-cpp-python contains instructions beyond its tier; refusing it" >&2
    rm -rf "$out.partial"
    return 1
  fi
  mv "$wheel" "$out/" && rm -rf "$out.partial"
  echo "$(llama_cmake_args "$tier") $extra" > "$out/CMAKE_ARGS"
}

llama_prove() {  # CACHE TIER: prove the installed wheel on this CPU; when it fails, rebuild with sse42 and prove
  # that. Prints the tier that works (stdout), says what happened (stderr); returns 1 when no tier works. The
  # caller defines llama_probe (run the real completion), llama_wheel TIER (path of the cached or built wheel)
  # and llama_install WHEEL; tests replace them to walk every branch.
  local cache=$1 tier=$2 out wheel
  echo "[setup] proving llama-cpp-python ($tier tier) on this CPU: a grammar-constrained completion of a long prompt ..." >&2
  if out=$(llama_probe 2>&1); then
    echo "[setup]   $(tail -1 <<<"$out")" >&2
    echo "$tier"
    return 0
  fi
  if [ "$tier" = sse42 ]; then
    echo "[setup] ERROR: llama-cpp-python fails on this CPU: $(tail -1 <<<"$out")" >&2
    return 1
  fi
  echo "[setup] WARNING: the '$tier' build of llama-cpp-python FAILED on this CPU: $(tail -1 <<<"$out")" >&2
  echo "[setup] WARNING: rebuilding it with the conservative flags (SSE4.2 only: correct everywhere, slower)" >&2
  wheel=$(llama_wheel sse42) || return 1
  llama_install "$wheel" >&2 || return 1
  if ! out=$(llama_probe 2>&1); then
    echo "[setup] ERROR: llama-cpp-python fails on this CPU even with the conservative flags: $(tail -1 <<<"$out")" >&2
    return 1
  fi
  echo "[setup]   $(tail -1 <<<"$out")" >&2
  echo "$(llama_cpu_id) sse42" >> "$cache/llama-tier-by-cpu"  # the next set-up on this CPU starts there
  echo sse42
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run as a script (Dockerfile)
  set -euo pipefail
  [ "${1:-}" = build ] || { echo "usage: scripts/llama.sh build avx2|sse42 OUTDIR [EXTRA_CMAKE_ARGS]" >&2; exit 2; }
  llama_build "$2" "$3" "${4:-}"
fi
