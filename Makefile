# Two commands set everything up on a fresh machine:
#   make run    virtualenv + install + the demo workshop on ./demo.db
#   make test   virtualenv + test tools + ruff, mypy --strict and every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
DEMO_DB ?= demo.db
# The demo listens on every interface so phones on the LAN can join;
# HOST=127.0.0.1 make run keeps it on this machine.
HOST ?= 0.0.0.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck unit browser bench soak clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "pairwise-ws needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[test,bench]'
	@touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[bench]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/pairwise-ws --db $(DEMO_DB) demo --host $(HOST)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# The page tests drive Debian's headless Chromium through its chromedriver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "installing chromium and chromium-driver for the page tests (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

unit: $(VENV)/.installed-test browser
	$(BIN)/pytest

test: lint typecheck unit

# The benchmark (benchmarks/README.md): load generators in their own processes
# on loopback; prints the table and writes docs/performance.md. About 10
# minutes; BENCH_ARGS=--quick for a one-minute smoke run.
bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks --write docs/performance.md $(BENCH_ARGS)

# The long reliability runs (docs/reliability.md); make test runs a short
# version of each. 15-25 minutes.
soak: $(VENV)/.installed-test
	$(BIN)/python -m soak.fuzz --frames 100000
	$(BIN)/python -m soak.crash --iterations 20
	$(BIN)/python -m soak.churn --clients 300 --duration 180
	$(BIN)/python -m soak.shutdown --clients 1000 --iterations 3
	PAIRWISE_GARBAGE_HEADS=10000 $(BIN)/pytest -q --timeout=0 tests/test_hostile_net.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
