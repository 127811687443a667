# `make demo` and `make test` each set up everything they need from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_COMPILE := uv pip compile --quiet --generate-hashes --universal --python-version 3.10
CODE := attest verify tests benchmarks examples

.PHONY: setup test test-fast lint lint-actions demo bench lock clean

# A venv with exactly the hash-locked dependency set, then attest itself (editable, no deps).
$(STAMP): requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

# sigstore-js, the independent verifier of the interop tests (pinned by package-lock.json).
INTEROP_STAMP := tests/interop/node_modules/.installed
$(INTEROP_STAMP): tests/interop/package-lock.json
	npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
	touch $(INTEROP_STAMP)

lint: setup
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy --strict attest verify
	$(MAKE) --no-print-directory lint-actions

# The composite actions and the workflows, offline: zizmor (security) and jactionlint (actionlint's
# checks on workflows and composite action.yml alike, with shellcheck on every run: script).
WORKFLOWS := actions/*/action.yml examples/workflows/*.yml tests/actions/workflows/*.yml
lint-actions: setup
	$(BIN)/zizmor --offline --quiet --config actions/zizmor.yml $(WORKFLOWS)
	$(BIN)/jactionlint --no-online --strict-exit --shellcheck=$(BIN)/shellcheck --ruff=$(BIN)/ruff $(WORKFLOWS)
	$(BIN)/shellcheck --shell=bash actions/lib.sh

test: lint $(INTEROP_STAMP)
	$(BIN)/pytest

# The inner loop: every test but those marked slow (tests/slow.txt), in under a minute.
test-fast: setup $(INTEROP_STAMP)
	$(BIN)/pytest -m "not slow"

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

bench: setup
	$(BIN)/python benchmarks/bench_sbom.py
	$(BIN)/python benchmarks/bench_scan.py
	$(BIN)/python benchmarks/bench_sign.py
	$(BIN)/python benchmarks/bench_verify.py

# docs/policy.md, written from the gate policy's JSON Schema (tests/verify/test_policy_docs.py
# fails when it is out of date).
.PHONY: docs
docs: setup
	$(BIN)/python -m verify.policy_docs > docs/policy.md.tmp && mv docs/policy.md.tmp docs/policy.md

# Re-resolve the locks (needs uv and the package index): after editing dependencies.
lock:
	$(UV_COMPILE) pyproject.toml --extra dev -o requirements/dev.lock
	$(UV_COMPILE) pyproject.toml requirements/runtime-build.in -o requirements/runtime.lock
	uv pip compile --quiet --generate-hashes --python-version 3.11 benchmarks/peer.in -o benchmarks/peer.lock
	uv pip compile --quiet --generate-hashes --python-version 3.11 benchmarks/target.in -o benchmarks/target.lock

clean:
	rm -rf $(VENV) build tests/interop/node_modules
