#!/bin/bash
# How bench/gpu/RESULTS.md was measured on a lent GPU machine (Python 3.12 + torch there, no internet).
# fitmirror's other Python dependencies (anny, warp-lang, PyAV, moderngl, mediapipe, aiortc, pydantic-settings, ...)
# travel as one pruned, unpacked cp312 site directory in xz chunks under .whl/pN/ (each call carries one chunk:
# a call carries at most 64 MiB), the NVIDIA EGL loader debs under .gl/ (see the device README).
#   bash bench/gpu/device_run.sh stage   # copy this call's chunk to /tmp/parts (repeat per chunk, machine warm)
#   bash bench/gpu/device_run.sh run ARGS  # last chunk: unpack, build the anny cache, run scripts/gpu_check.py
set -u
mode=${1:-run}
shift || true
mkdir -p /tmp/parts
cp -n .whl/p*/* /tmp/parts/ 2>/dev/null
ls -la /tmp/parts
if [ "$mode" = stage ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c 'import sys, torch; print(sys.version, torch.__version__, torch.version.cuda)'
  nvidia-smi -q | grep -i -A3 'encoder stats' | head -4
  ls /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu 2>/dev/null | grep -i -E 'nvidia-encode|libcuda.so|EGL_nvidia' | head
  command -v nvcc ninja g++ xz zstd; nproc; grep -m1 'model name' /proc/cpuinfo
  exit 0
fi
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
t0=$(date +%s)
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ ! -e /usr/share/glvnd/egl_vendor.d/10_nvidia.json ] && [ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
if [ ! -d /tmp/site312 ]; then
  cat /tmp/parts/site312.tar.xz.* | xz -d -T0 | tar -x -C /tmp || exit 1
  tar -x -C /tmp -f /tmp/parts/extra.tar || exit 1
fi
# mediapipe's python modules of the models pruned from the site dir (solutions import them); ANSUR II for the
# typed-measurement fit (avatar/shape.py reads ../shared/data/ansur-ii)
if [ -d .whl/p4 ]; then
  cp -rn .whl/p4/mpmod/* /tmp/site312/mediapipe/modules/
  if [ ! -e ../shared/data/ansur-ii ]; then mkdir -p ../shared/data && ln -s "$PWD/.whl/p4/ansur-ii" ../shared/data/ansur-ii; fi
fi
export PYTHONPATH=/tmp/extra/site:/tmp/site312 PYTHONUNBUFFERED=1
export FITMIRROR_CACHE_DIR=/tmp/fm ANNY_CACHE_DIR=/tmp/fm/anny TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16
echo "unpacked in $(($(date +%s) - t0)) s"
if [ ! -e /tmp/fm/anny/.fitmirror-built ]; then
  python3 -c 'from fitmirror.assets import _anny_run; from fitmirror.config import get_settings; _anny_run(get_settings())' || exit 1
fi
echo "anny cache ready at $(($(date +%s) - t0)) s"
timeout "${GPU_CHECK_TIMEOUT:-520}" python3 scripts/gpu_check.py --out "$OUT" --photo /tmp/extra/person.png "$@" 2>&1 \
  | grep -v -E '^(W0000|I0000)|XNNPACK|absl::InitializeLog' | tee "$OUT/log.txt"
echo "done at $(($(date +%s) - t0)) s"
