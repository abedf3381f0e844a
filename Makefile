# Incident responder: build, test and try it. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
PYTHON ?= python3
VENV ?= .venv
EVENT ?=
RULES ?=

# The local AWS bench's Python side (moto, our emulator, pytest), installed once per requirements change.
BENCH_READY := $(VENV)/.installed

# The template tools (cfn-lint, SAM CLI, checkov, cargo-lambda with its zig), pinned in
# infra/requirements.txt, in a venv of their own: SAM CLI and checkov pin many libraries.
INFRA_VENV ?= .venv-infra
INFRA_READY := $(INFRA_VENV)/.installed
TEMPLATES := infra/template.yaml infra/vpn-alarm.yaml infra/instance-alarm.yaml
# The region the templates are checked for (no AWS account is used).
INFRA_REGION ?= us-east-1
SAM_BUILD_DIR := .aws-sam/build
SAM_BUILD_FLAGS ?=

# The tools run from the venv and never phone home: no SAM CLI telemetry, and its weekly PyPI
# version check is kept off by its own settings file in the venv (__SAM_CLI_APP_DIR, seeded with a
# last check far in the future; also keeps ~/.aws-sam untouched); checkov skips its PyPI update
# check (CKV_SKIP_PACKAGE_UPDATE_CHECK) and, with --skip-download, the Prisma Cloud platform.
INFRA_ENV := env PATH="$(abspath $(INFRA_VENV))/bin:$$PATH" SAM_CLI_TELEMETRY=0 \
  __SAM_CLI_APP_DIR="$(abspath $(INFRA_VENV))/sam-cli" CKV_SKIP_PACKAGE_UPDATE_CHECK=true
# `sam validate` needs a region, not credentials. Without credentials, a template naming a managed
# policy SAM does not bundle fails at once ("AWS Credentials are required") instead of calling IAM.
NO_AWS := env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
  -u AWS_DEFAULT_PROFILE -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -u AWS_CONTAINER_CREDENTIALS_FULL_URI \
  -u AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  AWS_EC2_METADATA_DISABLED=true

.PHONY: help setup build test lint infra-lint fmt functions triage rules-check demo bench release size size-compare package

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BENCH_READY): tests/bench/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.10+ with its venv module"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/bench/requirements.txt
	@touch $@

$(INFRA_READY): infra/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.10+ with its venv module"; exit 1; }
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	@mkdir -p $(INFRA_VENV)/sam-cli && echo '{"telemetryEnabled": false, "lastVersionCheck": 32503680000.0}' > $(INFRA_VENV)/sam-cli/metadata.json
	@touch $@

