# One image recipe for both programs, built from the repository root:
#   docker build --build-arg PACKAGE=hub -t luna-iems/hub .      then: docker run luna-iems/hub serve
#   docker build --build-arg PACKAGE=agent -t luna-iems/agent .  then: docker run luna-iems/agent run
# compose.hub.yaml, compose.edge.yaml, compose.swarm.yaml and .github/workflows/images.yml set PACKAGE.
# The base is pinned by the digest of its multi-architecture index (amd64 and arm64); docs/images.md says
# where the digest comes from, how to renew it, and each image's size budget.
# The environment is built at its final path, /opt/luna, so its scripts' interpreter lines hold.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ARG PACKAGE
RUN test "$PACKAGE" = hub || test "$PACKAGE" = agent || { echo "PACKAGE must be hub or agent" >&2; exit 1; }
RUN pip install --no-cache-dir uv==0.9.7
WORKDIR /src
COPY pyproject.toml uv.lock .python-version ./
COPY shared shared
COPY agent agent
COPY hub hub
# --package: only that program and its own dependencies (the agent image holds nothing of the hub's)
RUN UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/luna UV_COMPILE_BYTECODE=1 \
    uv sync --locked --no-dev --no-editable --package "luna-${PACKAGE}"

FROM ${PYTHON_IMAGE}
ARG PACKAGE
LABEL org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.title="luna-iems-${PACKAGE}"
# The hub reads scanned pages with Tesseract (German and English); the agent needs no OCR.
RUN if [ "$PACKAGE" = hub ]; then \
        apt-get update && apt-get install -y --no-install-recommends \
            tesseract-ocr=5.3.0-2 tesseract-ocr-deu=1:4.1.0-2 tesseract-ocr-eng=1:4.1.0-2 \
        && rm -rf /var/lib/apt/lists/*; \
    fi
# a fixed numeric id, so that Kubernetes' runAsNonRoot can check it and volumes can be owned by it
RUN useradd --system --no-log-init --uid 10001 --user-group --home-dir /var/lib/luna --create-home luna \
    && install -d -o luna -g luna /var/log/luna \
    && ln -s "/opt/luna/bin/luna-${PACKAGE}" /usr/local/bin/luna
COPY --from=build /opt/luna /opt/luna
COPY deploy/docker/luna_probe.py /opt/luna-probe/luna_probe.py
ENV PATH=/opt/luna/bin:$PATH LUNA_DATA_DIR=/var/lib/luna LUNA_LOG__FORMAT=json LUNA_PACKAGE=${PACKAGE} \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
# hub: /health/ready (HTTPS when a certificate is set); agent: its status API's /health
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=4 \
    CMD ["python", "/opt/luna-probe/luna_probe.py", "health"]
ENTRYPOINT ["luna"]
