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

# The main job on real recordings: fetch and segment the Sound Analysis Pro zebra finch songs,
# train the small GAIA on the CPU (recipes/zebra_finch.yaml, ~10 min), then write a 16-step
# continuum between two real syllables with its manifest, provenance and continuum.png.
DEMO_A ?= data/zebra_finch/units/samba_003.wav
DEMO_B ?= data/zebra_finch/units/flashcam_003.wav
demo: venv
	$(PY) datasets/zebra_finch/prepare.py --out data/zebra_finch
	rm -rf demo/run
	$(PY) -m gaia_audio train recipes/zebra_finch.yaml --run-dir demo/run
	$(PY) -m gaia_audio morph $(DEMO_A) $(DEMO_B) --steps 16 --model demo/run --out demo/continuum --overwrite

test: venv
	$(PY) -m pytest -q tests

bench: venv
	$(PY) benchmarks/inversion.py

clean:
	rm -rf $(VENV) demo runs data
