# fairtrack: the two commands a newcomer needs are `make dev` and `make test`.
# Both create the virtual environments on first use and reinstall when the pins change.

PYTHON ?= python3
VENV   := .venv
SAMVENV := .venv-sam
CKVENV := .venv-checkov
BIN    := $(VENV)/bin
SAM    := $(SAMVENV)/bin/sam
PORT   ?= 3000

.PHONY: dev test lint typecheck validate build web unit clean fuzz proof

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
test: lint typecheck validate build web unit

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy layers/common/fairtrack functions tools/fairtrack_tools bench

# checkov's own venv (its pins fight the project's boto3 and packaging); it ignores itself in git.
$(CKVENV)/.installed: requirements-checkov.txt
	test -x $(CKVENV)/bin/python || $(PYTHON) -m venv $(CKVENV)
	echo '*' > $(CKVENV)/.gitignore
	$(CKVENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
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

build: $(SAMVENV)/.installed
	scripts/sam-build $(SAM)

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
	$(BIN)/python -m fairtrack_tools.fuzz --seconds $(FUZZ_SECONDS)

proof: $(BIN)/.installed
	$(BIN)/python -m fairtrack_tools.proof load --hits $(PROOF_HITS)
	$(BIN)/python -m fairtrack_tools.proof canaries --hits $(PROOF_HITS)

clean:
	rm -rf .aws-sam $(VENV) $(SAMVENV) $(CKVENV)
