# Two commands do all set-up on a fresh machine:
#   make demo   prepare the real example songs, train briefly on the CPU, write a continuum
#   make test   run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch 2.13.0 is installed first so pip takes the CPU build instead of pulling a CUDA one.
TORCH ?= torch==2.13.0

.PHONY: venv demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m gaia_audio demo --out demo

test: venv
	$(PY) -m pytest -q tests

bench: venv
	$(PY) benchmarks/inversion.py

clean:
	rm -rf $(VENV) demo runs data
