# fairtrack: the two commands a newcomer needs are `make dev` and `make test`; `make deploy` ships it.
# Both create the virtual environments on first use and reinstall when the locks change.
# Every tool is installed from a lock (exact versions and hashes, transitive included):
# requirements-dev.lock (.venv), requirements-sam.lock (.venv-sam), requirements-checkov.lock
# (.venv-checkov); the layer's layers/common/requirements.txt is the same for Lambda. `make lock`
# refreshes them all from their ranges (pyproject.toml, requirements-*.txt, layers/common/requirements.in).

PYTHON ?= python3
VENV   := .venv
SAMVENV := .venv-sam
CKVENV := .venv-checkov
BIN    := $(VENV)/bin
SAM    := $(SAMVENV)/bin/sam
PORT   ?= 3000
PIP_VERSION := 26.3

# SAM CLI sends usage telemetry unless told not to: never from this project
export SAM_CLI_TELEMETRY := 0

.PHONY: dev test lint typecheck validate build deploy lock web unit clean fuzz proof

$(BIN)/.installed: requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(SAMVENV)/.installed: requirements-sam.lock
	test -x $(SAMVENV)/bin/python || $(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	$(SAMVENV)/bin/python -m pip install --quiet -r requirements-sam.lock
	touch $@

## dev: run the local stack (moto as AWS, ingest API on 127.0.0.1:$(PORT), pollers, capture servers)
dev: $(BIN)/.installed
	$(BIN)/fairtrack dev --port $(PORT)

## test: lint, type check, sam validate --lint, sam build, and the whole pytest suite
test: lint typecheck validate build web unit

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy layers/common/fairtrack functions tools/fairtrack_tools bench

# checkov's own venv (its pins fight the project's boto3 and packaging); it ignores itself in git.
$(CKVENV)/.installed: requirements-checkov.lock
	test -x $(CKVENV)/bin/python || $(PYTHON) -m venv $(CKVENV)
	echo '*' > $(CKVENV)/.gitignore
	$(CKVENV)/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	$(CKVENV)/bin/python -m pip install --quiet -r requirements-checkov.lock
	touch $@

# template.yaml as the plain CloudFormation SAM deploys (function roles and their inline policies,
# event source mappings, the API stage, permissions), translated offline with samtranslator like
# tests/unit/test_template.py does, so that checkov also checks the resources SAM generates.
define SAM_TRANSLATE
import json, sys
from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform

class NoManagedPolicyNames:  # the template names no managed policy: nothing to look up in IAM
    def load(self):
        return {}

template = json.loads(json.dumps(cfn_yaml.load(sys.argv[1])))
for resource in template["Resources"].values():
    properties = resource.get("Properties", {})
    for key in ("CodeUri", "ContentUri"):
        if key in properties:
            properties[key] = "s3://fairtrack-artifacts/code.zip"
with open(sys.argv[2], "w") as out:
    json.dump(transform(template, {}, NoManagedPolicyNames()), out, indent=1)
endef
export SAM_TRANSLATE

.aws-sam/iac/template.json: template.yaml $(BIN)/.installed
	mkdir -p $(@D)
	AWS_DEFAULT_REGION=eu-west-1 $(BIN)/python -c "$$SAM_TRANSLATE" template.yaml $@

# sam validate --lint (cfn-lint's own rules), cfn-lint again with the serverless rules
# (awslabs/serverless-rules), and checkov offline on the SAM template and its CloudFormation.
# Every finding fails the build; a deliberate exception is a skip in the template's Metadata next to
# the resource (checkov: skip with a comment, cfn-lint: ignore_checks with a # reason).
validate: $(SAMVENV)/.installed $(BIN)/.installed $(CKVENV)/.installed .aws-sam/iac/template.json
	$(SAM) validate --lint
	$(BIN)/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(CKVENV)/bin/checkov --file template.yaml --file .aws-sam/iac/template.json --framework cloudformation \
		--skip-download --quiet --compact

## build: sam build, then bytecode for python3.13 (a plain `sam build` ships none: a slower cold start)
build: $(SAMVENV)/.installed
	scripts/sam-build $(SAM)

## deploy: the bytecode build, then `sam deploy --guided` the first time (it saves the stack name,
## region and parameters in samconfig.toml) and `sam deploy` with those after; GUIDED=1 asks again
deploy: build
	scripts/sam-deploy $(SAM)

# the flags each lock is compiled with (uv pip compile): hashes; the dev and SAM/checkov tools for
# any platform a developer or CI runs (3.11+); the layer for Lambda (python3.13 on arm64, no hashes:
# sam build installs it, and bench/coldstart.py reads its pins)
LOCK_FLAGS := --quiet --upgrade --custom-compile-command "make lock"
HOST_LOCK := $(LOCK_FLAGS) --universal --python-version 3.11 --generate-hashes

## lock: refresh every lock to the newest versions the ranges allow (then run make test, and commit)
lock: $(BIN)/.installed
	$(BIN)/uv pip compile $(HOST_LOCK) --extra dev -o requirements-dev.lock pyproject.toml
	$(BIN)/uv pip compile $(HOST_LOCK) -o requirements-sam.lock requirements-sam.txt
	$(BIN)/uv pip compile $(HOST_LOCK) -o requirements-checkov.lock requirements-checkov.txt
	$(BIN)/uv pip compile $(LOCK_FLAGS) --python-platform aarch64-manylinux2014 --python-version 3.13 \
		-o layers/common/requirements.txt layers/common/requirements.in

# IAB Tech Lab's reference TCF library, which the TCF decoder tests are held to (test-only, never shipped)
tools/tcf/node_modules/.installed: tools/tcf/package.json tools/tcf/package-lock.json
	npm ci --prefix tools/tcf --no-audit --no-fund
	touch $@

# fairtrack.js (web/src -> layers/common/fairtrack/assets/fairtrack.js, served at GET /fairtrack.js) and
# the browser clients the compatibility tests drive (analytics-next, RudderStack JS), pinned and locked
web/node_modules/.installed: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund
	touch $@

## web: the snippet's unit tests, and its build check (under 3 KB gzipped; the committed asset is the build)
web: web/node_modules/.installed
	npm --prefix web test
	npm --prefix web run build -- --check

unit: $(BIN)/.installed tools/tcf/node_modules/.installed web/node_modules/.installed
	$(BIN)/pytest

## the long forms of the proofs (the short forms run in make test)
FUZZ_SECONDS ?= 600
PROOF_HITS ?= 100000
fuzz: $(BIN)/.installed
	$(BIN)/python -m fairtrack_tools.proofs.fuzz --seconds $(FUZZ_SECONDS)

proof: $(BIN)/.installed
	$(BIN)/python -m fairtrack_tools.proofs load --hits $(PROOF_HITS)
	$(BIN)/python -m fairtrack_tools.proofs canaries --hits $(PROOF_HITS)

clean:
	rm -rf .aws-sam $(VENV) $(SAMVENV) $(CKVENV)
