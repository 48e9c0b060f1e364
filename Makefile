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

.PHONY: run test lint typecheck unit browser conformance bench soak clean

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

# The Autobahn testsuite (soak/autobahn.py) runs on Python 2.7 only: its own
# virtualenv, pinned (tests/autobahn/requirements-py27.txt). Python 2.7 is
# pyenv's (`pyenv install 2.7.18`) or PYTHON27=/path/to/python2.7.
VENV_AUTOBAHN ?= .venv-autobahn
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
PYTHON27 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/2.7*/bin/python2.7) \
	$(shell command -v python2.7 2>/dev/null))
PIP27 := $(VENV_AUTOBAHN)/bin/python -m pip install --quiet --disable-pip-version-check

$(VENV_AUTOBAHN)/.installed: tests/autobahn/requirements-py27.txt
	@"$(PYTHON27)" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' 2>/dev/null \
		|| { echo "the Autobahn testsuite needs Python 2.7: none found (pyenv install 2.7.18, or PYTHON27=...)"; exit 1; }
	rm -rf $(VENV_AUTOBAHN)
	"$(PYTHON27)" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
		--target $(VENV_AUTOBAHN)/.bootstrap virtualenv==16.7.12
	"$(PYTHON27)" $(VENV_AUTOBAHN)/.bootstrap/virtualenv.py --quiet --no-download $(VENV_AUTOBAHN)
	$(PIP27) --no-deps -r tests/autobahn/requirements-py27.txt
	$(VENV_AUTOBAHN)/bin/python -m pip check --disable-pip-version-check
	@touch $@

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

# RFC 6455 conformance: the Autobahn testsuite against the daemon's own server
# side (docs/reliability.md). About 25 s, plus a minute to build its
# Python 2.7 virtualenv the first time.
conformance: $(VENV)/.installed-test $(VENV_AUTOBAHN)/.installed
	$(BIN)/python -m soak.autobahn

test: lint typecheck unit conformance

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
	rm -rf $(VENV) $(VENV_AUTOBAHN) .mypy_cache .ruff_cache .pytest_cache *.egg-info
