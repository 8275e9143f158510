# The ttg worker image: 'ttg worker' on a slim Python, as a non-root user.
#
#   docker build -t ttg-worker:v2.0.0 .
#   kind load docker-image ttg-worker:v2.0.0 --name ttg-sandbox
#
# Only the core package goes in: no notebook, chart or Kubernetes extras.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build the wheel ------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ttglib ./ttglib
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- the worker -----------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=2.0.0
LABEL org.opencontainers.image.title="ttg-worker" \
      org.opencontainers.image.description="ttglib worker: pulls chunks of a parameter sweep from Redis Streams" \
      org.opencontainers.image.version="${VERSION}" \
      version="v${VERSION}"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric id, so that Kubernetes can check runAsNonRoot.
RUN groupadd --system --gid 10001 ttg \
    && useradd --system --no-log-init --uid 10001 --gid ttg \
       --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ttg

COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/ttglib-*.whl && rm -rf /wheels

USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["ttg", "worker"]
