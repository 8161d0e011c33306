# gallery-backend: `make run` starts the local stack and the function; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
TF_DIR := infra/terraform

.DEFAULT_GOAL := help
.PHONY: help install run demo test test-unit test-integration test-e2e tf-check lint format bundle deploy bench bench-presets clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# checkov pins its own fork of the HCL parser (bc-python-hcl2) that overwrites python-hcl2's module,
# so it lives in a virtualenv of its own.
.venv-checkov/.installed:
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet 'checkov>=3,<4'
	@touch $@

install: $(BIN)/.installed node_modules/.installed .venv-checkov/.installed ## Create the virtualenvs, install Python and npm dependencies

run: install ## Start the emulators and the function on 127.0.0.1 (Ctrl-C stops everything)
	$(PY) -m gallery_devstack run

demo: install ## Upload the sample photos into the running local stack
	$(BIN)/gallery drop samples

lint: install ## ruff, mypy and terraform fmt
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	terraform fmt -check -recursive $(TF_DIR)

format: install ## Apply ruff and terraform formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	terraform fmt -recursive $(TF_DIR)

test: lint ## Lint, then unit, integration, infra and end-to-end tests
	$(BIN)/pytest

test-unit: install ## Unit tests only (no network)
	$(BIN)/pytest tests/unit

test-integration: install ## Adapters against the emulators
	$(BIN)/pytest tests/integration

test-e2e: install ## The whole local stack
	$(BIN)/pytest tests/e2e

tf-check: install ## terraform fmt, HCL wiring assertions, checkov, bundle
	terraform fmt -check -recursive $(TF_DIR)
	$(BIN)/pytest tests/infra

bundle: install ## Build build/thumbnailer.zip, the function source Terraform deploys
	$(PY) scripts/bundle.py

deploy: bundle ## Bundle, then terraform apply (needs gcloud credentials and terraform.tfvars)
	terraform -chdir=$(TF_DIR) init -input=false
	terraform -chdir=$(TF_DIR) apply

bench: install ## Rendition benchmark on samples/large (engine vs per-width processes, Pillow, sharp) and heavy inputs: estimate vs peak (bench/results.md)
	$(PY) bench/run.py

bench-presets: install ## CPU and memory added per preset variant (bench/presets-results.md)
	$(PY) bench/presets.py

clean: ## Remove the virtualenv, node_modules and build output
	rm -rf $(VENV) .venv-checkov node_modules build .devstack .devstack.env
