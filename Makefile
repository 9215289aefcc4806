# polysync-vertex: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
CHECKOV_VENV ?= .venv-checkov
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: venv checkov-venv demo dev diagrams test test-unit test-integration test-e2e test-slow test-live lint fmt bench clean

# Two stamps in one venv: the demo needs the runtime dependencies and the extra `demo` (the local stack's storage
# emulator); tests, lint and benchmarks add `dev` and `bench` (mypy, schemathesis, matplotlib, ...).
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[demo]"
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $@

venv: $(VENV)/.dev

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30

checkov-venv: $(CHECKOV_VENV)/bin/checkov

## The local demo: the whole stack on this machine, three runs, live events, then everything stops.
demo: $(VENV)/.runtime
	$(BIN)/polysync-vertex demo

## The local stack alone, until Ctrl-C.
dev: $(VENV)/.runtime
	$(BIN)/polysync-vertex dev

## The diagrams of docs/ (Graphviz sources -> committed PNGs); needs `dot` (apt-get install graphviz). Not part of test.
diagrams:
	for f in docs/diagrams/*.dot; do dot -Tpng -Gdpi=90 "$$f" -o "$${f%.dot}.png"; done

## Every test: lint, unit, integration (real emulators), infra checks, e2e (whole local stack).
test: venv checkov-venv lint
	CHECKOV_BIN=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(BIN)/pytest -m "not slow" $(PYTEST_ARGS) tests

test-unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: venv
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-e2e: venv
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

## The fidelity facts (tests/live): against the Vertex AI emulator, or against Vertex AI itself when PSV_LIVE_PROJECT
## and PSV_LIVE_LOCATION are set (Application Default Credentials; costs money: see README "Fidelity facts").
test-live: venv
	@$(BIN)/python -m tests.live.target
	$(BIN)/pytest -m live $(PYTEST_ARGS) tests/live

test-slow: venv
	$(BIN)/pytest -m slow $(PYTEST_ARGS) tests

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	terraform fmt -recursive infra

bench: venv
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache
