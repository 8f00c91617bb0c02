# The front door: `make demo` runs the simulated world, `make test` runs every test.
# Both create .venv and install the project into it on first use (needs only python3).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian run 'apt-get install python3-venv'"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tcu sim --demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check runtime tcu modem can_bus tools sim ovms_v2 tests
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m tools.bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
