# Two commands for a new machine: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install services bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,airflow]'
	touch $(STAMP)

install: $(STAMP)

services:
	bash .ci/services

demo: $(STAMP)
	@bash .ci/services
	$(VENV)/bin/hub demo

test: $(STAMP)
	@bash .ci/services
	@bash .ci/system-packages
	$(PY) -m pytest -p no:cacheprovider

bench: $(STAMP)
	@bash .ci/services
	$(PY) bench/bus.py
	$(PY) bench/mapping.py
	$(PY) bench/mdm_chinese.py
	$(PY) bench/mdm_febrl.py
	$(PY) bench/mdm_scale.py --records 100000
	$(PY) bench/iot.py --seconds 60

clean:
	rm -rf $(VENV) var build *.egg-info