setup: $(BENCH_READY) $(INFRA_READY) ## Check the Rust toolchain (rustfmt, clippy); create the bench's venv (.venv) and the template tools' (.venv-infra)
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup first (https://rustup.rs)"; exit 1; }
	@for c in fmt clippy; do $(CARGO) $$c --version >/dev/null 2>&1 || rustup component add $$([ $$c = fmt ] && echo rustfmt || echo clippy); done
	@$(CARGO) --version && $(CARGO) fmt --version && $(CARGO) clippy --version

build: ## Build every function and tool (debug)
	$(CARGO) build --workspace --locked

test: $(BENCH_READY) functions ## Run every test: unit, handler, adapter, then end-to-end on the local AWS bench
	$(CARGO) test --workspace --all-features --locked
	$(VENV)/bin/pytest -q tests/bench

lint: $(BENCH_READY) ## Format check, clippy with warnings as errors, the code's shape (tests/code), then the template checks (make infra-lint)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings
	$(VENV)/bin/pytest -q tests/code
	@$(MAKE) --no-print-directory infra-lint

infra-lint: $(INFRA_READY) $(BENCH_READY) $(TEMPLATES) ## Check the templates offline: cfn-lint, sam validate (also --lint), checkov, tests/infra
	$(INFRA_ENV) cfn-lint --regions $(INFRA_REGION) -- $(TEMPLATES)
	@set -e; for t in $(TEMPLATES); do \
	  echo "sam validate --lint --template $$t"; $(INFRA_ENV) $(NO_AWS) sam validate --lint --region $(INFRA_REGION) --template $$t; \
	  echo "sam validate --template $$t"; $(INFRA_ENV) $(NO_AWS) sam validate --region $(INFRA_REGION) --template $$t; \
	done
	$(INFRA_ENV) checkov --skip-download --framework cloudformation --quiet --compact $(addprefix -f ,$(TEMPLATES))
	$(VENV)/bin/pytest -q tests/infra

fmt: ## Format the code
	$(CARGO) fmt --all

# The debug binaries the bench runs (target/debug/<function>), built with the features the
# tests use, so `make test` and `make demo` share one build.
functions: ## Build the debug function binaries the local AWS bench runs
	$(CARGO) build --workspace --all-features --locked --bins --quiet

demo: $(BENCH_READY) functions ## Play the VPN-down and escalation stories on the local AWS bench and print what a responder sees
	cd tests/bench && ../../$(VENV)/bin/python demo.py

triage: ## Print triage's decision for EVENT (files) with RULES, offline; AT=<time>, OPEN=<event files open first>, CALENDAR=<name=STATE>, SILENCED=<dedupe key>
	@test -n "$(EVENT)" || { echo "usage: make triage EVENT=tests/fixtures/events/cloudwatch-alarm-vpn-tunnel-down.json [RULES=my-rules.yaml] [AT=2026-12-06T02:10:00Z] [OPEN=<event files>] [CALENDAR=Name=CLOSED] [SILENCED=<dedupe key>]"; exit 2; }
	@$(CARGO) run -q --locked -p responder --bin triage-try -- $(if $(RULES),--rules $(RULES)) $(if $(AT),--at $(AT)) $(foreach f,$(OPEN),--open $(f)) $(foreach c,$(CALENDAR),--calendar $(c)) $(foreach k,$(SILENCED),--silenced $(k)) $(EVENT)

rules-check: ## Validate a rules file (RULES=..., default: the embedded rules) and list its rules, escalation, windows, silences and inhibitions
	@$(CARGO) run -q --locked -p responder --bin triage-try -- $(if $(RULES),--rules $(RULES)) --check

bench: $(BENCH_READY) release ## Benchmark report: size, cold start, peak RSS, events/s, classification cost (~15 min)
	$(CARGO) bench --locked -p responder --bench classify
	cd tests/bench && ../../$(VENV)/bin/python perf.py

FUNCTIONS := triage enrich runbook notify resolve escalate changes inspect

release: ## Build every function for release (size-tuned profile; ~8 min here from clean)
	$(CARGO) build --release --locked $(addprefix -p ,$(FUNCTIONS))

size: release ## Print each function's release binary size, raw and zipped
	@for fn in $(FUNCTIONS); do f=target/release/$$fn; raw=$$(stat -c %s $$f); zipped=$$(gzip -9 -c $$f | wc -c); \
	  awk -v n=$$fn -v r=$$raw -v z=$$zipped 'BEGIN { printf "%-8s %8d bytes (%.2f MiB), gzip -9 %8d bytes (%.2f MiB)\n", n, r, r/1048576, z, z/1048576 }'; done

size-compare: ## Build triage with each candidate profile and print its size (~15 min here)
	@for p in release release-s release-o3 release-thin; do \
	  start=$$(date +%s); $(CARGO) build -q --locked --profile $$p -p triage || exit 1; \
	  f=target/$$p/triage; raw=$$(stat -c %s $$f); zipped=$$(gzip -9 -c $$f | wc -c); \
	  awk -v p=$$p -v r=$$raw -v z=$$zipped -v s=$$(( $$(date +%s) - start )) \
	    'BEGIN { printf "%-13s %6.2f MiB stripped  %5.2f MiB gzip -9  (%d s build)\n", p, r/1048576, z/1048576, s }'; \
	done

# sam build: each function's `cargo lambda build --release --arm64 --bin <name>` (rust-cargolambda;
# our release profile, plus cargo-lambda's -C target-cpu=neoverse-n1), cross-compiled with the zig
# from .venv-infra into the workspace's target/ (shared: a dependency compiles again only where a
# function's feature set differs), then copied to $(SAM_BUILD_DIR)/<Name>Function/bootstrap.
# Not --cached (SAM's cache key is the CodeUri directory, blind to shared/) nor --parallel (one
# cargo target directory: the builds would wait on its lock). SAM_BUILD_FLAGS=--debug shows the
# cargo-lambda commands.
package: $(INFRA_READY) infra/template.yaml ## Build the functions for Lambda (arm64, release) with sam build into .aws-sam/build, for sam deploy
	@command -v rustup >/dev/null || { echo "rustup not found: make package adds the aarch64-unknown-linux-gnu target with it"; exit 1; }
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	$(INFRA_ENV) sam build --template infra/template.yaml --build-dir $(SAM_BUILD_DIR) --build-in-source $(SAM_BUILD_FLAGS)
	@for fn in $(FUNCTIONS); do f=$(SAM_BUILD_DIR)/$${fn^}Function/bootstrap; \
	  [ "$$(od -An -tx1 -j18 -N2 $$f 2>/dev/null | tr -d ' ')" = b700 ] || { echo "$$f: missing or not an aarch64 ELF"; exit 1; }; \
	  raw=$$(stat -c %s $$f); zipped=$$(gzip -9 -c $$f | wc -c); \
	  awk -v f=$$f -v r=$$raw -v z=$$zipped 'BEGIN { printf "%-40s aarch64 %8d bytes (%.2f MiB), gzip -9 %8d bytes (%.2f MiB)\n", f, r, r/1048576, z, z/1048576 }'; done
