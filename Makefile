# finemotor: one entry point for people and CI.
#   make demo   set up and run the simulated kit
#   make test   set up and run the whole test suite (lint, types, host, firmware under MicroPython)
#   make test-fast  the same without the real-time end-to-end tests (marked slow)
#   make bench  run the benchmarks and print their figures
#   make docs   build the API reference from the docstrings into build/api (fails on warnings
#               and broken references)
#   make screenshots  renew the pages' screenshots in docs/img (from the browser tests)
#   make lock   renew requirements.lock (versions and hashes of every dependency)
#   make wheel  build the wheel (firmware and the view's assets inside) into dist/
#   make fuzz   feed every decoder of what a kit sends 1,000,000 inputs (several minutes)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STUBS  := .stubs/esp32
STAMP  := $(VENV)/.installed
# uPlot for the therapist view: from npm at setup time, never committed (docs/therapist-view.md).
UPLOT_VERSION := 1.6.32
UPLOT  := host/finemotor/relay/static/vendor

.PHONY: screenshots lock wheel setup demo test test-fast lint typecheck pytest pytest-fast bench docs fuzz clean

setup: $(STAMP) $(STUBS)/.installed $(UPLOT)/.uplot-$(UPLOT_VERSION)

# Every dependency at the version and hash in requirements.lock (make lock renews it), then
# finemotor itself from this checkout.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

lock:
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --allow-unsafe --generate-hashes --no-emit-index-url \
		--no-emit-find-links --extra dev --extra sim --strip-extras \
		--output-file requirements.lock pyproject.toml

$(UPLOT)/.uplot-$(UPLOT_VERSION):
	rm -rf $(UPLOT) && mkdir -p $(UPLOT)/.npm
	cd $(UPLOT)/.npm && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && \
		tar xzf uplot-$(UPLOT_VERSION).tgz package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE
	mv $(UPLOT)/.npm/package/dist/* $(UPLOT)/.npm/package/LICENSE $(UPLOT)/ && rm -rf $(UPLOT)/.npm
	touch $@

# MicroPython's ESP32 stubs shadow CPython's stdlib names, so they live apart from the venv.
$(STUBS)/.installed:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(STUBS) 'micropython-esp32-stubs==1.29.0.post1'
	touch $@

demo: setup
	$(BIN)/finemotor demo

screenshots: setup
	FINEMOTOR_DOC_SCREENSHOTS=1 FINEMOTOR_SCREENSHOTS=docs/img/desk $(BIN)/pytest -q tests/browser

wheel: setup
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .

test: setup lint typecheck pytest

test-fast: setup lint typecheck pytest-fast

lint: setup
	$(BIN)/ruff check host tests bench tools examples
	$(BIN)/ruff format --check host tests bench tools examples

typecheck: setup
	$(BIN)/mypy

# Three workers on two cores: most tests wait on simulated kits streaming in real time.
PYTEST_WORKERS ?= 3

pytest: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS)

pytest-fast: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not slow"

bench: setup
	$(BIN)/python -m bench

docs: setup
	$(BIN)/python tools/api_docs.py build/api

fuzz: setup
	FINEMOTOR_FUZZ_EXAMPLES=5000 FINEMOTOR_FUZZ_MUTANTS=200 $(BIN)/pytest -q tests/host/test_fuzz.py

clean:
	rm -rf $(VENV) .stubs $(UPLOT) .mypy_cache .pytest_cache .ruff_cache build/api
