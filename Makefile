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
# train the small GAIA on the CPU (built-in recipe zebra_finch: recipes/zebra_finch.yaml, ~10 min),
# then write a 16-step continuum between two real syllables with its manifest, provenance and continuum.png.
DEMO_A ?= data/zebra_finch/units/samba_003.wav
DEMO_B ?= data/zebra_finch/units/flashcam_003.wav
demo: venv
	$(PY) -m gaia_audio prepare zebra_finch --out data/zebra_finch
	rm -rf demo/run
	$(PY) -m gaia_audio train zebra_finch --run-dir demo/run
	$(PY) -m gaia_audio morph $(DEMO_A) $(DEMO_B) --steps 16 --model demo/run --out demo/continuum --overwrite

# The layout holds from here on: ruff (style, import order, complexity <= 15), the import contract
# (imports run one way along the data flow, pyproject.toml [tool.importlinter]), then the tests,
# the built wheel's among them (tests/test_wheel.py).
test: venv
	$(VENV)/bin/ruff check gaia_audio tests benchmarks
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q tests

bench: venv
	$(PY) benchmarks/inversion.py

clean:
	rm -rf $(VENV) demo runs data
