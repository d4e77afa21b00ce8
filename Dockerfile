# Landscape: one image for the web server and the workers (docker-compose.yml starts them).
#
#   docker build -t landscape .                                                   # CUDA torch (GPU workers)
#   docker build -t landscape:cpu --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu .
#
# PyPI's torch wheel for Linux x86-64 carries CUDA (the GPU workers need it); the CPU index gives a
# much smaller image for the web server and CPU workers. Not built here: these machines have no
# Docker engine.
FROM python:3.11-slim

ARG TORCH_INDEX=https://pypi.org/simple
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LANDSCAPE_HOME=/data/landscape

WORKDIR /srv/landscape
# torch first, on its own layer: the project's own requirement (torch>=2.2) is then satisfied
RUN pip install --index-url "${TORCH_INDEX}" torch==2.13.0
COPY pyproject.toml README.md ./
COPY app app
COPY compute compute
COPY models models
RUN pip install '.[serve]'

# runs, datasets and the embedded cache live on the shared volume; never run as root
RUN useradd --create-home --uid 1000 landscape \
    && mkdir -p /data/landscape && chown landscape /data/landscape
USER landscape
VOLUME /data/landscape
EXPOSE 8050

CMD ["landscape", "serve", "--host", "0.0.0.0", "--port", "8050"]
