# syntax=docker/dockerfile:1
# One Rasa understanding server (docs/deployment.md). Build from the repository root:
#   docker build -f deploy/rasa.Dockerfile -t weiquan-rasa .
# Rasa 3.6.21 on Python 3.10, installed as `make rasa-venv` does; the model is trained while
# the image is built, by the project's own fingerprinted training (`python -m nlu.train`), so
# an image holds the model for the training data it was built from. At run time
# deploy/rasa_serve.py starts `rasa run --enable-api` as the app's own supervisor would,
# on port 5005, with WEIQUAN_NLU_TOKEN (required) as its token.

FROM python:3.10-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/weiquan
COPY nlu/requirements-rasa.txt nlu/constraints-rasa.txt nlu/
RUN python -m venv .venv-rasa \
    && .venv-rasa/bin/python -m pip install -r nlu/requirements-rasa.txt -c nlu/constraints-rasa.txt
COPY config.yml ./
COPY nlu/ nlu/
RUN .venv-rasa/bin/python -m nlu.train && rm -rf models/.rasa-cache models/.train.lock

FROM python:3.10-slim-bookworm
RUN useradd --create-home --uid 10001 --user-group weiquan
WORKDIR /srv/weiquan
COPY --from=build /srv/weiquan/.venv-rasa .venv-rasa
COPY --from=build --chown=weiquan:weiquan /srv/weiquan/models models
COPY config.yml ./
COPY nlu/ nlu/
COPY deploy/rasa_serve.py deploy/healthcheck.py deploy/
ENV PYTHONUNBUFFERED=1 RASA_PORT=5005
USER weiquan
EXPOSE 5005
# Healthy once the model parses (loading takes tens of seconds).
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
    CMD .venv-rasa/bin/python deploy/healthcheck.py --rasa "http://127.0.0.1:${RASA_PORT}"
ENTRYPOINT [".venv-rasa/bin/python", "deploy/rasa_serve.py"]
