# Production image: runs `fitmirror serve`. CPU by default; for NVIDIA GPUs build with
#   docker build --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#                --build-arg BUILD_IMAGE=nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04 \
#                --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 \
#                --build-arg LLAMA_EXTRA_CMAKE_ARGS="-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=75;80;86;89;90" \
#                -t fitmirror:cuda .
# and run with `--gpus all -e NVIDIA_DRIVER_CAPABILITIES=all` (graphics for EGL, video for NVENC).
#
# Portable: llama.cpp is compiled with the fixed flags of scripts/llama.sh (the 'avx2' tier: AVX2/FMA/F16C, no
# AVX-512, never -march=native), so an image built on one host runs on any x86-64 host with AVX2; the CUDA variant
# adds the CUDA backend for the listed GPU architectures on top of the same portable CPU part. The build refuses a
# wheel with instructions beyond the tier (objdump), and `fitmirror doctor` runs a real completion at the end.
# Models are assembled and verified at build time, so the container never downloads anything at run time.
ARG BASE_IMAGE=python:3.11-slim-bookworm
# the image that compiles llama.cpp; for the CUDA variant the matching -devel image (it has nvcc)
ARG BUILD_IMAGE=python:3.11-slim-bookworm

# --- stage 1: the llama-cpp-python wheel (compilers and CUDA headers stay out of the final image) -------------
FROM ${BUILD_IMAGE} AS llama
ARG LLAMA_TIER=avx2
ARG LLAMA_EXTRA_CMAKE_ARGS=""
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev build-essential cmake git binutils \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/build && /opt/build/bin/pip install --upgrade pip
COPY scripts/llama.sh /tmp/llama.sh
RUN LLAMA_PYTHON=/opt/build/bin/python bash /tmp/llama.sh build "$LLAMA_TIER" /wheels "$LLAMA_EXTRA_CMAKE_ARGS" \
    || { cat /wheels/build.log | tail -50; exit 1; }

# --- stage 2: the runtime image ----------------------------------------------------------------------------
FROM ${BASE_IMAGE}

ARG TORCH_INDEX=""
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    FITMIRROR_CACHE_DIR=/opt/fitmirror/cache \
    ANNY_CACHE_DIR=/opt/fitmirror/cache/anny \
    FITMIRROR_HOST=0.0.0.0 \
    FITMIRROR_LOG_JSON=1

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev build-essential git \
        libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 ffmpeg espeak-ng fonts-dejavu-core fonts-noto-cjk ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first (CPU wheel by default; CUDA wheel when TORCH_INDEX points at a CUDA index).
RUN if [ -n "$TORCH_INDEX" ]; then pip install torch==2.13.0 --index-url "$TORCH_INDEX"; \
    else pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu; fi
COPY requirements.lock ./
COPY --from=llama /wheels /wheels
RUN pip install -r requirements.lock /wheels/llama_cpp_python-*.whl && cp /wheels/CMAKE_ARGS /opt/llama-cmake-args \
    && rm -rf /wheels

COPY pyproject.toml README.md ./
COPY fitmirror fitmirror
COPY server server
COPY render render
COPY avatar avatar
COPY nlu nlu
COPY web_client web_client
# doctor opens every native component for real (a completion of a long prompt included) and fails the build
# when one crashes; the image is then proven on the build host, and its flags are portable to other hosts.
RUN pip install --no-deps -e . \
    && if [ -f web_client/package-lock.json ]; then apt-get update && apt-get install -y --no-install-recommends npm \
       && (cd web_client && npm ci --omit=dev --no-audit --no-fund) && apt-get purge -y npm && rm -rf /var/lib/apt/lists/*; fi \
    && fitmirror setup && fitmirror doctor

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["fitmirror", "serve"]
