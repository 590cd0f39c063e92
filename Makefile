# Two commands matter: `make demo` (sign a sample image end to end on this machine)
# and `make test` (the whole suite: ruff, mypy --strict, pytest). Both install
# what is missing first; see README.md.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup test lint typecheck pytest interop fuzz demo stop bench bench-quick checkov clean

setup: $(VENV)/.installed node_modules/.installed /usr/bin/docker-registry

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# Debian's registry (distribution 2.8) is the real OCI registry the tests run against.
/usr/bin/docker-registry:
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq docker-registry apache2-utils >/dev/null

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest -q

test: setup lint typecheck pytest checkov

# The interoperability tier alone (tests/interop, part of `pytest` too): signatures checked by
# the real notation v1.3.2 on olareg v0.1.2 and docker-registry. Here a missing tool fails.
interop: setup
	$(PY) -m tests.servers.reference_tools
	SIGNER_REQUIRE_REFERENCE_TOOLS=1 $(VENV)/bin/pytest -q tests/interop

# Random exploration, not part of CI: the property tests with random seeds and
# FUZZ_FACTOR (default 20) times the examples; failures are kept in .hypothesis/.
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest -q $(FUZZ_TESTS)

FUZZ_TESTS = $(shell grep -rl --include='test_*.py' '^from hypothesis' tests)

demo: setup
	$(PY) -m scripts.demo

stop:
	$(PY) -m scripts.demo --stop

# Every remote behind a delay proxy (RTT_MS, default 5), the real notation in the same run.
RTT_MS ?= 5
bench: setup
	$(PY) -m bench.run --rtt-ms $(RTT_MS)

bench-quick: setup
	$(PY) -m bench.run --quick --rtt-ms $(RTT_MS)

checkov:
	bash infra/checks/run_checkov.sh

clean:
	rm -rf $(VENV) node_modules .dev .mypy_cache .ruff_cache .pytest_cache
