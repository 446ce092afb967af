# One image recipe for both programs, built from the repository root:
#   docker build --build-arg PACKAGE=hub -t luna-iems/hub .      then: docker run luna-iems/hub serve
#   docker build --build-arg PACKAGE=agent -t luna-iems/agent .  then: docker run luna-iems/agent run
# compose.hub.yaml and compose.edge.yaml set PACKAGE, the command, the listen address and the port.
# The environment is built at its final path, /opt/luna, so its scripts' interpreter lines hold.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PACKAGE
RUN test "$PACKAGE" = hub || test "$PACKAGE" = agent || { echo "PACKAGE must be hub or agent" >&2; exit 1; }
RUN pip install --no-cache-dir uv==0.9.7
WORKDIR /src
COPY pyproject.toml uv.lock .python-version ./
COPY shared shared
COPY agent agent
COPY hub hub
RUN UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/luna \
    uv sync --locked --no-dev --no-editable --package "luna-${PACKAGE}"

FROM ${PYTHON_IMAGE}
ARG PACKAGE
# The hub reads scanned pages with Tesseract (German and English); the agent needs no OCR.
RUN if [ "$PACKAGE" = hub ]; then \
        apt-get update && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng \
        && rm -rf /var/lib/apt/lists/*; \
    fi
RUN useradd --system --home /var/lib/luna --create-home luna \
    && install -d -o luna -g luna /var/log/luna \
    && ln -s "/opt/luna/bin/luna-${PACKAGE}" /usr/local/bin/luna
COPY --from=build /opt/luna /opt/luna
ENV PATH=/opt/luna/bin:$PATH LUNA_DATA_DIR=/var/lib/luna LUNA_LOG__FORMAT=json
USER luna
ENTRYPOINT ["luna"]
