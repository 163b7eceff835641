# fairtrack: the two commands a newcomer needs are `make dev` and `make test`.
# Both create the virtual environments on first use and reinstall when the pins change.

PYTHON ?= python3
VENV   := .venv
SAMVENV := .venv-sam
BIN    := $(VENV)/bin
SAM    := $(SAMVENV)/bin/sam
PORT   ?= 3000

.PHONY: dev test lint typecheck validate build unit clean

$(BIN)/.installed: pyproject.toml layers/common/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(SAMVENV)/.installed: requirements-sam.txt
	test -x $(SAMVENV)/bin/python || $(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

## dev: run the local stack (moto as AWS, ingest API on 127.0.0.1:$(PORT), pollers, capture servers)
dev: $(BIN)/.installed
	$(BIN)/fairtrack dev --port $(PORT)

## test: lint, type check, sam validate --lint, sam build, and the whole pytest suite
test: lint typecheck validate build unit

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy layers/common/fairtrack functions tools/fairtrack_tools bench

validate: $(SAMVENV)/.installed
	$(SAM) validate --lint

build: $(SAMVENV)/.installed
	scripts/sam-build $(SAM)

# IAB Tech Lab's reference TCF library, which the TCF decoder tests are held to (test-only, never shipped)
tools/tcf/node_modules/.installed: tools/tcf/package.json tools/tcf/package-lock.json
	npm ci --prefix tools/tcf --no-audit --no-fund
	touch $@

unit: $(BIN)/.installed tools/tcf/node_modules/.installed
	$(BIN)/pytest

clean:
	rm -rf .aws-sam $(VENV) $(SAMVENV)
