# Two entry points for a fresh clone that has only python3 and pip:
#   make run   — install everything, then train a default agent (PPO on CartPole-v1 until solved)
#   make test  — install everything, then run the test suite (it builds the docs with --strict too)
#   make docs  — build the documentation site into site/ (mkdocs build --strict)
#   make bench — also install the benchmark's comparison libraries (SB3, sb3-contrib, Box2D)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
TORCH_VERSION ?= 2.13.0

.PHONY: install run test lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch is installed first, pinned: a bare `pip install torch` would pull several GB of CUDA wheels.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/pip install --quiet -e ".[dev,ray,mujoco,box2d,atari,minigrid,tune,wandb,mlflow,export,docs]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/advantage train

# two processes, one a core; a test file stays in one process (its module-scoped Ray instance with it)
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# the documentation site (site/); the CLI, config and algorithm pages are generated from the code
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# torch pinned again so that pip never swaps the CPU build for another while resolving the extra
bench: install
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)" -e ".[bench]"

lint: install
	$(BIN)/ruff check advantage tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache site
