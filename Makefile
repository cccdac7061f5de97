# The one entry point for people, hooks and CI. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
RUST_SRC := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml
PY_META := pyproject.toml

.PHONY: help install build browser sshd demo test test-rust test-python lint format bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(VENV)

# uv installs the dev extra's ~90 packages several times faster than pip
# (maturin hands it the install with --uv).
$(VENV)/.deps: $(PY_META) | $(PY)
	$(BIN)/pip install --quiet --disable-pip-version-check 'maturin>=1.5,<2' 'uv>=0.5'
	touch $@

$(VENV)/.built: $(RUST_SRC) $(PY_META) $(VENV)/.deps
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(BIN)):$$PATH $(BIN)/maturin develop --uv --release --extras dev --quiet
	touch $@

install: $(VENV)/.built ## Create .venv with trails (Rust core in release mode) and the dev tools

build: install ## Rebuild the Rust extension if its sources changed

demo: install ## Run the example project end to end
	PATH=$(abspath $(BIN)):$$PATH bash examples/demo.sh

test-rust: ## Rust unit and property tests
	cargo test --quiet -p trails-core

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser: ## Debian's chromium for the headless browser test of plots (installed if missing)
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium (apt) for the browser test"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

sshd: ## Debian's OpenSSH server for the ssh:// remote tests (installed if missing; the tests start their own)
	@test -x /usr/sbin/sshd || { echo "installing openssh-server (apt) for the ssh remote tests"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; }

# pytest-xdist: 3 workers on these 2 cores halve the suite's wall time (the
# tests wait on subprocesses and servers more than they compute); a file's
# tests stay on one worker (--dist loadfile: one Ray cluster, one reference
# tool's venv). TEST_WORKERS=0 runs them in this process, one at a time.
TEST_WORKERS ?= 3

test-python: install browser sshd ## Python tests (facade, CLI functional tests, a headless chromium, an sshd)
	@# Bytecode for the editable sources, once: with PYTHONDONTWRITEBYTECODE set
	@# (as on these machines) every trails process would compile them again.
	$(PY) -m compileall -q python/trails >/dev/null
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

test: install test-rust test-python ## All tests (Rust, then Python)

lint: install ## ruff, mypy (with stubtest of trails._core), cargo fmt, clippy
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest trails._core
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

format: install ## Apply ruff and cargo formatting
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches
	cargo fmt --all

bench: install ## Benchmarks against b3sum, hashlib.md5, blake3-py, git, cp and DVC 3.67.1, tasks against pytask; writes benches/RESULTS*.md
	$(PY) benches/bench.py --write benches/RESULTS.md
	$(PY) benches/bench_dvc.py --write benches/RESULTS-dvc.md
	$(PY) benches/bench_checkpoints.py --write benches/RESULTS-checkpoints.md
	$(PY) benches/bench_queue.py --write benches/RESULTS-queue.md
	$(PY) benches/bench_remote.py --write benches/RESULTS-remote.md
	$(PY) benches/bench_scale.py --write benches/RESULTS-scale.md
	$(PY) benches/bench_plots.py --write benches/RESULTS-plots.md
	$(PY) benches/bench_tasks.py --write benches/RESULTS-tasks.md
	$(PY) benches/bench_show.py --write benches/RESULTS-show.md
	$(PY) benches/bench_fsmonitor.py --write benches/RESULTS-fsmonitor.md
	$(PY) benches/bench_ray.py --write benches/RESULTS-ray.md

clean: ## Remove the virtualenv and build products
	rm -rf $(VENV) target
