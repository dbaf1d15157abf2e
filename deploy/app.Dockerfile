# syntax=docker/dockerfile:1
# The Weiquan app (docs/deployment.md). Build from the repository root:
#   docker build -f deploy/app.Dockerfile -t weiquan-app .
# The entry point is the `weiquan` command: by default `weiquan serve` on 0.0.0.0:8000;
# `docker run --rm weiquan-app db upgrade` migrates once and exits (so does any other
# `weiquan` command given as the container's arguments).

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY bot/ bot/
COPY nlu/ nlu/
COPY dialogues/ dialogues/
COPY integrations/ integrations/
RUN python -m venv /opt/weiquan && /opt/weiquan/bin/pip install .

FROM python:3.11-slim-bookworm
# Evidence files, and nothing else of this instance's, go under /data: a volume every
# instance shares (docs/deployment.md). A new named volume takes this directory's owner.
RUN useradd --create-home --uid 10001 --user-group weiquan \
    && install -d -o weiquan -g weiquan -m 0750 /data
COPY --from=build /opt/weiquan /opt/weiquan
COPY deploy/healthcheck.py /opt/weiquan/healthcheck.py
ENV PATH=/opt/weiquan/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WEIQUAN_DATA_DIR=/data \
    WEIQUAN_HOST=0.0.0.0 \
    WEIQUAN_PORT=8000 \
    WEIQUAN_NLU_MANAGE=false
USER weiquan
WORKDIR /data
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python /opt/weiquan/healthcheck.py "http://127.0.0.1:${WEIQUAN_PORT}/healthz"
ENTRYPOINT ["weiquan"]
CMD ["serve"]
