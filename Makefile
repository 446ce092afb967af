# Luna-iEMS developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
STAMP := $(VENV)/.synced
export UV_PYTHON_DOWNLOADS := never
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Container stacks: STACK=hub (default) or STACK=edge selects compose.$(STACK).yaml.
STACK ?= hub
COMPOSE = docker compose -f compose.$(STACK).yaml --env-file .env

.PHONY: help run test lint bench clean build up down reset compose-check

help: ## list the targets (STACK=hub|edge for build, up, down, reset)
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): uv.lock pyproject.toml agent/pyproject.toml hub/pyproject.toml shared/pyproject.toml
	@$(UV) --version >/dev/null 2>&1 || { echo "installing uv with pip"; $(PYTHON) -m pip install --quiet uv; }
	$(UV) sync --locked --all-packages --all-extras
	@touch $@

run: $(STAMP) ## start hub (embedded PostgreSQL, demo prices and load profiles) and an agent polling a simulated SDM630; Ctrl-C stops both
	@trap 'kill -TERM $$hub $$agent 2>/dev/null; wait $$hub $$agent; exit 0' INT TERM; \
	luna-hub serve --demo-data "$(CURDIR)/../shared/data" & hub=$$!; \
	luna-agent run -c agent/examples/demo.toml & agent=$$!; \
	echo "starting: hub (API, /schema for OpenAPI) and agent (status API); Ctrl-C stops"; \
	wait -n $$hub $$agent; status=$$?; \
	kill -TERM $$hub $$agent 2>/dev/null; wait $$hub $$agent; exit $$status

test: $(STAMP) lint ## ruff, mypy and the whole test suite against real PostgreSQL, Mosquitto and Modbus
	@pytest || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests: that is a failure" >&2; exit $$rc; }

lint: $(STAMP) ## ruff check, ruff format --check, mypy strict
	ruff check .
	ruff format --check .
	mypy

bench: $(STAMP) ## run the benchmarks in bench/ and rewrite BENCHMARKS.md
	python -m bench

clean: ## remove the environment, caches and local state (var/)
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.env:
	@echo "no .env: copy .env.example to .env and set the passwords (see README, Deploy)" >&2; exit 1

compose-check: .env
	@docker compose version >/dev/null 2>&1 || { echo "make $(MAKECMDGOALS) needs Docker Compose v2 ('docker compose'): install Docker Engine with the compose plugin (see README, Deploy)" >&2; exit 1; }

build: compose-check ## build the images of STACK (hub or edge; compose.$(STACK).yaml)
	$(COMPOSE) build

up: compose-check ## start STACK in the background and wait until every service is healthy
	$(COMPOSE) up -d --wait

down: compose-check ## stop STACK, keeping its volumes (data survives)
	$(COMPOSE) down

reset: compose-check ## stop STACK and DELETE its volumes (database, vectors, documents); asks unless CONFIRM=yes
	@[ "$(CONFIRM)" = yes ] || { read -r -p "delete every volume of compose.$(STACK).yaml? [y/N] " answer; [ "$$answer" = y ]; }
	$(COMPOSE) down --volumes --remove-orphans
