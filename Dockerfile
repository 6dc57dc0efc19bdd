# Production image: runs `fitmirror serve`. CPU by default; for NVIDIA GPUs build with
#   docker build --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#                --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t fitmirror:cuda .
# and run with `--gpus all -e NVIDIA_DRIVER_CAPABILITIES=all` (graphics for EGL, video for NVENC).
# Models are assembled and verified at build time, so the container never downloads anything at run time.
ARG BASE_IMAGE=python:3.11-slim-bookworm
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
        python3 python3-venv python3-dev build-essential cmake git \
        libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 ffmpeg espeak-ng fonts-dejavu-core fonts-noto-cjk ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first (CPU wheel by default; CUDA wheel when TORCH_INDEX points at a CUDA index).
RUN if [ -n "$TORCH_INDEX" ]; then pip install torch==2.13.0 --index-url "$TORCH_INDEX"; \
    else pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu; fi
# llama-cpp-python compiles here (about 9 minutes on 2 cores); with CUDA add CMAKE_ARGS="-DGGML_CUDA=on".
COPY requirements.lock ./
RUN pip install -r requirements.lock llama-cpp-python==0.3.36

COPY pyproject.toml README.md ./
COPY fitmirror fitmirror
COPY server server
COPY render render
COPY avatar avatar
COPY nlu nlu
COPY web_client web_client
RUN pip install --no-deps -e . \
    && if [ -f web_client/package-lock.json ]; then apt-get update && apt-get install -y --no-install-recommends npm \
       && (cd web_client && npm ci --omit=dev --no-audit --no-fund) && apt-get purge -y npm && rm -rf /var/lib/apt/lists/*; fi \
    && fitmirror setup && fitmirror doctor

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["fitmirror", "serve"]
