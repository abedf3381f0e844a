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

.PHONY: help setup build test lint fmt functions triage rules-check demo bench release size size-compare

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BENCH_READY): tests/bench/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.10+ with its venv module"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/bench/requirements.txt
	@touch $@

setup: $(BENCH_READY) ## Check the Rust toolchain (rustfmt, clippy) and create the bench's Python venv (.venv)
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup first (https://rustup.rs)"; exit 1; }
	@for c in fmt clippy; do $(CARGO) $$c --version >/dev/null 2>&1 || rustup component add $$([ $$c = fmt ] && echo rustfmt || echo clippy); done
	@$(CARGO) --version && $(CARGO) fmt --version && $(CARGO) clippy --version

build: ## Build every function and tool (debug)
	$(CARGO) build --workspace --locked

test: $(BENCH_READY) functions ## Run every test: unit, handler, adapter, then end-to-end on the local AWS bench
	$(CARGO) test --workspace --all-features --locked
	$(VENV)/bin/pytest -q tests/bench

lint: ## Format check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

# The debug binaries the bench runs (target/debug/<function>), built with the features the
# tests use, so `make test` and `make demo` share one build.
functions: ## Build the debug function binaries the local AWS bench runs
	$(CARGO) build --workspace --all-features --locked --bins --quiet

demo: $(BENCH_READY) functions ## Play the VPN-down story on the local AWS bench and print what a responder sees
	cd tests/bench && ../../$(VENV)/bin/python demo.py

triage: ## Print triage's decision for EVENT (one or more files) with RULES (default: embedded), offline
	@test -n "$(EVENT)" || { echo "usage: make triage EVENT=tests/fixtures/events/cloudwatch-alarm-vpn-tunnel-down.json [RULES=my-rules.yaml]"; exit 2; }
	@$(CARGO) run -q --locked -p responder --bin triage-try -- $(if $(RULES),--rules $(RULES)) $(EVENT)

rules-check: ## Validate a rules file (RULES=..., default: the embedded rules) and list its rules
	@$(CARGO) run -q --locked -p responder --bin triage-try -- $(if $(RULES),--rules $(RULES)) --check

bench: $(BENCH_READY) release ## Benchmark report: size, cold start, peak RSS, events/s, classification cost (~15 min)
	$(CARGO) bench --locked -p responder --bench classify
	cd tests/bench && ../../$(VENV)/bin/python perf.py

FUNCTIONS := triage enrich runbook notify resolve

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
