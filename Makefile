# Two commands do all set-up on a fresh machine:
#   make demo   a 16-step continuum between two real zebra finch syllables by the shipped birdsong model
#   make test   run the test suite (make test-fast: without the slow end-to-end tests, while you work)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch 2.13.0 is installed first so pip takes the CPU build instead of pulling a CUDA one.
TORCH ?= torch==2.13.0

.PHONY: venv demo train-demo test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

# The main job on real recordings, with the model that ships in the package (gaia_audio/pretrained/birdsong):
# two zebra finch syllables it never trained on, 16 evenly spaced steps, ends tuned to the recordings.
# Open demo/continuum/index.html to listen.
DEMO_A ?= gaia_audio/pretrained/birdsong/examples/samba_003.wav
DEMO_B ?= gaia_audio/pretrained/birdsong/examples/flashcam_001.wav
demo: venv
	$(PY) -m gaia_audio morph $(DEMO_A) $(DEMO_B) --steps 16 --out demo/continuum --overwrite

# Training from scratch on the CPU: fetch and cut the Sound Analysis Pro songs, train the small GAIA
# (built-in recipe zebra_finch, 800 steps, ~20 minutes on 2 cores), morph the same pair with it.
train-demo: venv
	$(PY) -m gaia_audio prepare zebra_finch --out data/zebra_finch
	rm -rf demo/run
	$(PY) -m gaia_audio train zebra_finch --run-dir demo/run
	$(PY) -m gaia_audio morph $(DEMO_A) $(DEMO_B) --steps 16 --model demo/run --out demo/continuum_trained --overwrite

# The layout holds from here on: ruff (style, import order, complexity <= 15), the import contract
# (imports run one way along the data flow, pyproject.toml [tool.importlinter]), then the tests,
# the built wheel's among them (tests/test_wheel.py).
test: venv
	$(VENV)/bin/ruff check gaia_audio tests benchmarks
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q tests

# The tests a developer runs while working: all but the slow end-to-end and multi-process ones.
test-fast: venv
	$(VENV)/bin/ruff check gaia_audio tests benchmarks
	$(PY) -m pytest -q -m "not slow" tests

bench: venv
	$(PY) benchmarks/inversion.py

clean:
	rm -rf $(VENV) demo runs data
