# embcompat: every target creates .venv (pinned, from pyproject.toml) if it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.embcompat-installed
SCALE  ?= demo
# The offline data mirror beside the repository, unless the caller points elsewhere.
export EMBCOMPAT_MIRROR ?= $(wildcard ../shared/data)
# Spinning OpenMP threads slow torch down 4-5x whenever another process holds a core.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup reproduce test notebooks lab bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name embcompat --display-name "Python (embcompat)"
	@touch $(STAMP)

setup: $(STAMP)

## Execute every notebook in order with papermill at $(SCALE) scale -> outputs/
reproduce: setup
	$(BIN)/python -m embcompat.runner --scale $(SCALE)

## Unit tests + papermill smoke runs + nbval over every notebook at smoke scale
test: setup
	EMBCOMPAT_SCALE=smoke $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-kernel-name embcompat -p no:cacheprovider

## Regenerate notebooks/NN_*.ipynb from their hand-edited jupytext sources notebooks/NN_*.py
notebooks: setup
	$(BIN)/python notebooks/sync.py

lab: setup
	$(BIN)/jupyter lab notebooks

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf outputs/cache outputs/executed .pytest_cache
