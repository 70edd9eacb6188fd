# journeygate: the two commands a new machine needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The journey and signals processors' cores and the frame codec compiled with mypyc (setup.py,
# docs/performance.md); COMPILE=0 runs them as pure Python. Rebuilt when a source changes.
COMPILE ?= 1
NATIVE := $(VENV)/.native-$(COMPILE)
NATIVE_SOURCES := $(shell sed -n 's/^ *"\([a-z_]*\/[a-z_/]*\.py\)",$$/\1/p' setup.py)

.PHONY: demo test lint typecheck check clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 'setuptools>=77' wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Compiling type-checks the modules with their imports: it runs in the venv, with the
# dependencies and mypy installed (no build isolation).
$(NATIVE): $(STAMP) setup.py $(NATIVE_SOURCES)
	rm -rf build $(VENV)/.native-* journeygate_*__mypyc*.so
	find processors schemas -name '*.so' -delete
	JOURNEYGATE_COMPILE=$(COMPILE) $(PY) -m pip install --quiet --no-build-isolation --no-deps -e .
	touch $(NATIVE)

demo: $(NATIVE)
	$(VENV)/bin/journeygate demo $(DEMO_ARGS)

test: $(NATIVE)
	bash deploy/test-packages.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info build
	rm -f journeygate_*__mypyc*.so
	find processors schemas -name '*.so' -delete
