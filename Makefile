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
	$(VENV)/bin/tcu sim --demo --html demo-report.html

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check runtime tcu modem can_bus tools sim ovms_v2 mqtt311 tests
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m tools.bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# A flashable Raspberry Pi SD-card image (Pi 3/4, Zero 2 W), docs/pi-image.md. Needs root, mmdebstrap
# and, off arm64, qemu-user binfmt: `sudo pi/build-image.sh --check` says what is missing.
PI_IMAGE ?= build/tcu-sim-pi-arm64.img
.PHONY: pi-image
pi-image: $(STAMP)
	PYTHON=$(abspath $(PY)) OUT=$(abspath $(PI_IMAGE)) pi/build-image.sh
