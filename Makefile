# Incident responder: build, test and try it. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
EVENT ?=
RULES ?=

.PHONY: help setup build test lint fmt triage rules-check release size size-compare

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install what the build and lint need (rustfmt, clippy)
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup first (https://rustup.rs)"; exit 1; }
	@for c in fmt clippy; do $(CARGO) $$c --version >/dev/null 2>&1 || rustup component add $$([ $$c = fmt ] && echo rustfmt || echo clippy); done
	@$(CARGO) --version && $(CARGO) fmt --version && $(CARGO) clippy --version

build: ## Build every function and tool (debug)
	$(CARGO) build --workspace --locked

test: ## Run every test: unit, handler, adapter (aws-smithy-mocks)
	$(CARGO) test --workspace --all-features --locked

lint: ## Format check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

triage: ## Print triage's decision for EVENT (one or more files) with RULES (default: embedded), offline
	@test -n "$(EVENT)" || { echo "usage: make triage EVENT=tests/fixtures/events/cloudwatch-alarm-vpn-tunnel-down.json [RULES=my-rules.yaml]"; exit 2; }
	@$(CARGO) run -q --locked -p responder --bin triage-try -- $(if $(RULES),--rules $(RULES)) $(EVENT)

rules-check: ## Validate a rules file (RULES=..., default: the embedded rules) and list its rules
	@$(CARGO) run -q --locked -p responder --bin triage-try -- $(if $(RULES),--rules $(RULES)) --check

release: ## Build the triage binary for release (size-tuned profile; ~4 min here)
	$(CARGO) build --release --locked -p triage

size: release ## Print the triage release binary's size, raw and zipped
	@f=target/release/triage; raw=$$(stat -c %s $$f); zipped=$$(gzip -9 -c $$f | wc -c); \
	  awk -v r=$$raw -v z=$$zipped 'BEGIN { printf "triage: %d bytes (%.2f MiB), gzip -9 %d bytes (%.2f MiB)\n", r, r/1048576, z, z/1048576 }'

size-compare: ## Build triage with each candidate profile and print its size (~15 min here)
	@for p in release release-s release-o3 release-thin; do \
	  start=$$(date +%s); $(CARGO) build -q --locked --profile $$p -p triage || exit 1; \
	  f=target/$$p/triage; raw=$$(stat -c %s $$f); zipped=$$(gzip -9 -c $$f | wc -c); \
	  awk -v p=$$p -v r=$$raw -v z=$$zipped -v s=$$(( $$(date +%s) - start )) \
	    'BEGIN { printf "%-13s %6.2f MiB stripped  %5.2f MiB gzip -9  (%d s build)\n", p, r/1048576, z/1048576, s }'; \
	done
