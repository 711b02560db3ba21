# secret-mounts-policy — every entry point of the project.
#   make demo   build the policy and the runner, evaluate the bundled examples
#   make test   fmt + lint + unit tests + e2e tests + CI lint (installs what it needs)
#   make dist   the release's files in dist/, as release.yml publishes them
SHELL := /bin/bash
.DEFAULT_GOAL := policy.wasm

CARGO ?= cargo
RUNNER := bin/policy-runner
POLICY_SOURCES := $(shell find src -name '*.rs') build.rs Cargo.toml Cargo.lock docs/rules.yml
RUNNER_SOURCES := $(shell find runner/src -name '*.rs' 2>/dev/null) runner/Cargo.toml runner/Cargo.lock
DEMO_SETTINGS := examples/settings.yml
DEMO_MANIFESTS := $(sort $(wildcard examples/manifests/*.yaml))

.PHONY: runner fmt lint unit-tests e2e-tests test demo bench fuzz readme clean tools dist dist-check lint-ci

policy.wasm: $(POLICY_SOURCES)
	@scripts/apt-tools.sh wasm-opt=binaryen || echo "policy.wasm: building without wasm-opt" >&2
	scripts/build-wasm.sh secret_mounts_policy $@ -p secret-mounts-policy --locked

runner: $(RUNNER)
$(RUNNER): $(RUNNER_SOURCES)
	@mkdir -p bin
	$(CARGO) build --release --locked --manifest-path runner/Cargo.toml
	cp runner/target/release/policy-runner $@

# Tools from Debian's packages that the tests need (bats, jq).
tools:
	@scripts/apt-tools.sh bats jq

fmt:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path runner/Cargo.toml --all -- --check

# The runner is linted in its release profile, which is all make builds it in:
# its proc macros and build scripts are then the ones the release builds reuse.
lint:
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) clippy --release --manifest-path runner/Cargo.toml --all-targets --locked -- -D warnings

# The runner's tests share the release build of wasmtime with $(RUNNER).
unit-tests:
	$(CARGO) test --locked
	$(CARGO) test --release --locked --manifest-path runner/Cargo.toml

e2e-tests: policy.wasm $(RUNNER) tools
	bats e2e-tests/

test: fmt lint unit-tests e2e-tests lint-ci

# actionlint and zizmor over .github/workflows and action.yml (from PyPI).
lint-ci:
	scripts/lint-ci.sh

# The release rehearsed: dist/ holds policy.wasm, the static runner, the rule
# catalogue, the module's SBOM and SHA256SUMS (scripts/dist.sh).
dist: policy.wasm
	scripts/dist.sh policy.wasm

# make dist from a clean clone of HEAD, its runner alone over the examples, and
# a second clone elsewhere building a byte-identical policy.wasm.
dist-check:
	scripts/dist-check.sh

# The project's main job (docs/policy-ci.md): rejected objects are part of the show, so exit 1 (a
# rejection) is expected here; anything else is a real failure.
demo: policy.wasm $(RUNNER)
	$(RUNNER) check --settings-path $(DEMO_SETTINGS) policy.wasm $(DEMO_MANIFESTS) || [ $$? -eq 1 ]
	@echo
	@echo "# Vault-synced Secrets: the chart's VaultStaticSecret answers the policy's look-ups"
	$(RUNNER) check --settings-path examples/vault-sync/settings.yml policy.wasm examples/vault-sync/chart.yaml || [ $$? -eq 1 ]

# Rewrites the generated rule messages of docs/rules.md from the policy core.
readme:
	UPDATE_README=1 $(CARGO) test --locked --test policy readme::

# The comparison table against the floor policy, then the native Criterion and
# scaling benchmarks. BENCH_BASELINE=FILE.wasm adds an earlier policy module to
# the comparison (scripts/bench.sh).
bench:
	BENCH_BASELINE="$(BENCH_BASELINE)" scripts/bench.sh

# Every fuzz target for FUZZ_SECONDS each (default 60).
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

annotated-policy.wasm: policy.wasm policy-metadata.yml README.md
	@if command -v kwctl >/dev/null; then \
	  kwctl annotate -m policy-metadata.yml -u README.md -o $@ policy.wasm; \
	else \
	  echo "kwctl is not installed: cannot write $@ (install kwctl from the Kubewarden releases, then rerun make $@)" >&2; exit 1; \
	fi

clean:
	$(CARGO) clean
	rm -rf runner/target bin dist policy.wasm annotated-policy.wasm
