# Weiquan — every target carries a "## help" line; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Compiled bytecode is kept (__pycache__, ignored by git): an environment that turns it off
# would have every server, command and test process compile the project again (about 1.7 s
# of CPU for each `weiquan` command here).
unexport PYTHONDONTWRITEBYTECODE

PY311 ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
RASA_VENV := .venv-rasa
# Rasa 3.6 runs on Python 3.10 only: take it from PYTHON310, pyenv, or PATH.
PY310 ?= $(shell \
	if [ -n "$$PYTHON310" ]; then echo "$$PYTHON310"; \
	elif command -v pyenv >/dev/null 2>&1 && ls -d "$$(pyenv root)"/versions/3.10.*/bin/python3.10 >/dev/null 2>&1; then \
		ls -d "$$(pyenv root)"/versions/3.10.*/bin/python3.10 | sort -V | tail -1; \
	elif command -v python3.10 >/dev/null 2>&1; then command -v python3.10; fi)

.PHONY: help run test test-fast fuzz lint fmt venv rasa-venv browser lb fonts db-upgrade bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PY311) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed ## create .venv with the app and its dev tools

# --- rasa ---
.PHONY: nlu-train nlu-eval nlu-bench
$(RASA_VENV)/.installed: nlu/requirements-rasa.txt nlu/constraints-rasa.txt
	@if [ -z "$(PY310)" ]; then echo "error: Rasa 3.6 needs Python 3.10; install it (e.g. 'pyenv install 3.10.13') or set PYTHON310=/path/to/python3.10" >&2; exit 1; fi
	@test -x $(RASA_VENV)/bin/python || $(PY310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install --quiet -r nlu/requirements-rasa.txt -c nlu/constraints-rasa.txt
	@touch $@

rasa-venv: $(RASA_VENV)/.installed ## create .venv-rasa (Python 3.10) with Rasa 3.6.21 and jieba

nlu-train: venv rasa-venv ## train the Rasa model (skipped when data, config and dictionary are unchanged)
	$(PY) -m nlu.train

nlu-eval: venv rasa-venv ## evaluate the model on the held-out split into reports/nlu/
	$(VENV)/bin/weiquan nlu eval

nlu-bench: venv rasa-venv ## NLU latency, cold start and memory (benchmarks/nlu_bench.py)
	$(PY) benchmarks/nlu_bench.py latency
# --- end rasa ---

browser: ## install Debian's Chromium for the page tests (needs root or sudo)
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	echo "installing Debian's chromium for the browser tests"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null

lb: ## install Debian's nginx and haproxy for the load-balancer tests (needs root or sudo)
	@if [ -x /usr/sbin/nginx ] && [ -x /usr/sbin/haproxy ]; then exit 0; fi; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	echo "installing Debian's nginx and haproxy for the load-balancer tests"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nginx haproxy >/dev/null

fonts: ## install Debian's Noto CJK fonts for the labelled photo set (needs root or sudo)
	@if [ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then exit 0; fi; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	echo "installing Debian's fonts-noto-cjk for the labelled photo set"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends fonts-noto-cjk >/dev/null

db-upgrade: venv ## apply database migrations
	$(VENV)/bin/weiquan db upgrade

run: venv rasa-venv ## set up and start the service on http://127.0.0.1:8000
	$(VENV)/bin/weiquan db upgrade
	$(VENV)/bin/weiquan ccc seed
	$(VENV)/bin/weiquan credit seed
	$(VENV)/bin/weiquan serve

# Test processes (pytest-xdist), 0 for none. Tests that share a server started once (the Rasa
# server, tests/scale's cluster, a module's app) stay in one process (--dist loadgroup;
# tests/conftest.py names the groups), the rest are spread. Two per core: much of a test's
# time is spent waiting (on a server it started, a double's pace, a browser), and a second
# process per core uses it (the fast tier on 2 cores: 4 processes 2m49s; see RESULTS.md).
# `make test` spreads too; SUITE_WORKERS=0 runs it in one process. Work is handed out in
# the order tests/conftest.py sorts it (heavy tests first); xdist's own reordering, by the
# size of each group, would leave a long test for the end.
CORES := $(shell nproc 2>/dev/null || echo 2)
TEST_WORKERS ?= $(shell echo $$(( $(CORES) * 2 )))
SUITE_WORKERS ?= $(TEST_WORKERS)
SPREAD := --dist loadgroup --no-loadscope-reorder

test: venv rasa-venv browser lb fonts ## set up and run the whole test suite
	$(PY) -m pytest -n $(SUITE_WORKERS) $(SPREAD)

test-fast: venv ## the quick loop: no Rasa, no browser, no long fuzzing; one process per core
	$(PY) -m pytest -m "not rasa and not slow and not e2e and not fuzz" -q -n $(TEST_WORKERS) $(SPREAD)

fuzz: venv ## longer fuzzing of every route and channel (FUZZ_EXAMPLES per operation and mode, default 100)
	WEIQUAN_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} $(PY) -m pytest -m fuzz -q tests/security

lint: venv ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: venv ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: venv ## run the chat load benchmark against a local server
	$(PY) benchmarks/chat_load.py

clean: ## remove local state (var/, models/, reports/)
	rm -rf var models reports
