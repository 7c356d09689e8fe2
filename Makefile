# finemotor: one entry point for people and CI.
#   make demo   set up and run the simulated kit
#   make test   set up and run the whole test suite (lint, types, host, firmware under MicroPython)
#   make bench  run the benchmarks and print their figures

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STUBS  := .stubs/esp32
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest bench clean

setup: $(STAMP) $(STUBS)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# MicroPython's ESP32 stubs shadow CPython's stdlib names, so they live apart from the venv.
$(STUBS)/.installed:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(STUBS) 'micropython-esp32-stubs==1.29.0.post1'
	touch $@

demo: setup
	$(BIN)/finemotor demo

test: setup lint typecheck pytest

lint: setup
	$(BIN)/ruff check host tests bench tools
	$(BIN)/ruff format --check host tests bench tools

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .stubs .mypy_cache .pytest_cache .ruff_cache
