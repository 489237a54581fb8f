# Two entry points on a fresh machine: `make test` and `make demo`.
# The CPU build of torch is installed first (an unpinned torch would pull a CUDA build);
# a torch that is already importable (system-wide, or in the venv) is kept.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
TORCH_CPU ?= torch==2.13.0
DEMO_OUT ?= out/demo

.PHONY: test demo lint clean install conformance

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH_CPU)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check gscodec tests bench conformance
	$(BIN)/python -m pytest -q -m "not cuda" tests

lint: $(STAMP)
	$(BIN)/ruff check gscodec tests bench conformance

demo: $(STAMP)
	$(BIN)/python -m gscodec.demo --out $(DEMO_OUT)

conformance: $(STAMP)
	$(BIN)/python -m conformance

clean:
	rm -rf $(VENV) out build *.egg-info
