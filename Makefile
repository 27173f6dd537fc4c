# Two commands for a new machine: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install services bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

services:
	bash .ci/services

demo: $(STAMP)
	@bash .ci/services
	$(VENV)/bin/hub demo

test: $(STAMP)
	@bash .ci/services
	$(PY) -m pytest -p no:cacheprovider

bench: $(STAMP)
	$(PY) bench/bus.py

clean:
	rm -rf $(VENV) var build *.egg-info
