# KIM Hub: `make test` and `make run` are all you need; everything fetched at run time lands in .cache/ (gitignored).
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_CACHE_DIR := $(CURDIR)/.cache/uv
export UV_PYTHON_DOWNLOADS := never
UV_VERSION := 0.13.8
UV := .cache/bootstrap/bin/uv
VENV := .venv
KIM := $(VENV)/bin/kim
PYTEST := $(VENV)/bin/pytest
PYTEST_ARGS ?=

.PHONY: help install node browser test test-unit test-integration test-e2e test-faults test-rehearsal run stack-up stack-down stack-status bench clean distclean

help:
	@echo "make test     install, start the local stack, run the whole suite, stop what was started"
	@echo "make run      start the stack (and the services once they exist) in the foreground; Ctrl-C stops all"
	@echo "make install | test-unit | test-integration | test-e2e | test-faults | test-rehearsal | stack-up | stack-down | stack-status | bench | clean"

$(UV):
	python3 -m venv .cache/bootstrap
	.cache/bootstrap/bin/pip install -q uv==$(UV_VERSION)

# uv sync --frozen takes ~50 ms when nothing changed, so it simply runs every time.
install: $(UV)
	@$(UV) sync --frozen --quiet

# npm packages from package-lock.json (the AsyncAPI validator), reinstalled only when the lock file changes
node: node_modules/.installed
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's Chromium for the dashboard's browser test (never a browser download of a test tool's own)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is missing: install Debian's chromium package (the browser tests skip without it)"; fi; }

# the rehearsal and fault tiers run beside the rest (own stacks; tests/run_suite.sh); tier targets accept an empty
# tier (pytest exit code 5: nothing collected)
test: install node browser
	@if $(KIM) schemas check --help >/dev/null 2>&1; then $(KIM) schemas check; fi
	bash tests/run_suite.sh $(PYTEST) $(PYTEST_ARGS)

test-unit: install
	$(PYTEST) tests/unit $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-integration: install node browser
	$(PYTEST) tests/integration $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-e2e: install node browser
	$(PYTEST) tests/e2e $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-faults: install
	$(PYTEST) tests/faults $(PYTEST_ARGS) || [ $$? -eq 5 ]

# the compose topology on the host: SASL/SCRAM broker with ACLs, kafka-init.sh, init.sh, Dockerfile-style venvs
# (tests/rehearsal; ports KIM_REHEARSAL_BASE_PORT..+8, default 28192)
test-rehearsal: install
	$(PYTEST) tests/rehearsal $(PYTEST_ARGS) || [ $$? -eq 5 ]

run: install
	@if $(KIM) run --help >/dev/null 2>&1; then exec $(KIM) run; else exec $(KIM) stack up --foreground; fi

stack-up: install
	$(KIM) stack up

stack-down: install
	$(KIM) stack down

stack-status: install
	$(KIM) stack status

# the benchmark runs against the stack; whatever `stack exec` started for it is stopped afterwards
bench: install
	@if $(KIM) bench store --help >/dev/null 2>&1; then $(KIM) stack exec -- $(KIM) bench store; \
	else echo "kim bench store is not available yet"; fi

# stops the stack and removes the venv, the stack data and test caches; keeps downloads (uv, Maven, Kafka jars)
clean:
	@if [ -x $(KIM) ]; then $(KIM) stack down || true; fi
	rm -rf $(VENV) .cache/stack .cache/test-stack .cache/test-stacks .cache/rehearsal .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './node_modules/*' -exec rm -rf {} +

distclean: clean
	rm -rf .cache node_modules
