# kokoro-server container images (README: "Container images").
#   CPU (default):  docker build -t kokoro-server .
#   GPU (CUDA):     docker build --target gpu -t kokoro-server:gpu .
#   both platforms: docker buildx build --platform linux/amd64,linux/arm64 -t kokoro-server .
# No architecture-specific step: every platform gets the same pip install. BASE is any image with
# Python 3.11+ and its venv module. deploy/wheels/ may hold wheels to install from (offline builds:
# --build-arg PIP_ARGS=--no-index); empty, pip uses the package index.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/kokoro PATH=/opt/kokoro/bin:$PATH \
    HOME=/home/kokoro KOKORO_DATA_DIR=/data KOKORO_HOST=0.0.0.0 KOKORO_PORT=8880 KOKORO_PRELOAD=v1_0
RUN python3 -m venv /opt/kokoro \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/kokoro kokoro \
 && mkdir -p /data && chown kokoro:kokoro /data
EXPOSE 8880
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8880/ready', timeout=4).status != 200)"]
CMD ["kokoro-server", "serve"]
COPY deploy/wheels/ /tmp/wheels/
COPY pyproject.toml README.md /tmp/src/
COPY src/ /tmp/src/src/

# GPU: the torch backend on CUDA (PyPI's Linux x86_64 torch wheels bundle the CUDA libraries; the
# host needs the NVIDIA driver and container toolkit: docker run --gpus all ...).
FROM runtime AS gpu
ARG PIP_ARGS=""
ARG TORCH=torch==2.13.0
RUN pip install --find-links /tmp/wheels ${PIP_ARGS} "${TORCH}" "/tmp/src[torch]" && rm -rf /tmp/wheels /tmp/src
ENV KOKORO_BACKEND=torch KOKORO_DEVICE=cuda
USER kokoro
VOLUME ["/data"]

# CPU (the default target, built last): onnxruntime and the embedded int8 model; speaks at once.
# The model is assembled and its faster file derived at build time (docs/models.md), into /data before
# it becomes a volume, so a new volume starts with them: the first start derives nothing when the image
# runs on the build machine's CPU kind (on another, the server derives its own in the background).
FROM runtime AS cpu
ARG PIP_ARGS=""
RUN pip install --find-links /tmp/wheels ${PIP_ARGS} /tmp/src && rm -rf /tmp/wheels /tmp/src
USER kokoro
RUN kokoro-server models --derive -m v1_0
VOLUME ["/data"]
