# Two commands set everything up on a machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out/sample

.PHONY: demo test bench lint clean browser

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(BIN)/activate
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/matcher solve data/sample -o $(OUT)
	@echo "Outputs are in $(OUT)/"

lint: $(VENV)/.installed
	$(BIN)/python -m flake8 matcher tests benchmarks

test: lint browser
	$(BIN)/python -m pytest

# Debian's Chromium for the report's browser test (no browser download); done once per machine.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "warning: could not install Debian's chromium; the report's browser test will be skipped"

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks scale --sizes city,state
	$(BIN)/python -m benchmarks gap --quick

clean:
	rm -rf $(VENV) out build *.egg-info
