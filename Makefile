# gallery-backend: `make run` starts the local stack and the function; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
TF_DIR := infra/terraform

.DEFAULT_GOAL := help
.PHONY: help install check-requirements run demo test test-unit test-integration test-e2e tf-check lint format lock docs bundle deploy bench bench-presets clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

check-requirements: ## Say what is missing from the README's requirements, and how to install it
	@PYTHON=$(PYTHON) bash scripts/check-requirements.sh

# The function's hashed lock first, so the tests run exactly the versions the deploy installs; the development
# tools on top (pip keeps the locked versions that already satisfy them; tests/infra/test_lock.py checks it).
$(BIN)/.installed: pyproject.toml functions/thumbnailer/requirements.txt | check-requirements
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r functions/thumbnailer/requirements.txt
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json | check-requirements
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# checkov pins its own fork of the HCL parser (bc-python-hcl2) that overwrites python-hcl2's module,
# so it lives in a virtualenv of its own.
.venv-checkov/.installed: | check-requirements
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet 'checkov>=3,<4'
	@touch $@

# The Google providers' schemas for tests/infra/test_provider_schema.py, from the CDK-for-Terraform prebuilt
# bindings on PyPI (the provider binaries themselves are not downloadable everywhere); only the extract is kept.
PROVIDER_PACKAGES := cdktn-provider-google==20.3.1 cdktn-provider-google-beta==20.3.1
.cache/provider-schema.json: scripts/provider_schema.py | $(BIN)/.installed
	rm -rf .cache/wheels
	$(BIN)/pip download --quiet --no-deps --dest .cache/wheels $(PROVIDER_PACKAGES)
	$(PY) scripts/provider_schema.py .cache/wheels/*.whl -o $@
	rm -rf .cache/wheels

install: $(BIN)/.installed node_modules/.installed .venv-checkov/.installed .cache/provider-schema.json ## Create the virtualenvs, install Python and npm dependencies

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

# The function's dependencies, pinned with hashes for every platform and Python 3.11+ (uv, from PyPI). The deploy
# installs exactly these; tests/infra/test_lock.py fails when pyproject.toml's dependencies change without this.
lock: install ## Regenerate functions/thumbnailer/requirements.txt (the hashed lock) from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -o functions/thumbnailer/requirements.txt

docs: install ## Regenerate the settings and Terraform tables in docs/settings.md and infra/terraform/README.md
	$(PY) scripts/docs.py

bundle: install ## Build build/thumbnailer.zip, the function source Terraform deploys
	$(PY) scripts/bundle.py

deploy: bundle ## Bundle, then terraform apply (needs gcloud credentials and terraform.tfvars)
	terraform -chdir=$(TF_DIR) init -input=false
	terraform -chdir=$(TF_DIR) apply

bench: install ## Rendition benchmark on samples/large (engine vs per-width processes, Pillow, sharp), heavy inputs: estimate vs peak, upload latency (paintable, ready), live latency under a backfill and crash recovery on the local stack (bench/results.md), bytes at equal SSIMULACRA2 (bench/quality.md), videos: memory, CPU and the preview's format (bench/video.md), a load run and the capacity model (bench/capacity.md), backfill at archive scale: throughput, memory, stop and kill (bench/backfill.md)
	$(PY) bench/run.py
	$(PY) bench/lanes.py
	$(PY) bench/crash.py
	$(PY) bench/video.py
	$(PY) bench/latency.py
	$(PY) bench/load.py
	$(PY) bench/capacity.py
	$(PY) bench/backfill.py --objects 20000

bench-presets: install ## CPU and memory added per preset variant (bench/presets-results.md)
	$(PY) bench/presets.py

clean: ## Remove the virtualenv, node_modules and build output
	rm -rf $(VENV) .venv-checkov node_modules build .cache .devstack .devstack.env
